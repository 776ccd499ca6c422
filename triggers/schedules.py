"""Schedule triggers: each active scheduled workflow keeps one beat alarm for its next instant.

Installing a schedule computes its next instant (`schedule_times`, zoneinfo in the schedule's
time zone), stores it on the workflow's `WorkflowSchedule` and sets one django-celery-beat
`PeriodicTask` (`workflow:<public_id>`, a one-off on a `ClockedSchedule` at that UTC instant)
that sends `triggers.fire_schedule`. Firing starts the run and sets the alarm for the
following instant, in the same transaction. Beat never does calendar arithmetic: its crontab
misfires around daylight-saving changes (django-celery-beat #134, #194, #604).

`WorkflowSchedule.next_fire_at` is the truth; the beat row is only the alarm clock (and what
the beat admin shows). A message for any other instant is stale and ignored, and the trigger
key `schedule:<instant>` starts at most one execution per instant, so a duplicate or late
message, a retry after a crash, or the `fire_due` sweep never runs an instant twice.

Why every instant gets a fresh PeriodicTask row instead of re-arming the same one: after beat
sends a one-off task it later writes its in-memory `total_run_count` (now 1) back onto the row
by primary key, and on its next reload it disables any enabled one-off row with a count above
zero. Re-armed in place, the row would carry the new instant and be disabled by that
write-back: the next run would be lost. A new row has a new key, so the write-back misses it.
(The alarm keeps its own ClockedSchedule, whose time is moved along.)

Activation, pausing and edits wake beat to re-read its rows; a firing wakes it only when the
next instant is near (see `_near`), because each wake makes beat re-read every enabled row.
"""

import datetime as dt
import json
import logging

from cron_descriptor import ExpressionDescriptor, FormatException, Options
from django.db import transaction
from django.db.models.signals import post_delete
from django.utils import timezone
from django_celery_beat.models import ClockedSchedule, PeriodicTask
from django_celery_beat.schedulers import SCHEDULE_SYNC_MAX_INTERVAL

from workflows.models import Workflow
from workflows.services import start_execution
from workflows.trigger_hooks import TriggerInstaller, register_installer

from .models import WorkflowSchedule
from .schedule_times import (
    WEEKDAYS,
    as_zone,
    next_fire_time,
    schedule_kind,
    schedule_timezone,
)

logger = logging.getLogger(__name__)

TASK = "triggers.fire_schedule"
# Beat's own look-ahead, plus room for clocks of beat and workers that disagree a little.
BEAT_LOOKAHEAD = dt.timedelta(seconds=SCHEDULE_SYNC_MAX_INTERVAL + 60)
WEEKDAY_NAMES = dict(
    zip(
        WEEKDAYS,
        ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        strict=True,
    )
)


class ScheduleInstaller(TriggerInstaller):
    """Activation sets the alarm; pausing, archiving and edits take it down (see install)."""

    trigger_type = "schedule"

    def install(self, workflow):
        install(workflow)

    def uninstall(self, workflow):
        uninstall(workflow)


def register():
    register_installer(ScheduleInstaller())
    # A deleted workflow takes its WorkflowSchedule with it (CASCADE); its beat row must go
    # too, or beat keeps an orphan alarm.
    post_delete.connect(_drop_alarm, sender=WorkflowSchedule, dispatch_uid="schedule_alarm")


def install(workflow, *, now=None):
    """Compute the workflow's next instant and set its alarm (replacing any older one)."""
    config = workflow.trigger.get("config") or {}
    tz_name = schedule_timezone(config, workflow.timezone)
    now = now or timezone.now()
    with transaction.atomic(savepoint=False):
        schedule = _locked_schedule(workflow) or WorkflowSchedule(workflow=workflow)
        # An unchanged interval keeps its rhythm across an edit or a pause (counted from the
        # last fire); a new spec starts counting at activation.
        same_spec = schedule.pk is not None and schedule.spec == config
        anchor = schedule.last_fired_at if same_spec else None
        schedule.spec, schedule.timezone = config, tz_name
        schedule.next_fire_at = next_fire_time(config, tz_name, now, anchor=anchor)
        _set_alarm(schedule, workflow)
        schedule.save()
    return schedule


