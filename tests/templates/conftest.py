"""Running the starter templates for real: demo data at a frozen moment, a template made into
an active workflow, and its trigger driven the way production drives it (a business write
whose events dispatch after commit, the beat alarm's task at its instant, the clock moving
on for delays)."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.core.management import call_command

from triggers.models import WorkflowSchedule
from triggers.tasks.schedules import fire_schedule
from workflows import starters
from workflows.models import Execution
from workflows.services import resume_due

# A Monday morning, before the 09:00 schedules of the invoice reminder and the weekly report.
START = datetime(2026, 11, 23, 7, 30, tzinfo=UTC)


@pytest.fixture
def clock(db):
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def demo(clock):
    """The demo data set, as of START."""
    call_command("seed_demo", "--quiet")


@pytest.fixture
def activate(db):
    """activate(key, **instantiate_kwargs) -> the template as an active workflow."""

    def make(key, **kwargs):
        workflow = starters.instantiate(key, **kwargs)
        workflow.change_status("active")
        return workflow

    return make


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """`with committed():` runs what waits for the commit (event dispatch, worker wake-ups)
    when the block ends, as a real commit would; Celery runs the tasks in place."""

    def block():
        return django_capture_on_commit_callbacks(execute=True)

    return block


@pytest.fixture
def fire(clock, committed):
    """fire(workflow) -> the execution its schedule starts: the clock moves to the alarm's
    instant and the task beat would send then runs."""

    def run(workflow):
        instant = WorkflowSchedule.objects.get(workflow=workflow).next_fire_at
        clock.move_to(instant)
        with committed():
            public_id = fire_schedule.delay(
                workflow_id=workflow.pk, scheduled_at=instant.isoformat()
            ).get()
        return Execution.objects.get(public_id=public_id)

    return run


@pytest.fixture
def resume(clock, committed):
    """resume(moment) -> how many waiting runs the clock moving to `moment` resumed."""

    def run(moment):
        clock.move_to(moment)
        with committed():
            return resume_due()

    return run


@pytest.fixture
def runs():
    """runs(workflow) -> its executions, oldest first."""

    def listing(workflow):
        return list(Execution.objects.filter(workflow=workflow).order_by("created_at", "pk"))

    return listing
