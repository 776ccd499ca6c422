"""Schedule triggers: the beat alarm follows the workflow's state, and each instant fires once."""

import json
import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django_celery_beat.models import ClockedSchedule, PeriodicTask, PeriodicTasks

from tests.support.definitions import chain, definition, probe
from triggers import schedules
from triggers.models import WorkflowSchedule
from triggers.tasks.schedules import fire_due_schedules, fire_schedule
from workflows.models import Execution

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)  # a Friday, two days before Berlin's change
BERLIN_9 = {"cron": "0 9 * * *"}
# Saturday 09:00 in Berlin (CET, +01:00), then Sunday 09:00 (CEST, +02:00).
SAT_9 = datetime(2026, 3, 28, 8, 0, tzinfo=UTC)
SUN_9 = datetime(2026, 3, 29, 7, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _probes(probe_actions):
    return probe_actions


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def scheduled(config, *, timezone="Europe/Berlin", step="a"):
    return definition(
        [probe(step)],
        chain(step),
        trigger={"type": "schedule", "config": config},
        timezone=timezone,
    )


def alarms(workflow):
    return PeriodicTask.objects.filter(name=f"workflow:{workflow.public_id}")


def alarm(workflow):
    return alarms(workflow).get()


def fire(workflow, instant):
    """What beat sends at the instant (Celery runs it in place in tests)."""
    return fire_schedule.delay(workflow_id=workflow.pk, scheduled_at=instant.isoformat()).get()


def runs(workflow):
    return list(Execution.objects.filter(workflow=workflow).order_by("id"))


# -- the alarm follows the workflow's state ---------------------------------------------------


def test_activating_sets_one_enabled_alarm_at_the_next_instant(make_workflow, clock):
    workflow = make_workflow(scheduled(BERLIN_9), status="active")

    task = alarm(workflow)
    assert (task.enabled, task.one_off, task.task) == (True, True, "triggers.fire_schedule")
    assert task.clocked.clocked_time == SAT_9
    assert json.loads(task.kwargs) == {
        "workflow_id": workflow.pk,
        "scheduled_at": "2026-03-28T08:00:00+00:00",
    }
    assert "at 09:00 (Europe/Berlin)" in task.description
    assert "Next run: Sat 2026-03-28 09:00 CET" in task.description
    assert WorkflowSchedule.objects.get(workflow=workflow).next_fire_at == SAT_9
    assert PeriodicTask.objects.filter(task="triggers.fire_schedule").count() == 1


def test_a_draft_has_no_alarm(make_workflow, clock):
    workflow = make_workflow(scheduled(BERLIN_9))
    assert not alarms(workflow).exists()
    assert not WorkflowSchedule.objects.filter(workflow=workflow).exists()


def test_pausing_disables_the_alarm_and_activating_again_sets_one(make_workflow, clock):
    workflow = make_workflow(scheduled(BERLIN_9), status="active")

    workflow.change_status("paused")
    task = alarm(workflow)
    assert not task.enabled
    assert "No run is scheduled" in task.description
    assert WorkflowSchedule.objects.get(workflow=workflow).next_fire_at is None

    clock.move_to(SAT_9 + timedelta(hours=1))
    workflow.change_status("active")
    task = alarm(workflow)
    assert task.enabled
    assert task.clocked.clocked_time == SUN_9
    assert ClockedSchedule.objects.count() == 1  # the old alarm's clock went with it


def test_archiving_disables_the_alarm(make_workflow, clock):
    workflow = make_workflow(scheduled(BERLIN_9), status="active")
    workflow.change_status("archived")
    assert not alarm(workflow).enabled
    assert WorkflowSchedule.objects.get(workflow=workflow).next_fire_at is None


def test_editing_the_schedule_of_an_active_workflow_moves_the_alarm(make_workflow, clock):
    workflow = make_workflow(scheduled(BERLIN_9), status="active")

    workflow.save_definition(scheduled({"cron": "30 7 * * *"}))

    task = alarm(workflow)
    assert task.enabled
    assert task.clocked.clocked_time == datetime(2026, 3, 28, 6, 30, tzinfo=UTC)
    assert json.loads(task.kwargs)["scheduled_at"] == "2026-03-28T06:30:00+00:00"
    assert ClockedSchedule.objects.count() == 1


def test_a_new_schedule_form_or_time_zone_replaces_the_old_one(make_workflow, clock):
    workflow = make_workflow(scheduled(BERLIN_9), status="active")

    mondays = {"weekly": {"days": ["mon"], "at": "09:00"}}
    workflow.save_definition(scheduled(mondays, timezone="America/New_York"))

    task = alarm(workflow)
    assert task.clocked.clocked_time == datetime(2026, 3, 30, 13, 0, tzinfo=UTC)  # 09:00 EDT
    assert "every Monday at 09:00 (America/New_York)" in task.description
    schedule = WorkflowSchedule.objects.get(workflow=workflow)
    assert schedule.spec == mondays
    assert schedule.timezone == "America/New_York"


def test_switching_to_a_manual_trigger_removes_the_schedule(make_workflow, clock):
    workflow = make_workflow(scheduled(BERLIN_9), status="active")

    workflow.save_definition(definition([probe("a")], chain("a")))

    assert not alarms(workflow).exists()
    assert not ClockedSchedule.objects.exists()
    assert not WorkflowSchedule.objects.filter(workflow=workflow).exists()


def test_removing_a_workflow_without_a_schedule_costs_one_query(
    make_workflow, django_assert_num_queries
):
    workflow = make_workflow(definition([probe("a")], chain("a")), status="active")
    with django_assert_num_queries(1):
        schedules.uninstall(workflow)


def test_deleting_a_workflow_deletes_its_alarm(make_workflow, clock):
    workflow = make_workflow(scheduled(BERLIN_9), status="active")
    workflow.delete()
    assert not PeriodicTask.objects.filter(task="triggers.fire_schedule").exists()
    assert not ClockedSchedule.objects.exists()


def test_a_once_in_the_past_is_installed_with_no_next_run(make_workflow, clock):
    workflow = make_workflow(scheduled({"once": {"at": "2026-03-01T09:00:00"}}), status="active")
    assert WorkflowSchedule.objects.get(workflow=workflow).next_fire_at is None
    assert not alarms(workflow).filter(enabled=True).exists()


# -- firing -------------------------------------------------------------------------------------


def test_firing_starts_one_execution_and_sets_the_next_alarm(make_workflow, clock):
    workflow = make_workflow(scheduled(BERLIN_9), status="active")
    clock.move_to(SAT_9 + timedelta(seconds=2))

    fire(workflow, SAT_9)

    [execution] = runs(workflow)
    assert execution.trigger_type == "schedule"
    assert execution.trigger_data == {
        "scheduled_at": "2026-03-28T09:00:00+01:00",
        "fired_at": "2026-03-28T09:00:02+01:00",
    }
    assert execution.trigger_key == "schedule:2026-03-28T08:00:00+00:00"
    schedule = WorkflowSchedule.objects.get(workflow=workflow)
    assert (schedule.last_fired_at, schedule.next_fire_at) == (SAT_9, SUN_9)
    task = alarm(workflow)  # still exactly one
    assert task.enabled
    assert task.clocked.clocked_time == SUN_9  # 09:00 again, now summer time
    assert json.loads(task.kwargs)["scheduled_at"] == "2026-03-29T07:00:00+00:00"
    assert "Next run: Sun 2026-03-29 09:00 CEST" in task.description
    assert ClockedSchedule.objects.count() == 1


def test_a_duplicate_message_starts_nothing(make_workflow, clock):
    workflow = make_workflow(scheduled(BERLIN_9), status="active")
    clock.move_to(SAT_9)
    fire(workflow, SAT_9)
    task_id = alarm(workflow).pk

    assert fire(workflow, SAT_9) is None

    assert len(runs(workflow)) == 1
    assert alarm(workflow).pk == task_id
    assert WorkflowSchedule.objects.get(workflow=workflow).next_fire_at == SUN_9


def test_a_message_for_an_instant_that_is_no_longer_due_starts_nothing(make_workflow, clock):
    workflow = make_workflow(scheduled(BERLIN_9), status="active")
    workflow.save_definition(scheduled({"cron": "0 10 * * *"}))  # 09:00 is no longer the plan
    clock.move_to(SAT_9)

    assert fire(workflow, SAT_9) is None

    assert runs(workflow) == []
    assert alarm(workflow).clocked.clocked_time == SAT_9 + timedelta(hours=1)


def test_a_paused_workflow_does_not_fire(make_workflow, clock):
    workflow = make_workflow(scheduled(BERLIN_9), status="active")
    workflow.change_status("paused")
    clock.move_to(SAT_9)

    assert fire(workflow, SAT_9) is None
    assert runs(workflow) == []


def test_a_once_schedule_fires_once_and_stays_installed(make_workflow, clock):
    at = datetime(2026, 3, 28, 16, 0, tzinfo=UTC)
    once = {"once": {"at": "2026-03-28T17:00:00+01:00"}}
    workflow = make_workflow(scheduled(once), status="active")
    clock.move_to(at)

    fire(workflow, at)
    fire(workflow, at)

    assert len(runs(workflow)) == 1
    schedule = WorkflowSchedule.objects.get(workflow=workflow)
    assert (schedule.last_fired_at, schedule.next_fire_at) == (at, None)
    task = alarm(workflow)
    assert not task.enabled
    assert "No run is scheduled" in task.description
    assert fire_due_schedules.delay().get() == 0


def test_a_daily_schedule_fires_at_nine_local_across_the_spring_change(make_workflow, clock):
    clock.move_to(datetime(2026, 3, 6, 16, 0, tzinfo=UTC))  # Friday 11:00 in New York
    daily = scheduled({"daily": {"at": "09:00"}}, timezone="America/New_York")
    workflow = make_workflow(daily, status="active")

    for _ in range(3):
        instant = WorkflowSchedule.objects.get(workflow=workflow).next_fire_at
        clock.move_to(instant)
        fire(workflow, instant)

    assert [run.trigger_data["scheduled_at"] for run in runs(workflow)] == [
        "2026-03-07T09:00:00-05:00",
        "2026-03-08T09:00:00-04:00",
        "2026-03-09T09:00:00-04:00",
    ]


def test_an_interval_keeps_its_rhythm_across_an_edit_and_restarts_when_changed(
    make_workflow, clock
):
    every_4_hours = {"interval": {"every": 4, "unit": "hours"}}
    workflow = make_workflow(scheduled(every_4_hours), status="active")
    first = START + timedelta(hours=4)
    assert WorkflowSchedule.objects.get(workflow=workflow).next_fire_at == first
    clock.move_to(first + timedelta(seconds=1))
    fire(workflow, first)

    clock.move_to(first + timedelta(hours=1))
    workflow.save_definition(scheduled(every_4_hours, step="renamed"))  # same schedule
    assert alarm(workflow).clocked.clocked_time == first + timedelta(hours=4)

    workflow.save_definition(scheduled({"interval": {"every": 1, "unit": "hours"}}))
    assert alarm(workflow).clocked.clocked_time == first + timedelta(hours=2)


# -- the safety net -------------------------------------------------------------------------------


def test_fire_due_catches_a_missed_instant_once(make_workflow, clock):
    workflow = make_workflow(scheduled(BERLIN_9), status="active")
    clock.move_to(SAT_9 + timedelta(minutes=5))  # beat's message never came

    assert fire_due_schedules.delay().get() == 1
    assert fire_due_schedules.delay().get() == 0
    assert fire(workflow, SAT_9) is None  # the late beat message, too

    [execution] = runs(workflow)
    assert execution.trigger_data["scheduled_at"] == "2026-03-28T09:00:00+01:00"
    assert execution.trigger_data["fired_at"] == "2026-03-28T09:05:00+01:00"
    assert alarm(workflow).clocked.clocked_time == SUN_9


def test_fire_due_leaves_the_on_time_message_its_chance(make_workflow, clock):
    workflow = make_workflow(scheduled(BERLIN_9), status="active")
    clock.move_to(SAT_9 + timedelta(seconds=3))
    assert fire_due_schedules.delay().get() == 0
    assert runs(workflow) == []


def test_after_an_outage_missed_instants_run_once_and_the_schedule_continues(make_workflow, clock):
    workflow = make_workflow(scheduled(BERLIN_9), status="active")
    outage_end = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)  # Sat, Sun, Mon and Tue were missed
    clock.move_to(outage_end)

    assert fire_due_schedules.delay().get() == 1
    assert fire_due_schedules.delay().get() == 0

    assert len(runs(workflow)) == 1
    assert alarm(workflow).clocked.clocked_time == datetime(2026, 4, 1, 7, 0, tzinfo=UTC)


