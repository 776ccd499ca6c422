"""Workflows over the API: the seed's list and create, one workflow, edits, transitions,
delete (archive) and validation."""

import re

import pytest
from django.utils import timezone

from tests.support.definitions import chain, definition, probe
from workflows.models import Execution, Workflow

pytestmark = pytest.mark.django_db

# The seed's "POST /api/workflows" request, with real nodes where it writes [...].
SEED_CREATE = {
    "name": "New Customer Welcome",
    "trigger": {"type": "event", "event": "customer.created"},
    "nodes": [
        {
            "id": "welcome",
            "type": "action",
            "action": "send_email",
            "config": {"to": "{{customer.email}}", "subject": "Welcome", "body": "Hello"},
        }
    ],
    "edges": [{"from": "trigger", "to": "welcome"}],
}

LIST_ITEM_KEYS = {"id", "name", "status", "trigger_type", "last_run", "run_count", "success_rate"}


def record_runs(workflow, *statuses, mode=Execution.Mode.LIVE):
    """Executions in the given final states, made directly (their outcome is the point)."""
    runs = []
    for status in statuses:
        execution = Execution.objects.create(
            workflow=workflow, version=workflow.current_version, mode=mode
        )
        # The status field is protected: a queryset update sets the state a run ended in.
        Execution.objects.filter(pk=execution.pk).update(
            status=status, started_at=timezone.now(), completed_at=timezone.now()
        )
        runs.append(execution)
    return runs


# -- GET /api/workflows ----------------------------------------------------------------------


def test_list_has_the_seed_shape(api, workflow):
    response = api.get("/api/workflows")

    assert response.status_code == 200
    assert response.json() == {
        "workflows": [
            {
                "id": workflow.public_id,
                "name": "Probe workflow",
                "status": "draft",
                "trigger_type": "manual",
                "last_run": None,
                "run_count": 0,
                "success_rate": None,
            }
        ],
        "total": 1,
        "page": 1,
    }


def test_list_counts_live_runs_and_rates_finished_ones(api, workflow):
    record_runs(workflow, "completed", "completed", "completed", "failed", "cancelled", "running")
    record_runs(workflow, "failed", "failed", mode=Execution.Mode.TEST)  # simulations
    last = Execution.objects.filter(mode="live").order_by("-created_at").first()

    item = api.get("/api/workflows").json()["workflows"][0]

    assert item["run_count"] == 6
    assert item["success_rate"] == 60.0  # 3 completed of 5 finished; the running one waits
    assert item["last_run"] == last.created_at.isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize(
    ("statuses", "rate"),
    [
        (["running", "pending"], None),  # nothing finished yet
        (["completed"], 100.0),
        (["failed"], 0.0),
        (["completed", "completed", "failed"], 66.7),  # one decimal
        (["completed"] * 197 + ["failed"] * 3, 98.5),  # the seed's example figure
    ],
)
def test_success_rate_is_a_percentage_of_finished_runs(api, workflow, statuses, rate):
    record_runs(workflow, *statuses)
    assert api.get("/api/workflows").json()["workflows"][0]["success_rate"] == rate


@pytest.fixture
def viewer(user_with, client_for):
    return client_for(user_with("workflows.view_workflow"))


def test_list_costs_the_same_queries_for_many_workflows_and_runs(
    viewer, make_workflow, probe_definition, django_assert_num_queries
):
    def listing():
        response = viewer.get("/api/workflows?page_size=200")
        assert response.status_code == 200
        return response.json()["total"]

    for index in range(3):
        record_runs(make_workflow(probe_definition(name=f"wf {index}")), "completed", "failed")
    listing()  # warm: content types and the like are cached after the first request
    # token and user, the user's permissions (direct, through groups), the count, the page,
    # the run statistics of the page's workflows
    with django_assert_num_queries(6):
        assert listing() == 3
    for index in range(30):
        record_runs(make_workflow(probe_definition(name=f"more {index}")), "completed")
    record_runs(Workflow.objects.get(name="wf 0"), *["completed", "failed"] * 20)
    with django_assert_num_queries(6):
        assert listing() == 33


