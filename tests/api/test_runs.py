"""Runs over the API: execute (the seed's), test runs, histories, one run, retry, cancel."""

import datetime

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from tests.support.definitions import chain, definition, probe
from workflows.models import Execution, StepRun, WorkflowVersion
from workflows.services import start_execution

pytestmark = pytest.mark.django_db

EXECUTION_ITEM_KEYS = {
    "id",
    "status",
    "started_at",
    "completed_at",
    "duration_ms",
    "steps_completed",
    "steps_total",
}


@pytest.fixture
def failed_run(make_workflow, probe_actions):
    workflow = make_workflow(definition([probe("a"), probe("b", tag="flaky")], chain("a", "b")))
    probe_actions.failures["flaky"] = 1
    execution = start_execution(workflow, trigger_data={"n": 1}, inline=True)
    assert execution.status == "failed"
    return execution


# -- POST /api/workflows/{id}/execute ---------------------------------------------------------


def test_execute_answers_202_with_the_seed_shape(api, workflow, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            f"/api/workflows/{workflow.public_id}/execute",
            {"input_data": {"customer_id": "cust_001"}},  # the seed's request
            format="json",
        )

    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"execution_id", "status", "started_at"}
    execution = Execution.objects.get(public_id=body["execution_id"])
    # The state when the request was accepted; the worker ran it after commit.
    assert body["status"] == "pending"
    assert parse_datetime(body["started_at"]) == execution.created_at
    assert execution.status == "completed"
    assert execution.trigger_data == {"customer_id": "cust_001"}
    assert (execution.mode, execution.trigger_type) == ("live", "manual")


@pytest.mark.parametrize("status", ["draft", "active", "paused"])
def test_execute_works_for_draft_active_and_paused(api, workflow, status):
    if status != "draft":
        workflow.change_status("active")
    if status == "paused":
        workflow.change_status("paused")

    response = api.post(f"/api/workflows/{workflow.public_id}/execute", format="json")

    assert response.status_code == 202
    assert Execution.objects.get().trigger_data == {}


def test_execute_an_archived_workflow_is_409(api, workflow):
    workflow.change_status("archived")

    response = api.post(f"/api/workflows/{workflow.public_id}/execute", {}, format="json")

    assert response.status_code == 409
    assert response.json() == {
        "detail": f"workflow 'Probe workflow' ({workflow.public_id}) is archived; "
        "restore it before running it"
    }
    assert not Execution.objects.exists()


@pytest.mark.parametrize("input_data", [[1, 2], "text", 3])
def test_execute_input_data_must_be_an_object(api, workflow, input_data):
    response = api.post(
        f"/api/workflows/{workflow.public_id}/execute", {"input_data": input_data}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()) == ["input_data"]


def test_execute_an_unknown_workflow_is_404(api):
    assert api.post("/api/workflows/wf_nope/execute", {}, format="json").status_code == 404


# -- POST /api/workflows/{id}/test ----------------------------------------------------------


def test_test_run_answers_every_simulated_step(api, workflow, probe_actions):
    response = api.post(
        f"/api/workflows/{workflow.public_id}/test", {"input_data": {"x": 1}}, format="json"
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["mode"], body["status"], body["trigger_data"]) == ("test", "completed", {"x": 1})
    assert [(s["node"], s["status"], s["output"]) for s in body["steps"]] == [
        ("a", "succeeded", {"simulated": True, "tag": None}),
        ("b", "succeeded", {"simulated": True, "tag": None}),
    ]
    assert probe_actions.calls == []  # simulated: nothing ran for real
    # A test run is no part of the workflow's record.
    assert api.get("/api/workflows").json()["workflows"][0]["run_count"] == 0


def test_test_run_of_an_unsaved_definition_leaves_nothing(api, workflow):
    unsaved = definition([probe("x"), probe("y"), probe("z")], chain("x", "y", "z"))
    counts = (WorkflowVersion.objects.count(), Execution.objects.count(), StepRun.objects.count())

    response = api.post(
        f"/api/workflows/{workflow.public_id}/test",
        {"input_data": {}, "definition": unsaved},
        format="json",
    )

    assert response.status_code == 200
    assert [step["node"] for step in response.json()["steps"]] == ["x", "y", "z"]
    assert response.json()["version"] == 2
    assert (
        WorkflowVersion.objects.count(),
        Execution.objects.count(),
        StepRun.objects.count(),
    ) == counts
    workflow.refresh_from_db()
    assert workflow.current_version.number == 1


