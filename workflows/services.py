"""Use cases on executions: start, run, resume, retry, cancel.

The admin, the API, the CLI and the Celery tasks all call these, so each rule (an archived
workflow does not run, a retried execution resumes at its failed step) lives in one place.
"""

from django.db import transaction
from django.utils import timezone

from .engine import run_execution
from .engine.runner import to_json_data
from .models import Execution, Workflow


class ExecutionRefused(Exception):
    """An execution cannot be started, retried or cancelled; the message says why."""


def start_execution(
    workflow,
    *,
    trigger_data=None,
    trigger_type="manual",
    test=False,
    caused_by=None,
    inline=False,
):
    """Create a pending execution of the workflow's current version and dispatch it.

    With `inline=True` the run happens here and now (the CLI, tests, test mode); otherwise a
    worker picks it up once the transaction that created it has committed.
    """
    if trigger_type == "manual" and not workflow.can_execute_manually:
        raise ExecutionRefused(f"workflow {workflow.public_id} is archived and cannot run")
    if workflow.current_version is None:
        raise ExecutionRefused(f"workflow {workflow.public_id} has no definition yet")
    if trigger_data is not None and not isinstance(trigger_data, dict):
        raise ExecutionRefused("input data must be a JSON object")
    execution = Execution.objects.create(
        workflow=workflow,
        version=workflow.current_version,
        trigger_type=trigger_type,
        trigger_data=to_json_data(trigger_data or {}),
        mode=Execution.Mode.TEST if test else Execution.Mode.LIVE,
        caused_by=caused_by,
        depth=(caused_by.depth + 1) if caused_by else 0,
    )
    if inline:
        return run_execution(execution)
    dispatch(execution)
    return execution


def dispatch(execution):
    """Wake a worker for this execution after the current transaction commits."""
    from .tasks import run_execution_task

    transaction.on_commit(lambda: run_execution_task.delay(execution.pk))


def run(execution_id):
    """Advance an execution by its database id (what a worker does)."""
    execution = Execution.objects.select_related("workflow", "version").get(pk=execution_id)
    return run_execution(execution)


def resume_due(now=None, *, inline=True):
    """Resume waiting executions whose time has come; returns how many were resumed."""
    due = list(
        Execution.objects.due(now or timezone.now())
        .select_related("workflow", "version")
        .order_by("resume_at")
    )
    for execution in due:
        if inline:
            run_execution(execution)
        else:
            dispatch(execution)
    return len(due)


def retry_execution(execution, *, inline=False):
    """Retry a failed execution from its failed step, with the data it had then."""
    if execution.status != Execution.Status.FAILED:
        raise ExecutionRefused(
            f"only a failed execution can be retried; {execution.public_id} is {execution.status}"
        )
    with transaction.atomic():
        execution.retry()
        for token in (execution.state or {}).get("tokens", []):
            # The failed step gets a fresh set of attempts, numbered after the old ones.
            token["attempt_base"] = token.get("attempt", 1)
            token["attempt"] = token.get("attempt", 1) + 1
            token.pop("ready_at", None)
        execution.save(update_fields=["status", "error", "completed_at", "state"])
    if inline:
        return run_execution(execution)
    dispatch(execution)
    return execution


def cancel_execution(execution, reason="cancelled by a user"):
    if execution.status in Execution.FINISHED:
        raise ExecutionRefused(
            f"{execution.public_id} has already finished ({execution.status}); nothing to cancel"
        )
    with transaction.atomic():
        locked = Execution.objects.select_for_update().get(pk=execution.pk)
        if locked.status in Execution.FINISHED:
            raise ExecutionRefused(f"{execution.public_id} finished meanwhile ({locked.status})")
        locked.cancel(reason)
        locked.save(update_fields=["status", "completed_at", "resume_at", "error"])
    execution.refresh_from_db()
    return execution


def find_workflow(identifier):
    """A workflow by public id (wf_...) or database id."""
    query = Workflow.objects.filter(public_id=identifier)
    if str(identifier).isdigit():
        query = Workflow.objects.filter(pk=int(identifier)) | query
    workflow = query.first()
    if workflow is None:
        raise Workflow.DoesNotExist(f"no workflow '{identifier}'")
    return workflow