def test_run_statistics_are_counted_after_the_page_is_cut(
    viewer, make_workflow, probe_definition, django_assert_num_queries
):
    for index in range(5):
        record_runs(make_workflow(probe_definition(name=f"wf {index}")), "completed")
    on_page = list(Workflow.objects.order_by("name", "pk").values_list("pk", flat=True)[2:4])
    viewer.get("/api/workflows?page_size=2&page=2")
    with django_assert_num_queries(6) as captured:
        body = viewer.get("/api/workflows?page_size=2&page=2").json()

    assert [item["name"] for item in body["workflows"]] == ["wf 2", "wf 3"]
    page_query, stats_query = (query["sql"] for query in captured.captured_queries[-2:])
    # The page is read without touching the runs ...
    assert "workflows_execution" not in page_query
    assert "GROUP BY" not in page_query.upper()
    # ... and the runs are aggregated for the page's workflows only, in one statement.
    assert "GROUP BY" in stats_query.upper()
    listed = re.search(r'"workflow_id" IN \(([^)]*)\)', stats_query).group(1)
    assert sorted(int(pk) for pk in listed.split(",")) == sorted(on_page)


def test_an_empty_page_reads_no_runs(viewer, workflow, django_assert_num_queries):
    record_runs(workflow, "completed")
    viewer.get("/api/workflows")
    with django_assert_num_queries(4) as captured:  # token, permissions (2), the count
        body = viewer.get("/api/workflows?page=2").json()
    assert body == {"workflows": [], "total": 1, "page": 2}
    assert not any("workflows_execution" in query["sql"] for query in captured)


def test_each_workflow_on_a_page_has_its_own_statistics(api, make_workflow, probe_definition):
    first = make_workflow(probe_definition(name="a first"))
    second = make_workflow(probe_definition(name="b second"))
    third = make_workflow(probe_definition(name="c third"))
    record_runs(first, "completed", "completed", "failed")
    record_runs(second, "failed", "cancelled", "running")
    record_runs(second, "completed", mode=Execution.Mode.TEST)
    record_runs(third, "completed", mode=Execution.Mode.TEST)

    def item(page):
        return api.get(f"/api/workflows?page_size=1&page={page}").json()["workflows"][0]

    def last(workflow):
        run = workflow.executions.filter(mode="live").order_by("-created_at").first()
        return run.created_at.isoformat().replace("+00:00", "Z")

    assert (item(1)["name"], item(1)["run_count"], item(1)["success_rate"]) == (
        "a first",
        3,
        66.7,
    )
    assert item(1)["last_run"] == last(first)
    assert (item(2)["run_count"], item(2)["success_rate"], item(2)["last_run"]) == (
        3,
        0.0,
        last(second),
    )
    assert (item(3)["run_count"], item(3)["success_rate"], item(3)["last_run"]) == (0, None, None)


def test_page_statistics_equal_the_annotated_ones(make_workflow, probe_definition):
    """attach_run_stats (the API's pages) and with_run_stats (the admin's sortable list)
    give the same figures, to the last bit of the float."""
    mixes = [
        [],
        ["running"],
        ["completed"] * 2 + ["failed"],
        ["completed"] * 197 + ["failed"] * 3,
        ["cancelled", "failed", "completed", "pending", "waiting", "completed", "completed"],
    ]
    for index, statuses in enumerate(mixes):
        made = make_workflow(probe_definition(name=f"mix {index}"))
        record_runs(made, *statuses)
        record_runs(made, "failed", mode=Execution.Mode.TEST)
    fields = ("run_count", "last_run", "completed_runs", "finished_runs", "success_percent")

    annotated = {
        row.pk: tuple(getattr(row, field) for field in fields)
        for row in Workflow.objects.with_run_stats()
    }
    attached = {
        row.pk: tuple(getattr(row, field) for field in fields)
        for row in Workflow.objects.attach_run_stats(Workflow.objects.all())
    }

    assert attached == annotated
    assert sorted(figures[0] for figures in attached.values()) == [0, 1, 3, 7, 200]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=active", ["Active schedule"]),
        ("status=paused", ["Paused manual"]),
        ("trigger_type=schedule", ["Active schedule"]),
        ("trigger_type=webhook", []),
        ("search=MANUAL", ["Draft manual", "Paused manual"]),
        ("search=manual&status=draft", ["Draft manual"]),
        ("", ["Active schedule", "Draft manual", "Paused manual"]),
    ],
)
def test_list_filters(api, make_workflow, probe_definition, query, expected):
    make_workflow(probe_definition(name="Draft manual"))
    make_workflow(probe_definition(name="Paused manual"), status="active").change_status("paused")
    make_workflow(
        probe_definition(
            name="Active schedule", trigger={"type": "schedule", "config": {"cron": "0 9 * * *"}}
        ),
        status="active",
    )

    body = api.get(f"/api/workflows?{query}").json()

    assert [item["name"] for item in body["workflows"]] == expected
    assert body["total"] == len(expected)