def test_test_run_of_an_invalid_unsaved_definition_is_400(api, workflow):
    response = api.post(
        f"/api/workflows/{workflow.public_id}/test",
        {"definition": {"name": "broken", "trigger": {"type": "manual"}, "nodes": "no"}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"]
    assert not Execution.objects.exists()


def test_test_run_of_an_archived_workflow_is_409(api, workflow):
    workflow.change_status("archived")
    response = api.post(f"/api/workflows/{workflow.public_id}/test", {}, format="json")
    assert response.status_code == 409


# -- GET /api/workflows/{id}/executions ------------------------------------------------------


def test_workflow_executions_have_the_seed_shape(api, workflow):
    done = start_execution(workflow, inline=True)

    response = api.get(f"/api/workflows/{workflow.public_id}/executions")

    assert response.status_code == 200
    assert response.json() == {
        "executions": [
            {
                "id": done.public_id,
                "status": "completed",
                "started_at": done.started_at.isoformat().replace("+00:00", "Z"),
                "completed_at": done.completed_at.isoformat().replace("+00:00", "Z"),
                "duration_ms": done.duration_ms,
                "steps_completed": 2,
                "steps_total": 2,
            }
        ],
        "total": 1,
        "page": 1,
    }


def test_workflow_executions_newest_first_and_only_its_own(api, workflow, make_workflow):
    other = make_workflow(definition([probe("a")], chain("a")), name="Other")
    first = start_execution(workflow)
    start_execution(other)
    second = start_execution(workflow)

    body = api.get(f"/api/workflows/{workflow.public_id}/executions/").json()

    assert [item["id"] for item in body["executions"]] == [second.public_id, first.public_id]
    assert body["total"] == 2
    assert all(set(item) == EXECUTION_ITEM_KEYS for item in body["executions"])


def test_execution_filters(api, workflow, failed_run):
    done = start_execution(workflow, inline=True)
    pending = start_execution(workflow)
    test_run = start_execution(workflow, test=True, inline=True)
    url = f"/api/workflows/{workflow.public_id}/executions"

    def ids(**query):
        response = api.get(url, query)  # encoded: "+00:00" must not become a space
        assert response.status_code == 200, response.json()
        return {item["id"] for item in response.json()["executions"]}

    assert ids(status="completed") == {done.public_id, test_run.public_id}
    assert ids(status="pending") == {pending.public_id}
    assert ids(mode="test") == {test_run.public_id}
    after = (done.started_at - datetime.timedelta(microseconds=1)).isoformat()
    assert ids(started_after=after, mode="live") == {done.public_id}
    assert ids(started_before=done.started_at.isoformat()) == set()
    # The failed run belongs to another workflow.
    assert failed_run.public_id not in ids()


@pytest.mark.parametrize(
    "query", ["status=exploded", "started_after=yesterday", "started_before=2026-13-01", "mode=x"]
)
def test_bad_execution_filters_are_400(api, workflow, query):
    response = api.get(f"/api/workflows/{workflow.public_id}/executions?{query}")
    assert response.status_code == 400
    assert list(response.json()) == [query.split("=")[0]]


# -- GET /api/executions, /api/executions/{id} ----------------------------------------------


def test_all_executions_name_their_workflow_and_filter_by_it(api, workflow, failed_run):
    mine = start_execution(workflow)

    everything = api.get("/api/executions").json()
    only_mine = api.get(f"/api/executions?workflow={workflow.public_id}").json()

    assert everything["total"] == 2
    assert all(set(item) == EXECUTION_ITEM_KEYS | {"workflow"} for item in everything["executions"])
    assert only_mine["executions"] == [
        {
            "id": mine.public_id,
            "workflow": workflow.public_id,
            "status": "pending",
            "started_at": None,
            "completed_at": None,
            "duration_ms": None,
            "steps_completed": 0,
            "steps_total": 0,
        }
    ]
    assert api.get("/api/executions?status=failed").json()["executions"][0]["id"] == (
        failed_run.public_id
    )
    assert api.get("/api/executions?workflow=wf_unknown").json() == {
        "executions": [],
        "total": 0,
        "page": 1,
    }


def test_all_executions_by_date_range(api, workflow):
    old = start_execution(workflow, inline=True)
    Execution.objects.filter(pk=old.pk).update(
        started_at=timezone.now() - datetime.timedelta(days=10)
    )
    recent = start_execution(workflow, inline=True)
    week_ago = (timezone.now() - datetime.timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")

    after = api.get(f"/api/executions?started_after={week_ago}").json()
    before = api.get(f"/api/executions?started_before={week_ago}").json()

    assert [item["id"] for item in after["executions"]] == [recent.public_id]
    assert [item["id"] for item in before["executions"]] == [old.public_id]


def test_one_execution_with_its_steps(api, failed_run):
    response = api.get(f"/api/executions/{failed_run.public_id}")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == failed_run.public_id
    assert body["workflow"] == failed_run.workflow.public_id
    assert (body["status"], body["mode"], body["trigger_data"]) == ("failed", "live", {"n": 1})
    assert body["error"]["node"] == "b"
    assert [(s["node"], s["status"]) for s in body["steps"]] == [
        ("a", "succeeded"),
        ("b", "failed"),
    ]
    assert set(body["steps"][0]) == {
        "node",
        "type",
        "path",
        "attempt",
        "status",
        "input",
        "output",
        "error",
        "started_at",
        "duration_ms",
    }


def test_one_unknown_execution_is_404(api):
    assert api.get("/api/executions/exec_nope").status_code == 404


# -- retry and cancel --------------------------------------------------------------------------


def test_retry_a_failed_run(api, failed_run, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/executions/{failed_run.public_id}/retry")

    assert response.status_code == 202
    assert response.json()["execution_id"] == failed_run.public_id
    assert response.json()["status"] == "retrying"
    failed_run.refresh_from_db()
    assert failed_run.status == "completed"
    assert failed_run.steps.filter(node_id="b", status="succeeded", attempt=2).exists()


def test_retry_a_run_that_did_not_fail_is_409(api, workflow):
    done = start_execution(workflow, inline=True)

    response = api.post(f"/api/executions/{done.public_id}/retry")

    assert response.status_code == 409
    assert response.json() == {
        "detail": f"only a failed execution can be retried; {done.public_id} is completed"
    }


def test_cancel_a_pending_run(api, workflow):
    pending = start_execution(workflow)

    response = api.post(
        f"/api/executions/{pending.public_id}/cancel", {"reason": "wrong input"}, format="json"
    )

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "cancelled"
    assert body["error"] == {"type": "cancelled", "message": "wrong input", "node": None}
    assert Execution.objects.get(pk=pending.pk).status == "cancelled"


def test_cancel_a_finished_run_is_409(api, failed_run):
    response = api.post(f"/api/executions/{failed_run.public_id}/cancel")
    assert response.status_code == 409
    assert "already finished (failed)" in response.json()["detail"]
