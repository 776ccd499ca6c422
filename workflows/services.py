"""Use cases on executions: start, run, resume, retry, cancel.

The admin, the API, the CLI and the Celery tasks all call these, so each rule (an archived
workflow does not run, a retried execution resumes at its failed step) lives in one place.
"""

import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from .engine import run_execution
from .engine.outcome import error_info
from .engine.runner import claim_on_creation, to_json_data
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
    trigger_key="",
    subject="",
    inline=False,
    run_here=False,
):
    """Create a pending execution of the workflow's current version and dispatch it.

    With `inline=True` the run happens here and now (the CLI, tests, test mode); otherwise a
    worker picks it up once the transaction that created it has committed. `run_here=True`
    is for a caller that runs it in this thread once its transaction commits (a webhook
    answering on completion): the row is created claimed by this thread and no worker is
    woken (if the process dies first, the sweeper wakes one when the lease expires). Both
    create the row already `running`, which saves the claim's write. A `trigger_key`
    ("evt_...", "schedule:<instant>") starts at most one execution per workflow: asked
    again, the first one is returned.
    """
    if trigger_type == "manual" and not workflow.can_execute_manually:
        raise ExecutionRefused(f"workflow {workflow.public_id} is archived and cannot run")
    if workflow.current_version is None:
        raise ExecutionRefused(f"workflow {workflow.public_id} has no definition yet")
    if trigger_data is not None and not isinstance(trigger_data, dict):
        raise ExecutionRefused("input data must be a JSON object")
    depth = (caused_by.depth + 1) if caused_by else 0
    execution = Execution(
        workflow=workflow,
        version=workflow.current_version,
        trigger_type=trigger_type,
        trigger_data=to_json_data(trigger_data or {}),
        mode=Execution.Mode.TEST if test else Execution.Mode.LIVE,
        caused_by=caused_by,
        depth=depth,
        trigger_key=trigger_key,
        subject=subject,
    )
    limit = settings.WORKFLOW_MAX_CHAIN_DEPTH
    if depth >= limit:
        # Recorded, not silently dropped: the run that would have been is visible as failed.
        execution.fail(
            error_info(
                "loop_protection",
                f"workflows triggering workflows went deeper than {limit} "
                f"(this run would be number {depth + 1} of the chain that started with "
                f"{_chain_root(caused_by).public_id}); stopped",
                None,
            )
        )
    if (inline or run_here) and execution.status == Execution.Status.PENDING:
        claim_on_creation(execution)
    if not trigger_key:
        execution.save()
    else:
        try:
            # A savepoint, so that the caller's transaction survives a duplicate key.
            with transaction.atomic():
                execution.save()
        except IntegrityError:
            return Execution.objects.get(workflow=workflow, trigger_key=trigger_key)
    if execution.status == Execution.Status.FAILED:
        return execution  # refused at creation (loop protection)
    if inline:
        return run_execution(execution)
    if not run_here:
        dispatch(execution)
    return execution


def _chain_root(execution):
    seen = 0
    while execution.caused_by_id and seen < 100:
        execution, seen = execution.caused_by, seen + 1
    return execution


def dispatch(execution):
    """Wake a worker for this execution after the current transaction commits."""
    transaction.on_commit(lambda: _wake(execution.pk))


def run(execution_id, *, take_over=False):
    """Advance an execution by its database id (what a worker does)."""
    execution = Execution.objects.select_related("workflow", "version").get(pk=execution_id)
    return run_execution(execution, take_over=take_over)


def recover(now=None, *, pending_grace_seconds=None):
    """Wake the executions nobody is working on: running ones whose worker died (lease
    expired) and pending or retrying ones whose wake-up message was lost. The database is
    the source of truth; the broker only carries wake-ups. Returns how many were woken."""
    now = now or timezone.now()
    if pending_grace_seconds is None:
        pending_grace_seconds = settings.WORKFLOW_PENDING_GRACE_SECONDS
    stale = now - datetime.timedelta(seconds=pending_grace_seconds)
    orphans = Execution.objects.filter(
        Q(status=Execution.Status.RUNNING, lease_expires_at__lte=now)
        | Q(status=Execution.Status.RUNNING, lease_expires_at__isnull=True)
        | Q(status__in=[Execution.Status.PENDING, Execution.Status.RETRYING], created_at__lte=stale)
    ).values_list("pk", flat=True)
    ids = list(orphans[:1000])
    for execution_id in ids:
        _wake(execution_id)
    return len(ids)


def _wake(execution_id):
    from .tasks import run_execution_task

    run_execution_task.delay(execution_id)


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