def test_an_unknown_status_filter_is_400(api):
    response = api.get("/api/workflows?status=sleeping")
    assert response.status_code == 400
    assert list(response.json()) == ["status"]


# -- POST /api/workflows ---------------------------------------------------------------------


def test_create_from_the_seed_request(api, admin_user):
    response = api.post("/api/workflows", SEED_CREATE, format="json")

    assert response.status_code == 201
    body = response.json()
    workflow = Workflow.objects.get(public_id=body["id"])
    assert body["id"].startswith("wf_")
    assert {key: body[key] for key in LIST_ITEM_KEYS} == {
        "id": workflow.public_id,
        "name": "New Customer Welcome",
        "status": "draft",
        "trigger_type": "event",
        "last_run": None,
        "run_count": 0,
        "success_rate": None,
    }
    assert body["version"] == 1
    assert body["definition"] == {
        **SEED_CREATE,
        "id": workflow.public_id,
        "version": 1,
        "status": "draft",
    }
    assert workflow.owner == admin_user
    assert workflow.current_version.created_by == admin_user


def test_create_keeps_a_given_id_and_optional_keys(api):
    body = {
        **SEED_CREATE,
        "id": "wf_welcome",
        "description": "Greets new customers",
        "timezone": "Europe/Berlin",
        "settings": {"max_steps": 50},
    }

    response = api.post("/api/workflows", body, format="json")

    assert response.status_code == 201
    workflow = Workflow.objects.get(public_id="wf_welcome")
    assert workflow.description == "Greets new customers"
    assert workflow.timezone == "Europe/Berlin"
    assert response.json()["definition"]["settings"] == {"max_steps": 50}


def test_create_with_a_taken_id_is_409_and_changes_nothing(api, workflow):
    before = workflow.definition

    response = api.post("/api/workflows", {**SEED_CREATE, "id": workflow.public_id}, format="json")

    assert response.status_code == 409
    assert response.json() == {
        "detail": f"a workflow with id '{workflow.public_id}' already exists"
    }
    workflow.refresh_from_db()
    assert workflow.definition == before
    assert workflow.versions.count() == 1


def test_create_invalid_is_400_with_node_field_message(api):
    body = {**SEED_CREATE, "edges": [{"from": "trigger", "to": "nowhere"}]}

    response = api.post("/api/workflows", body, format="json")

    assert response.status_code == 400
    payload = response.json()
    assert set(payload) == {"errors", "warnings"}
    assert payload["errors"]
    assert all(set(issue) == {"node", "field", "message"} for issue in payload["errors"])
    assert any("nowhere" in issue["message"] for issue in payload["errors"])
    assert not Workflow.objects.exists()


@pytest.mark.parametrize("body", [[], "a string", 42, {}])
def test_create_with_a_body_that_is_not_a_definition_is_400(api, body):
    response = api.post("/api/workflows", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]
    assert not Workflow.objects.exists()


