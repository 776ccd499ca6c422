"""Celery tasks of event triggers: thin, they take ids and call the modules that decide.

Recommended beat schedule (the project's settings own it):
- `triggers.dispatch_pending_events` every 5 seconds: the outbox sweep;
- `triggers.sweep_time_events` every 15 minutes: time-based events (once per occasion, so
  running it often only makes them timelier).
"""

from celery import shared_task

from .. import dispatch, time_events


@shared_task(name="triggers.dispatch_event", acks_late=True, ignore_result=True)
def dispatch_event_task(event_id):
    """Sent after the event's transaction commits; dispatching twice starts nothing new."""
    dispatch.dispatch_event(event_id)


@shared_task(name="triggers.dispatch_pending_events", ignore_result=True)
def dispatch_pending_events_task():
    return dispatch.dispatch_pending()


@shared_task(name="triggers.sweep_time_events", ignore_result=True)
def sweep_time_events_task():
    return time_events.sweep()