def test_fire_due_ignores_paused_workflows(make_workflow, clock):
    workflow = make_workflow(scheduled(BERLIN_9), status="active")
    workflow.change_status("paused")
    clock.move_to(SAT_9 + timedelta(minutes=5))
    assert fire_due_schedules.delay().get() == 0


@pytest.mark.django_db(transaction=True)
def test_simultaneous_firings_of_one_instant_start_one_execution(make_workflow, clock):
    workflow = make_workflow(scheduled(BERLIN_9), status="active")
    clock.move_to(SAT_9 + timedelta(minutes=1))
    ready = threading.Barrier(4)
    errors = []

    def race(attempt):
        try:
            ready.wait()
            attempt()
        except Exception as exc:  # a thread's failure must fail the test
            errors.append(exc)
        finally:
            connection.close()

    attempts = [
        lambda: schedules.fire(workflow.pk, SAT_9.isoformat()),
        lambda: schedules.fire(workflow.pk, SAT_9.isoformat()),
        lambda: schedules.fire_due(grace_seconds=0),
        lambda: schedules.fire_due(grace_seconds=0),
    ]
    threads = [threading.Thread(target=race, args=(attempt,)) for attempt in attempts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len(runs(workflow)) == 1
    assert alarm(workflow).clocked.clocked_time == SUN_9


# -- with django-celery-beat's own scheduler ------------------------------------------------------


@pytest.fixture
def start_beat(monkeypatch):
    """start_beat() -> tick(): django-celery-beat's DatabaseScheduler, started now and
    ticking in this test's transaction."""
    from django_celery_beat import schedulers

    from automation.celery import app

    # Its connection hygiene would close the test's transaction; the project's own periodic
    # entries are not what these tests are about.
    monkeypatch.setattr(schedulers, "close_old_connections", lambda: None)
    started = []

    def start():
        configured, app.conf.beat_schedule = app.conf.beat_schedule, {}
        try:
            scheduler = schedulers.DatabaseScheduler(app=app)
        finally:
            app.conf.beat_schedule = configured
        started.append(scheduler)

        def tick(times=3):
            for _ in range(times):
                scheduler.tick()

        return tick

    yield start
    for scheduler in started:
        scheduler._finalize.cancel()  # its exit-time sync would find the test database gone


@pytest.mark.parametrize(
    "minutes",
    [
        2,  # the next alarm is near: the firing wakes beat to re-read its rows
        10,  # far: beat's own 5-minute re-read loads it in time
    ],
)
def test_beat_fires_each_instant_of_the_alarm_it_is_given(
    make_workflow, clock, start_beat, minutes
):
    every = {"interval": {"every": minutes, "unit": "minutes"}}
    workflow = make_workflow(scheduled(every), status="active")
    first, second = (START + timedelta(minutes=minutes * n) for n in (1, 2))
    beat = start_beat()
    beat()

    clock.move_to(first - timedelta(seconds=1))
    beat()
    assert runs(workflow) == []

    clock.move_to(first)
    beat()
    assert len(runs(workflow)) == 1

    # Beat writes its run count back after sending a one-off; a re-armed row would be
    # disabled by it here, and the second instant would never fire.
    clock.move_to(second - timedelta(seconds=30))
    beat()
    assert len(runs(workflow)) == 1
    clock.move_to(second)
    beat()
    assert [run.trigger_data["scheduled_at"] for run in runs(workflow)] == [
        instant.astimezone(ZoneInfo("Europe/Berlin")).isoformat() for instant in (first, second)
    ]
    assert alarm(workflow).enabled


@pytest.mark.parametrize(
    ("config", "wakes_beat"),
    [
        (BERLIN_9, False),  # tomorrow's 09:00 is loaded by beat's periodic re-read
        ({"interval": {"every": 2, "unit": "minutes"}}, True),
    ],
)
def test_a_firing_wakes_beat_only_for_a_near_next_instant(make_workflow, clock, config, wakes_beat):
    workflow = make_workflow(scheduled(config), status="active")
    instant = WorkflowSchedule.objects.get(workflow=workflow).next_fire_at
    before = PeriodicTasks.last_change()
    clock.move_to(instant)

    fire(workflow, instant)

    assert (PeriodicTasks.last_change() != before) is wakes_beat


# -- words for people -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"cron": "0 9 * * 1", "timezone": "America/New_York"},
         "at 09:00, only on Monday (America/New_York)"),
        ({"cron": "0 9 * * *"}, "at 09:00 (Europe/Berlin)"),
        ({"cron": "0 H * * *"}, "cron '0 H * * *' (Europe/Berlin)"),
        ({"interval": {"every": 1, "unit": "hours"}}, "every hour"),
        ({"interval": {"every": 15, "unit": "minutes"}}, "every 15 minutes"),
        ({"daily": {"at": "09:00"}}, "every day at 09:00 (Europe/Berlin)"),
        ({"weekly": {"days": ["thu", "mon"], "at": "09:00"}, "timezone": "America/New_York"},
         "every Monday and Thursday at 09:00 (America/New_York)"),
        ({"weekly": {"days": ["fri", "mon", "wed"], "at": "17:30"}},
         "every Monday, Wednesday and Friday at 17:30 (Europe/Berlin)"),
        ({"monthly": {"day": 31, "at": "08:30"}},
         "on day 31 of every month (the last day in shorter months) at 08:30 (Europe/Berlin)"),
        ({"monthly": {"day": 1, "at": "08:30"}},
         "on day 1 of every month at 08:30 (Europe/Berlin)"),
        ({"once": {"at": "2026-12-24T17:00:00Z"}}, "once, on 2026-12-24 at 18:00 (Europe/Berlin)"),
        ({"once": {"at": "2026-12-24T17:00"}}, "once, on 2026-12-24 at 17:00 (Europe/Berlin)"),
    ],
)  # fmt: skip
def test_describe_schedule(config, expected):
    assert schedules.describe_schedule(config, "Europe/Berlin") == expected


def test_describe_schedule_defaults_to_the_project_time_zone(settings):
    settings.TIME_ZONE = "Asia/Tokyo"
    assert (
        schedules.describe_schedule({"daily": {"at": "07:00"}}) == "every day at 07:00 (Asia/Tokyo)"
    )
