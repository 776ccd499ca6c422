"""Creating and changing a workflow from an API body, with its requested status.

A body is a definition in the seed's shape and may carry a `status`. The definition is
saved first (a new version when it changed), then the status is reached through the
state machine's transitions, in one transaction: a body whose status cannot be reached
(an invalid definition cannot become active; a draft cannot be paused) changes nothing.
"""

from django.db import transaction
from django_fsm import TransitionNotAllowed

from workflows.transfer import ImportRefused, import_definition
from workflows.validation import validate_or_raise


def create_workflow(definition, *, user=None):
    """A new workflow; a body whose `id` is taken is refused (ImportRefused)."""
    with transaction.atomic():
        workflow, created = import_definition(definition, user=user, apply_status=False)
        if not created:
            # import_definition updated the existing workflow: leaving the block by this
            # exception rolls that back.
            raise ImportRefused(f"a workflow with id '{workflow.public_id}' already exists")
        change_status(workflow, definition.get("status"))
    return workflow


def update_workflow(workflow, body, *, user=None, partial=False):
    """PUT (the whole definition) or PATCH (top-level keys merged into the current one).

    `id` and `version` in a body are ignored: the URL names the workflow and the server
    numbers versions.
    """
    if not isinstance(body, dict):
        validate_or_raise(body)  # raises, with the validator's own wording
    definition = {**workflow.definition, **body} if partial else body
    with transaction.atomic():
        workflow.save_definition(definition, user=user)
        change_status(workflow, definition.get("status"))
    return workflow


def change_status(workflow, target, *, reason=""):
    """Move the workflow to `target` (nothing to do when it is there or None)."""
    if not target or target == workflow.status:
        return
    before = workflow.status
    try:
        workflow.change_status(target, reason=reason)
    except TransitionNotAllowed:
        raise TransitionNotAllowed(
            f"workflow {workflow.public_id} is {before} and cannot become {target}"
        ) from None
