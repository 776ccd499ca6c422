"""Trying a definition that is not saved: the builder's "test this before I save it".

The definition becomes the workflow's current version inside a transaction, the caller
runs and reads what it needs, and the transaction is rolled back: no version, no
execution, no step run stays behind. Nothing left the database either, since the run is a
test-mode run (actions are simulated) and callbacks registered for after commit (live log
messages, worker wake-ups) are dropped with the rollback.
"""

from contextlib import contextmanager

from django.db import transaction

from workflows.models import Workflow


@contextmanager
def unsaved_definition(workflow, definition, *, user=None):
    """Yields a fresh instance of `workflow` whose current version is `definition`.

    The instance given stays as it was. Raises DefinitionInvalid before anything is
    written when the definition is invalid.
    """
    with transaction.atomic():
        candidate = Workflow.objects.get(pk=workflow.pk)
        candidate.save_definition(definition, user=user)
        try:
            yield candidate
        finally:
            transaction.set_rollback(True)
