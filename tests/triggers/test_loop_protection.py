"""Loop protection, the rate half: a workflow that fires too often on one record within the
window is paused with a visible reason, and starts nothing more."""

from datetime import UTC, datetime

import pytest
import time_machine

from crm.models import Lead
from workflows.models import Workflow

MORNING = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
LIMIT, WINDOW = 3, 60


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.WORKFLOW_RECORD_FIRE_LIMIT = LIMIT
    settings.WORKFLOW_RECORD_FIRE_WINDOW_SECONDS = WINDOW


@pytest.fixture
def on_lead_updated(make_workflow):
    definition = {
        "trigger": {"type": "event", "event": "lead.updated"},
        "nodes": [{"id": "done", "type": "end"}],
        "edges": [{"from": "trigger", "to": "done"}],
    }
    return make_workflow(definition, status="active", name="score watcher")


@pytest.fixture
def clock():
    with time_machine.travel(MORNING, tick=False) as traveller:
        yield traveller


@pytest.fixture
def rescore(django_capture_on_commit_callbacks):
    """rescore(lead): one committed change of the lead (one lead.updated event)."""

    def change(lead):
        with django_capture_on_commit_callbacks(execute=True):
            lead.score += 1
            lead.save()

    return change


@pytest.mark.parametrize(
    ("changes", "seconds_apart", "runs", "status"),
    [
        # (changes of one lead, seconds between them, runs started, workflow status after)
        (LIMIT, 1, LIMIT, "active"),  # up to the limit: fine
        (LIMIT + 1, 1, LIMIT, "paused"),  # one more within the window: paused instead
        (LIMIT + 3, 1, LIMIT, "paused"),  # and nothing starts after that
        (LIMIT + 3, WINDOW // LIMIT + 1, LIMIT + 3, "active"),  # spread out: never too often
    ],
)
def test_firing_too_often_on_one_record_pauses_the_workflow(
    db, clock, on_lead_updated, rescore, changes, seconds_apart, runs, status
):
    lead = Lead.objects.create(name="Ada")

    for _ in range(changes):
        rescore(lead)
        clock.shift(seconds_apart)

    on_lead_updated.refresh_from_db()
    assert on_lead_updated.executions.count() == runs
    assert on_lead_updated.status == status


def test_the_pause_says_why(db, clock, on_lead_updated, rescore):
    lead = Lead.objects.create(name="Ada")

    for _ in range(LIMIT + 1):
        rescore(lead)

    on_lead_updated.refresh_from_db()
    assert on_lead_updated.status == Workflow.Status.PAUSED
    reason = on_lead_updated.status_reason
    assert "loop protection" in reason
    assert f"lead:{lead.pk}" in reason
    assert f"{LIMIT} times" in reason
    assert f"{WINDOW} seconds" in reason


def test_firing_on_many_records_is_not_a_loop(db, clock, on_lead_updated, rescore):
    leads = [Lead.objects.create(name=f"Lead {n}") for n in range(LIMIT + 1)]

    for _ in range(LIMIT):
        for lead in leads:
            rescore(lead)

    on_lead_updated.refresh_from_db()
    assert on_lead_updated.status == Workflow.Status.ACTIVE
    assert on_lead_updated.executions.count() == LIMIT * len(leads)


def test_one_workflow_paused_leaves_the_others_running(
    db, clock, make_workflow, on_lead_updated, rescore
):
    quiet = make_workflow(
        {
            "trigger": {
                "type": "event",
                "event": "lead.updated",
                "filter": {"field": "lead.score", "operator": "greater_than", "value": LIMIT},
            },
            "nodes": [{"id": "done", "type": "end"}],
            "edges": [{"from": "trigger", "to": "done"}],
        },
        status="active",
        name="high scores only",
    )
    lead = Lead.objects.create(name="Ada", score=0)

    for _ in range(LIMIT + 2):
        rescore(lead)

    on_lead_updated.refresh_from_db()
    quiet.refresh_from_db()
    assert on_lead_updated.status == Workflow.Status.PAUSED
    assert quiet.status == Workflow.Status.ACTIVE
    assert quiet.executions.count() == 2  # scores 4 and 5
