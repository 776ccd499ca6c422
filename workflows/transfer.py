"""Import and export of workflow definitions (the JSON files people keep and share)."""

from django.db import IntegrityError, transaction
from django_fsm import TransitionNotAllowed

from .models import Workflow
from .validation import DefinitionInvalid, validate_or_raise


class ImportRefused(Exception):
    """A definition cannot be imported as asked (e.g. a status the workflow cannot reach)."""


def import_definition(definition, *, user=None, apply_status=True):
    """Create or update the workflow a definition describes.

    The file's `id` names the workflow: an existing one gets a new version when its
    definition changed; otherwise a workflow with that id (or a new id) is created. The
    file's `status` goes through the state machine. Returns (workflow, created).
    """
    validate_or_raise(definition)
    public_id = definition.get("id")
    with transaction.atomic():
        workflow = Workflow.objects.filter(public_id=public_id).first() if public_id else None
        created = workflow is None
        if created:
            workflow = Workflow(name=definition["name"], owner=user)
            if public_id:
                workflow.public_id = public_id
            try:
                with transaction.atomic():
                    workflow.save()
            except IntegrityError:
                raise ImportRefused(f"a workflow with id '{public_id}' already exists") from None
        workflow.save_definition(definition, user=user)
        status = definition.get("status")
        if apply_status and status and status != workflow.status:
            try:
                workflow.change_status(status)
            except (TransitionNotAllowed, DefinitionInvalid) as exc:
                raise ImportRefused(
                    f"cannot make workflow {workflow.public_id} {status} "
                    f"(it is {workflow.status}): {exc}"
                ) from None
    return workflow, created


def export_definition(workflow):
    return workflow.definition
