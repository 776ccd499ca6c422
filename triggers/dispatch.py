"""Dispatching an event: which workflows it starts, each exactly once.

Matching happens here, after commit, not in the business write: the write only adds the
event row, so its cost does not grow with the number of workflows. The active workflows
listening for the event come from one indexed query (`Workflow.objects.listening_for`);
then each trigger's optional `filter` (the condition grammar) is tested on the payload.

Exactly once: the event row is locked while it is dispatched and marked in the same
transaction as the executions it starts, and each execution's `trigger_key` is the event
id, which the database keeps unique per workflow. Dispatching twice, or concurrently,
starts nothing new. Events left undispatched by a crash are found by `dispatch_pending`.
The outbox sends events in batches (`dispatch_events`): each event is still dispatched in
its own transaction, and one that fails does not hold up the others.

Loop protection, the rate half (the depth half is in `workflows.services.start_execution`):
a workflow that already fired WORKFLOW_RECORD_FIRE_LIMIT times on the same record within
WORKFLOW_RECORD_FIRE_WINDOW_SECONDS is paused, with the reason on the workflow, instead of
firing again.
"""

import datetime
import logging
import time

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from workflows.conditions import evaluate
from workflows.models import Execution, Workflow
from workflows.services import ExecutionRefused, start_execution

from .models import Event

logger = logging.getLogger(__name__)

PENDING_GRACE_SECONDS = 5
PENDING_BATCH = 200


def dispatch_event(event_id):
    """Start the executions an event triggers; returns them (empty if already dispatched)."""
    with transaction.atomic():
        event = Event.objects.select_for_update().filter(pk=event_id).first()
        if event is None or event.dispatched_at is not None:
            return []
        subject = f"{event.record_type}:{event.record_id}"
        started = []
        listening = Workflow.objects.listening_for(event.name).select_related("current_version")
        for workflow in listening.order_by("pk"):
            if not trigger_matches(workflow, event.payload):
                continue
            if fires_too_often(workflow, subject):
                pause_for_loop(workflow, subject, event)
                continue
            try:
                execution = start_execution(
                    workflow,
                    trigger_data=event.payload,
                    trigger_type="event",
                    caused_by=event.caused_by,
                    trigger_key=event.public_id,
                    subject=subject,
                )
            except ExecutionRefused as exc:
                logger.warning("event %s: %s", event.public_id, exc)
                continue
            started.append(execution)
        event.dispatched_at = timezone.now()
        event.save(update_fields=["dispatched_at"])
    return started


def dispatch_events(event_ids, *, deadline=None):
    """Dispatch several events, in order, each in its own transaction (one that fails is
    logged and left to the sweep; the others go on). With a `deadline` (a
    `time.monotonic()` value) it stops once that has passed and returns the ids it did not
    get to, so that the caller can hand them to other workers; otherwise returns []."""
    event_ids = list(event_ids)
    for index, event_id in enumerate(event_ids):
        if deadline is not None and index and time.monotonic() >= deadline:
            return event_ids[index:]
        try:
            dispatch_event(event_id)
        except Exception:
            logger.exception("dispatching event %s failed; the sweep will try again", event_id)
    return []


def trigger_matches(workflow, payload):
    """Whether the trigger's optional filter holds for the payload. A filter that cannot
    be evaluated is a non-match (logged): a broken filter must not fire on everything."""
    condition = workflow.trigger.get("filter")
    if not condition:
        return True
    try:
        return evaluate(condition, payload, tz=workflow.timezone or None)
    except Exception:
        logger.warning(
            "the event filter of workflow %s failed; treated as no match",
            workflow.public_id,
            exc_info=True,
        )
        return False


def fires_too_often(workflow, subject):
    """Whether the workflow has already fired its limit of times on this record lately
    (an indexed count: exec_subject_time)."""
    window = datetime.timedelta(seconds=settings.WORKFLOW_RECORD_FIRE_WINDOW_SECONDS)
    recent = Execution.objects.filter(
        workflow=workflow, subject=subject, created_at__gte=timezone.now() - window
    )
    return recent.exclude(subject="").count() >= settings.WORKFLOW_RECORD_FIRE_LIMIT


def pause_for_loop(workflow, subject, event):
    locked = Workflow.objects.select_for_update().get(pk=workflow.pk)
    if locked.status != Workflow.Status.ACTIVE:
        return
    reason = (
        f"Paused by loop protection: fired {settings.WORKFLOW_RECORD_FIRE_LIMIT} times on "
        f"{subject} within {settings.WORKFLOW_RECORD_FIRE_WINDOW_SECONDS} seconds; event "
        f"{event.name} ({event.public_id}) did not start it. Check what changes the record "
        "again, then activate the workflow."
    )
    locked.change_status(Workflow.Status.PAUSED, reason=reason)
    logger.warning("workflow %s: %s", workflow.public_id, reason)


def dispatch_pending(*, now=None, grace_seconds=PENDING_GRACE_SECONDS, limit=PENDING_BATCH):
    """The outbox sweep: dispatch events that were written but never dispatched (the
    process died after commit, or the write came from a process without a worker), oldest
    first, at most `limit`. Events younger than the grace period are left to their own
    after-commit dispatch. Returns how many were dispatched."""
    cutoff = (now or timezone.now()) - datetime.timedelta(seconds=grace_seconds)
    pending = (
        Event.objects.undispatched()
        .filter(occurred_at__lte=cutoff)
        .order_by("occurred_at", "pk")
        .values_list("pk", flat=True)
    )
    dispatched = 0
    for event_id in list(pending[:limit]):
        try:
            dispatch_event(event_id)
        except Exception:
            # One bad event must not stop the others; it stays undispatched and is retried.
            logger.exception("dispatching event %s failed", event_id)
            continue
        dispatched += 1
    return dispatched