def test_create_that_is_not_json_is_400(api):
    response = api.post("/api/workflows", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_create_as_form_data_is_415(api):
    response = api.post("/api/workflows", {"name": "x"}, format="multipart")
    assert response.status_code == 415


def test_create_active_activates_through_the_transition(api):
    response = api.post("/api/workflows", {**SEED_CREATE, "status": "active"}, format="json")

    assert response.status_code == 201
    assert response.json()["status"] == "active"
    assert Workflow.objects.get().status == "active"
    assert Workflow.objects.listening_for("customer.created").count() == 1


def test_create_with_an_unreachable_status_is_400_and_creates_nothing(api):
    response = api.post("/api/workflows", {**SEED_CREATE, "status": "paused"}, format="json")

    assert response.status_code == 400
    assert set(response.json()) == {"detail"}
    assert response.json()["detail"].endswith("is draft and cannot become paused")
    assert not Workflow.objects.exists()


def test_create_archived_is_allowed(api):
    response = api.post("/api/workflows", {**SEED_CREATE, "status": "archived"}, format="json")
    assert response.status_code == 201
    assert response.json()["status"] == "archived"


# -- GET, PUT, PATCH, DELETE /api/workflows/{id} ----------------------------------------------


def test_retrieve_shows_the_definition(api, workflow):
    record_runs(workflow, "completed", "failed")

    response = api.get(f"/api/workflows/{workflow.public_id}")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == LIST_ITEM_KEYS | {
        "description",
        "status_reason",
        "version",
        "created_at",
        "updated_at",
        "definition",
    }
    assert body["definition"] == workflow.definition
    assert (body["run_count"], body["success_rate"]) == (2, 50.0)


def test_retrieve_unknown_is_404(api):
    response = api.get("/api/workflows/wf_missing")
    assert response.status_code == 404
    assert response.json() == {"detail": "No Workflow matches the given query."}


def test_put_saves_a_new_version_when_the_definition_changed(api, workflow, probe_definition):
    changed = definition([probe("a"), probe("c")], chain("a", "c"), name="Renamed")

    response = api.put(f"/api/workflows/{workflow.public_id}", changed, format="json")

    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["version"]) == ("Renamed", 2)
    assert [n["id"] for n in body["definition"]["nodes"]] == ["a", "c"]
    assert workflow.versions.count() == 2


def test_put_of_the_same_definition_keeps_the_version(api, workflow):
    response = api.put(f"/api/workflows/{workflow.public_id}", workflow.definition, format="json")

    assert response.status_code == 200
    assert response.json()["version"] == 1
    assert workflow.versions.count() == 1


def test_put_round_trips_what_get_shows(api, workflow):
    shown = api.get(f"/api/workflows/{workflow.public_id}").json()["definition"]
    response = api.put(f"/api/workflows/{workflow.public_id}/", shown, format="json")
    assert (response.status_code, response.json()["version"]) == (200, 1)


def test_put_invalid_is_400_and_keeps_the_old_version(api, workflow):
    broken = {**workflow.definition, "nodes": [{"id": "a", "type": "teleport"}]}

    response = api.put(f"/api/workflows/{workflow.public_id}", broken, format="json")

    assert response.status_code == 400
    assert response.json()["errors"]
    assert workflow.versions.count() == 1


def test_put_with_status_active_activates(api, workflow):
    response = api.put(
        f"/api/workflows/{workflow.public_id}",
        {**workflow.definition, "status": "active"},
        format="json",
    )
    assert (response.status_code, response.json()["status"]) == (200, "active")


def test_put_with_an_unreachable_status_changes_nothing(api, workflow):
    changed = {**workflow.definition, "name": "Renamed", "status": "paused"}

    response = api.put(f"/api/workflows/{workflow.public_id}", changed, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "detail": f"workflow {workflow.public_id} is draft and cannot become paused"
    }
    workflow.refresh_from_db()
    assert (workflow.name, workflow.status, workflow.versions.count()) == (
        "Probe workflow",
        "draft",
        1,
    )


