"""Celery tasks of schedule triggers: thin wrappers that take ids and call `triggers.schedules`.

`fire_schedule` is what each workflow's beat alarm sends at its instant; `fire_due_schedules`
is the periodic safety net for instants whose message never came. Both are safe to run twice
or late: `WorkflowSchedule.next_fire_at` and the `schedule:<instant>` trigger key make every
instant start exactly one execution.
"""

from celery import shared_task

from .. import schedules


@shared_task(name="triggers.fire_schedule", acks_late=True, ignore_result=True)
def fire_schedule(workflow_id, scheduled_at):
    execution = schedules.fire(workflow_id, scheduled_at)
    return execution.public_id if execution else None


@shared_task(name="triggers.fire_due_schedules", ignore_result=True)
def fire_due_schedules():
    return schedules.fire_due()