def uninstall(workflow):
    """Take the alarm down. Called for every workflow that is paused, archived or edited, so
    a workflow without a schedule costs one indexed query and nothing more."""
    with transaction.atomic(savepoint=False):
        schedule = _locked_schedule(workflow)
        if schedule is None:
            return
        if workflow.trigger_type != "schedule":
            # The trigger changed to another kind: nothing of the schedule stays behind.
            schedule.delete()
            return
        schedule.next_fire_at = None
        _set_alarm(schedule, workflow)
        schedule.save(update_fields=["next_fire_at"])


# -- firing ---------------------------------------------------------------------------------


def fire(workflow_id, scheduled_at, *, now=None):
    """Fire the workflow's schedule for this instant, if it is still the one due: start one
    execution and set the alarm for the following instant. Returns the execution, or None
    for a stale or duplicate message."""
    instant = parse_instant(scheduled_at)
    with transaction.atomic():
        schedule = (
            WorkflowSchedule.objects.select_for_update(of=("self",))
            .select_related("workflow", "periodic_task__clocked")
            .filter(workflow_id=workflow_id)
            .first()
        )
        if schedule is None:
            return None
        return _fire_locked(schedule, instant, now or timezone.now())


def fire_due(*, now=None, grace_seconds=10, limit=500):
    """Fire every schedule whose instant has passed without its beat message having fired it
    (beat was down, the in-process broker lost the message): each once, thanks to the
    trigger key. `grace_seconds` leaves the on-time message its chance. Returns how many."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=grace_seconds)
    due = list(
        WorkflowSchedule.objects.filter(
            next_fire_at__lte=cutoff, workflow__status=Workflow.Status.ACTIVE
        )
        .order_by("next_fire_at")
        .values_list("pk", flat=True)[:limit]
    )
    fired = 0
    for pk in due:
        try:
            fired += _fire_due_one(pk, cutoff, now)
        except Exception:
            # One broken schedule must not hold back the others; it stays due and visible.
            logger.exception("firing the overdue schedule %s failed", pk)
    return fired


def _fire_due_one(pk, cutoff, now):
    with transaction.atomic():
        schedule = (
            # A schedule being fired elsewhere right now is that firing's business.
            WorkflowSchedule.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("workflow", "periodic_task__clocked")
            .filter(pk=pk, next_fire_at__lte=cutoff)
            .first()
        )
        if schedule is None:
            return 0
        return int(_fire_locked(schedule, schedule.next_fire_at, now) is not None)


def _fire_locked(schedule, instant, now):
    workflow = schedule.workflow
    if schedule.next_fire_at != instant or workflow.status != Workflow.Status.ACTIVE:
        return None
    zone = as_zone(schedule.timezone)
    execution = start_execution(
        workflow,
        trigger_type="schedule",
        trigger_data={
            "scheduled_at": instant.astimezone(zone).isoformat(),
            "fired_at": now.astimezone(zone).isoformat(),
        },
        trigger_key=f"schedule:{instant_key(instant)}",
    )
    schedule.last_fired_at = instant
    # Instants missed while nothing fired (beat down for a day) are not run one by one:
    # this late run stands for them, and the schedule continues from now.
    schedule.next_fire_at = next_fire_time(schedule.spec, zone, max(now, instant), anchor=instant)
    _set_alarm(schedule, workflow, wake_beat=_near(schedule.next_fire_at, now))
    schedule.save()
    return execution


# -- the beat row ---------------------------------------------------------------------------


def _set_alarm(schedule, workflow, *, wake_beat=True):
    """Point beat at `schedule.next_fire_at`: a fresh one-off row (see the module docstring)
    on the alarm's own ClockedSchedule, or, when there is no next instant, the old row
    disabled and kept for the admin. `wake_beat=False` spares beat a full re-read."""
    old = schedule.periodic_task
    quiet = not wake_beat  # django-celery-beat's flag for "do not touch PeriodicTasks"
    if schedule.next_fire_at is None:
        if old is not None:
            # Disabled in place: beat's write-back cannot re-enable a row, so none is needed.
            old.enabled = False
            old.description = describe_task(schedule, workflow)
            old.no_changes = quiet
            old.save()
        return
    clocked = old.clocked if old is not None else None
    if old is not None:
        old.no_changes = quiet
        old.delete()
    if clocked is None:
        clocked = ClockedSchedule.objects.create(clocked_time=schedule.next_fire_at)
    else:
        # An update() sends no signal, and ClockedSchedule's signals always wake beat.
        ClockedSchedule.objects.filter(pk=clocked.pk).update(clocked_time=schedule.next_fire_at)
        clocked.clocked_time = schedule.next_fire_at
    task = PeriodicTask(
        name=task_name(workflow),
        task=TASK,
        clocked=clocked,
        one_off=True,
        enabled=True,
        kwargs=json.dumps(
            {"workflow_id": workflow.pk, "scheduled_at": instant_key(schedule.next_fire_at)}
        ),
        description=describe_task(schedule, workflow),
    )
    task.no_changes = quiet
    task.save()
    schedule.periodic_task = task


def _near(instant, now):
    """Whether beat must re-read its rows now to fire `instant` on time.

    Beat re-reads every enabled row whenever PeriodicTasks says something changed, and by
    itself every SCHEDULE_SYNC_MAX_INTERVAL (5 minutes), each time loading the clocked rows
    due within the next 5 minutes: an alarm further out is loaded by a periodic read in
    time. Waking beat only for near alarms keeps 10,000 daily 09:00 firings from causing
    10,000 full re-reads (and from queueing on the single PeriodicTasks row).
    """
    return instant is not None and instant <= now + BEAT_LOOKAHEAD


def _delete_task(task):
    clocked_id = task.clocked_id
    task.delete()
    # Each alarm has its own ClockedSchedule; one shared by hand with another task stays.
    ClockedSchedule.objects.filter(pk=clocked_id, periodictask__isnull=True).delete()


def _drop_alarm(sender, instance, **kwargs):
    if instance.periodic_task_id is not None:
        task = PeriodicTask.objects.filter(pk=instance.periodic_task_id).first()
        if task is not None:
            _delete_task(task)


def _locked_schedule(workflow):
    if workflow.pk is None:
        return None
    return (
        WorkflowSchedule.objects.select_for_update(of=("self",))
        .select_related("periodic_task__clocked")
        .filter(workflow_id=workflow.pk)
        .first()
    )


def task_name(workflow):
    return f"workflow:{workflow.public_id}"


def instant_key(instant):
    """The canonical text of an instant (UTC, whole seconds kept as given): task kwargs and
    trigger keys use it, so the same instant always reads the same."""
    return instant.astimezone(dt.UTC).isoformat()


def parse_instant(text):
    instant = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    if instant.tzinfo is None:
        raise ValueError(f"scheduled_at '{text}' has no UTC offset")
    return instant.astimezone(dt.UTC)


# -- words for people -----------------------------------------------------------------------


def describe_schedule(config, tz=None):
    """The schedule in words: "every Monday at 09:00 (America/New_York)"."""
    config = config or {}
    kind = schedule_kind(config)
    spec = config[kind]
    tz_name = schedule_timezone(config, tz or "")
    if kind == "interval":
        every, unit = spec["every"], spec["unit"]
        return f"every {unit[:-1]}" if every == 1 else f"every {every} {unit}"
    if kind == "once":
        at = spec["at"]
        moment = dt.datetime.fromisoformat(str(at).replace("Z", "+00:00"))
        if moment.tzinfo is not None:
            moment = moment.astimezone(as_zone(tz_name))
        return f"once, on {moment:%Y-%m-%d} at {moment:%H:%M} ({tz_name})"
    return f"{_describe_calendar(kind, spec)} ({tz_name})"


def _describe_calendar(kind, spec):
    if kind == "cron":
        options = Options()
        options.use_24hour_time_format = True
        try:
            text = ExpressionDescriptor(spec.strip(), options).get_description()
        except FormatException:
            # croniter accepts a little more than the describer knows (hashed "H" fields).
            return f"cron '{spec.strip()}'"
        return text[:1].lower() + text[1:]
    at = spec["at"]
    if kind == "daily":
        return f"every day at {at}"
    if kind == "weekly":
        names = [WEEKDAY_NAMES[day] for day in WEEKDAYS if day in spec["days"]]
        days = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        return f"every {days} at {at}"
    day = spec["day"]
    shorter = " (the last day in shorter months)" if day > 28 else ""
    return f"on day {day} of every month{shorter} at {at}"


def describe_task(schedule, workflow):
    """What the beat admin shows beside the alarm: the schedule and its next run, local."""
    text = f"{workflow.name}: {describe_schedule(schedule.spec, schedule.timezone)}."
    if schedule.next_fire_at is None:
        return f"{text} No run is scheduled."
    local = schedule.next_fire_at.astimezone(as_zone(schedule.timezone))
    return f"{text} Next run: {local:%a %Y-%m-%d %H:%M %Z} ({instant_key(schedule.next_fire_at)})."