def test_patch_changes_top_level_keys_only(api, workflow):
    response = api.patch(
        f"/api/workflows/{workflow.public_id}", {"description": "Now described"}, format="json"
    )

    assert response.status_code == 200
    body = response.json()
    assert body["description"] == "Now described"
    assert body["version"] == 2
    assert body["definition"]["nodes"] == workflow.definition["nodes"]


def test_patch_status_alone_goes_through_the_transitions(api, workflow):
    url = f"/api/workflows/{workflow.public_id}"
    assert api.patch(url, {"status": "active"}, format="json").json()["status"] == "active"
    assert api.patch(url, {"status": "paused"}, format="json").json()["status"] == "paused"
    assert workflow.versions.count() == 1  # a status is not a new version


def test_patch_active_of_an_invalid_definition_is_400(api, make_workflow, probe_actions):
    # Saved before a check that now fails: an action type that is no longer registered.
    workflow = make_workflow(definition([probe("a")], chain("a")))
    from actions.registry import registry
    from tests.support.actions import Probe

    registry.unregister("probe")
    try:
        response = api.patch(
            f"/api/workflows/{workflow.public_id}", {"status": "active"}, format="json"
        )
    finally:
        registry.register(Probe)

    assert response.status_code == 400
    assert response.json()["errors"]
    workflow.refresh_from_db()
    assert workflow.status == "draft"


def test_patch_with_a_body_that_is_not_an_object_is_400(api, workflow):
    response = api.patch(f"/api/workflows/{workflow.public_id}", ["x"], format="json")
    assert response.status_code == 400
    assert response.json()["errors"]


def test_delete_archives_and_keeps_the_history(api, workflow):
    record_runs(workflow, "completed")

    response = api.delete(f"/api/workflows/{workflow.public_id}")

    assert response.status_code == 204
    workflow.refresh_from_db()
    assert workflow.status == "archived"
    assert workflow.status_reason == "deleted through the API"
    assert workflow.executions.count() == 1
    assert api.get(f"/api/workflows/{workflow.public_id}").json()["status"] == "archived"
    # Deleting again changes nothing and says so the same way.
    assert api.delete(f"/api/workflows/{workflow.public_id}").status_code == 204


# -- transitions -----------------------------------------------------------------------------


def test_activate_pause_archive(api, workflow):
    url = f"/api/workflows/{workflow.public_id}"

    assert api.post(f"{url}/activate").json()["status"] == "active"
    paused = api.post(f"{url}/pause", {"reason": "holidays"}, format="json").json()
    assert (paused["status"], paused["status_reason"]) == ("paused", "holidays")
    assert api.post(f"{url}/activate").json()["status"] == "active"
    assert api.post(f"{url}/archive").json()["status"] == "archived"


@pytest.mark.parametrize(
    ("start", "action", "message"),
    [
        ("draft", "pause", "is draft and cannot become paused"),
        ("archived", "activate", "is archived and cannot become active"),
        ("archived", "pause", "is archived and cannot become paused"),
    ],
)
def test_illegal_transitions_are_400_with_the_reason(api, workflow, start, action, message):
    if start != "draft":
        workflow.change_status(start)

    response = api.post(f"/api/workflows/{workflow.public_id}/{action}")

    assert response.status_code == 400
    assert response.json() == {"detail": f"workflow {workflow.public_id} {message}"}
    workflow.refresh_from_db()
    assert workflow.status == start


def test_a_transition_to_where_it_is_changes_nothing(api, workflow):
    workflow.change_status("active")
    assert api.post(f"/api/workflows/{workflow.public_id}/activate").status_code == 200


# -- POST /api/workflows/validate -----------------------------------------------------------


def test_validate_a_valid_definition(api):
    response = api.post("/api/workflows/validate", SEED_CREATE, format="json")
    assert response.status_code == 200
    assert response.json() == {"valid": True, "errors": [], "warnings": []}
    assert not Workflow.objects.exists()


def test_validate_an_invalid_definition(api):
    response = api.post("/api/workflows/validate", {"name": "x"}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is False
    assert {issue["field"] for issue in body["errors"]} >= {"trigger", "nodes", "edges"}
    assert not Workflow.objects.exists()
