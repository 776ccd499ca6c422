"""Starting, recovering and handing over executions."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from tests.support.definitions import chain, definition, probe
from workflows.engine import Runner
from workflows.models import Execution
from workflows.services import recover, start_execution

pytestmark = pytest.mark.django_db

TWO_STEPS = definition([probe("a"), probe("b")], chain("a", "b"))


@pytest.fixture(autouse=True)
def _probes(probe_actions):
    return probe_actions


def test_a_trigger_key_starts_one_execution_per_workflow(make_workflow):
    workflow = make_workflow(TWO_STEPS)
    first = start_execution(workflow, trigger_type="event", trigger_key="evt_1")
    again = start_execution(workflow, trigger_type="event", trigger_key="evt_1")
    assert again.pk == first.pk
    assert Execution.objects.count() == 1


def test_a_chain_deeper_than_the_limit_is_stopped(make_workflow, settings):
    settings.WORKFLOW_MAX_CHAIN_DEPTH = 3
    workflow = make_workflow(TWO_STEPS)
    cause, runs = None, []
    for _ in range(4):
        cause = start_execution(workflow, caused_by=cause, inline=True)
        runs.append(cause)
    assert [r.status for r in runs] == ["completed", "completed", "completed", "failed"]
    assert [r.depth for r in runs] == [0, 1, 2, 3]
    stopped = runs[-1]
    assert stopped.error["type"] == "loop_protection"
    assert "deeper than 3" in stopped.error["message"]
    assert runs[0].public_id in stopped.error["message"]
    assert not stopped.steps.exists()


def test_a_live_lease_keeps_other_workers_out(make_workflow, probe_actions):
    workflow = make_workflow(TWO_STEPS)
    execution = start_execution(workflow)
    Execution.objects.filter(pk=execution.pk).update(
        status="running",
        lease_owner="dead:1:1",
        lease_expires_at=datetime.now(UTC) + timedelta(seconds=30),
    )
    execution.refresh_from_db()
    assert Runner(execution).run().status == "running"
    assert probe_actions.calls == []  # not claimed while the lease lives
    assert Runner(execution, take_over=True).run().status == "completed"


def test_recover_wakes_expired_leases_and_lost_pending_runs(make_workflow, probe_actions):
    workflow = make_workflow(TWO_STEPS)
    start = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        dead = start_execution(workflow)
        Execution.objects.filter(pk=dead.pk).update(
            status="running", lease_owner="dead:1:1", lease_expires_at=start + timedelta(seconds=30)
        )
        lost = start_execution(workflow)  # its message never reached a worker
        fresh_lease = start_execution(workflow)
    with time_machine.travel(start + timedelta(seconds=31), tick=False):
        Execution.objects.filter(pk=fresh_lease.pk).update(
            status="running",
            lease_owner="alive:1:1",
            lease_expires_at=start + timedelta(seconds=90),
        )
        assert recover(pending_grace_seconds=30) == 2  # eager: woken runs run here
    statuses = dict(Execution.objects.values_list("pk", "status"))
    assert statuses[dead.pk] == "completed"
    assert statuses[lost.pk] == "completed"
    assert statuses[fresh_lease.pk] == "running"


def test_a_deadline_hands_the_rest_of_the_run_to_a_worker(make_workflow, probe_actions):
    workflow = make_workflow(TWO_STEPS)
    execution = start_execution(workflow)
    # A deadline already passed: the runner stops before the first step and hands over.
    result = Runner(Execution.objects.get(pk=execution.pk)).run(deadline=0)
    assert result.status == "running"
    # The lease is given up at once, so the woken worker can claim the run right away.
    stored = Execution.objects.get(pk=execution.pk)
    assert stored.lease_expires_at <= datetime.now(UTC)
    assert probe_actions.calls == []
