"""Celery tasks of event triggers: thin, they take ids and call the modules that decide.

Recommended beat schedule (the project's settings own it):
- `triggers.dispatch_pending_events` every 5 seconds: the outbox sweep;
- `triggers.sweep_time_events` every 15 minutes: time-based events (once per occasion, so
  running it often only makes them timelier).
"""

import time

from celery import shared_task

from .. import dispatch, time_events

# How long one `dispatch_events` message may keep its worker before the events it has not
# reached go back to the broker, split in two, for other workers: a burst that shared one
# message must not wait behind one worker.
BATCH_SECONDS = 0.25


@shared_task(name="triggers.dispatch_events", acks_late=True, ignore_result=True)
def dispatch_events_task(event_ids):
    """Sent by the outbox's doorbell after commit, one message for the events committed
    meanwhile in that process; dispatching twice starts nothing new."""
    rest = dispatch.dispatch_events(event_ids, deadline=time.monotonic() + BATCH_SECONDS)
    if rest:
        half = (len(rest) + 1) // 2
        for part in (rest[:half], rest[half:]):
            if part:
                dispatch_events_task.delay(part)


@shared_task(name="triggers.dispatch_event", acks_late=True, ignore_result=True)
def dispatch_event_task(event_id):
    """One event (what the outbox sent before `dispatch_events`; kept for messages still
    queued from then)."""
    dispatch.dispatch_event(event_id)


@shared_task(name="triggers.dispatch_pending_events", ignore_result=True)
def dispatch_pending_events_task():
    return dispatch.dispatch_pending()


@shared_task(name="triggers.sweep_time_events", ignore_result=True)
def sweep_time_events_task():
    return time_events.sweep()
