import pytest

from tests.support.definitions import chain, definition


@pytest.fixture
def execution(make_workflow):
    """A pending manual execution of a one-node workflow: a row for step records and
    variables to belong to."""
    from workflows.models import Execution

    workflow = make_workflow(definition([{"id": "done", "type": "end"}], chain("done")))
    return Execution.objects.create(
        workflow=workflow, version=workflow.current_version, trigger_type="manual"
    )
