"""Who gets in, through which door: every endpoint's permissions, both spellings of every
path, token and session authentication, the browsable API, the schema and its docs."""

import io
import itertools

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from tests.support.definitions import chain, definition, probe
from workflows.services import start_execution

pytestmark = pytest.mark.django_db

VIEW_WF, ADD_WF, CHANGE_WF, DELETE_WF = (
    f"workflows.{verb}_workflow" for verb in ("view", "add", "change", "delete")
)
EXECUTE = "workflows.execute_workflow"
VIEW_EXEC = "workflows.view_execution"
VIEW_CONN, ADD_CONN, CHANGE_CONN, DELETE_CONN = (
    f"actions.{verb}_connection" for verb in ("view", "add", "change", "delete")
)

NEW_WORKFLOW = definition([probe("a")], chain("a"), name="Made over the API")
CONNECTION = {"name": "Slack", "provider": "slack", "config": {}, "secrets": {"token": "x"}}

# (method, path, the permissions it needs, body, the status it answers when allowed)
ENDPOINTS = [
    ("GET", "/api/workflows", [VIEW_WF], None, 200),
    ("POST", "/api/workflows", [ADD_WF], NEW_WORKFLOW, 201),
    ("GET", "/api/workflows/{wf}", [VIEW_WF], None, 200),
    ("PUT", "/api/workflows/{wf}", [CHANGE_WF], NEW_WORKFLOW, 200),
    ("PATCH", "/api/workflows/{wf}", [CHANGE_WF], {"description": "d"}, 200),
    ("DELETE", "/api/workflows/{wf}", [DELETE_WF], None, 204),
    ("POST", "/api/workflows/{wf}/activate", [CHANGE_WF], None, 200),
    ("POST", "/api/workflows/{wf}/pause", [CHANGE_WF], None, 200),
    ("POST", "/api/workflows/{wf}/archive", [CHANGE_WF], None, 200),
    ("POST", "/api/workflows/validate", [VIEW_WF], NEW_WORKFLOW, 200),
    ("POST", "/api/workflows/{wf}/execute", [VIEW_WF, EXECUTE], {"input_data": {}}, 202),
    ("POST", "/api/workflows/{wf}/test", [VIEW_WF, EXECUTE], {"input_data": {}}, 200),
    ("GET", "/api/workflows/{wf}/executions", [VIEW_WF, VIEW_EXEC], None, 200),
    ("GET", "/api/workflows/{wf}/versions", [VIEW_WF], None, 200),
    ("GET", "/api/workflows/{wf}/versions/1", [VIEW_WF], None, 200),
    ("POST", "/api/workflows/{wf}/versions/1/restore", [CHANGE_WF], None, 200),
    ("GET", "/api/workflows/{wf}/export", [VIEW_WF], None, 200),
    ("POST", "/api/workflows/import", [ADD_WF, CHANGE_WF], NEW_WORKFLOW, 201),
    ("GET", "/api/workflows/{hook}/webhook", [VIEW_WF], None, 200),
    ("POST", "/api/workflows/{hook}/webhook", [CHANGE_WF], None, 200),
    ("GET", "/api/executions", [VIEW_EXEC], None, 200),
    ("GET", "/api/executions/{failed}", [VIEW_EXEC], None, 200),
    ("POST", "/api/executions/{failed}/retry", [VIEW_EXEC, EXECUTE], None, 202),
    ("POST", "/api/executions/{pending}/cancel", [VIEW_EXEC, EXECUTE], None, 200),
    ("GET", "/api/catalog", [VIEW_WF], None, 200),
    ("GET", "/api/templates", [VIEW_WF], None, 200),
    ("POST", "/api/templates/payment_thank_you/instantiate", [ADD_WF], None, 201),
    ("GET", "/api/connections", [VIEW_CONN], None, 200),
    ("POST", "/api/connections", [ADD_CONN], CONNECTION, 201),
    ("GET", "/api/connections/{conn}", [VIEW_CONN], None, 200),
    ("PUT", "/api/connections/{conn}", [CHANGE_CONN], CONNECTION, 200),
    ("PATCH", "/api/connections/{conn}", [CHANGE_CONN], {"config": {"x": 1}}, 200),
    ("DELETE", "/api/connections/{conn}", [DELETE_CONN], None, 204),
]


def endpoint_id(endpoint):
    return f"{endpoint[0]} {endpoint[1]}"


@pytest.fixture
def objects(make_workflow, probe_actions):
    """The ids that the paths above name."""
    from actions.models import Connection

    workflow = make_workflow(definition([probe("a")], chain("a")), status="active")
    hook = make_workflow(
        definition([probe("a")], chain("a"), trigger={"type": "webhook"}), status="active"
    )
    flaky = make_workflow(definition([probe("f", tag="flaky")], chain("f")))
    probe_actions.failures["flaky"] = 1
    failed = start_execution(flaky, inline=True)
    connection = Connection.objects.create(name="Existing", provider="http")
    return {
        "wf": workflow.public_id,
        "hook": hook.public_id,
        "failed": failed.public_id,
        "pending": start_execution(workflow).public_id,
        "conn": connection.pk,
    }


def call(client, endpoint, objects, *, slash=""):
    method, path, _perms, body, _status = endpoint
    url = path.format(**objects) + slash
    return getattr(client, method.lower())(url, body, format="json")


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=endpoint_id)
def test_anonymous_is_401_with_a_challenge(client_for, objects, endpoint):
    response = call(client_for(None), endpoint, objects)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json() == {"detail": "Authentication credentials were not provided."}


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=endpoint_id)
def test_a_user_missing_any_needed_permission_is_403(user_with, client_for, objects, endpoint):
    needed = endpoint[2]
    everything_else = [
        VIEW_WF, ADD_WF, CHANGE_WF, DELETE_WF, EXECUTE, VIEW_EXEC,
        VIEW_CONN, ADD_CONN, CHANGE_CONN, DELETE_CONN,
    ]  # fmt: skip
    for missing in needed:
        held = [perm for perm in everything_else if perm != missing]
        response = call(client_for(user_with(*held)), endpoint, objects)

        assert response.status_code == 403, f"without {missing}"
        assert response.json() == {"detail": "You do not have permission to perform this action."}


@pytest.mark.parametrize(
    ("endpoint", "slash"),
    list(itertools.product(ENDPOINTS, ["", "/"])),
    ids=lambda value: endpoint_id(value) if isinstance(value, tuple) else repr(value),
)
def test_exactly_the_needed_permissions_suffice_with_and_without_slash(
    user_with, client_for, objects, endpoint, slash
):
    response = call(client_for(user_with(*endpoint[2])), endpoint, objects, slash=slash)
    assert response.status_code == endpoint[4], response.content


def test_execute_needs_the_execute_permission_even_with_every_model_permission(
    user_with, client_for, objects
):
    viewer = user_with(VIEW_WF, ADD_WF, CHANGE_WF, DELETE_WF, VIEW_EXEC)
    response = client_for(viewer).post(f"/api/workflows/{objects['wf']}/execute", {}, format="json")
    assert response.status_code == 403


# -- session authentication ------------------------------------------------------------------


def test_session_authentication_reads_and_writes_with_csrf(user_with, objects):
    user = user_with(VIEW_WF, ADD_WF)
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)

    assert client.get("/api/workflows").status_code == 200
    refused = client.post("/api/workflows", NEW_WORKFLOW, format="json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]

    csrf = client.get("/admin/login/").cookies["csrftoken"].value
    created = client.post("/api/workflows", NEW_WORKFLOW, format="json", HTTP_X_CSRFTOKEN=csrf)
    assert created.status_code == 201


def test_drf_create_token_makes_a_working_token(user_with):
    user = user_with(VIEW_WF)
    out = io.StringIO()

    call_command("drf_create_token", user.username, stdout=out)

    key = out.getvalue().split()[2]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/workflows").status_code == 200


def test_a_wrong_token_is_401(client_for):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = client.get("/api/workflows")
    assert (response.status_code, response.json()) == (401, {"detail": "Invalid token."})


# -- the browsable API, the schema, the docs -------------------------------------------------


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if e[0] == "GET"], ids=endpoint_id)
def test_every_read_renders_in_the_browsable_api(admin_user, objects, endpoint):
    client = APIClient()
    client.force_login(admin_user)

    response = client.get(endpoint[1].format(**objects), HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"Django REST framework" in response.content


def test_the_schema_describes_every_endpoint():
    client = APIClient()
    response = client.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = set(schema["paths"])
    for method, path, *_ in ENDPOINTS:
        documented = (
            path.format(wf="{id}", hook="{id}", failed="{id}", pending="{id}", conn="{id}")
            .replace("/versions/1", "/versions/{number}")
            .replace("/templates/payment_thank_you/", "/templates/{key}/")
            + "/"
        )
        assert documented in paths, documented
        assert method.lower() in schema["paths"][documented]
    item = schema["components"]["schemas"]["WorkflowItem"]
    assert set(item["properties"]) == {
        "id", "name", "status", "trigger_type", "last_run", "run_count", "success_rate",
    }  # fmt: skip


@pytest.mark.parametrize("slash", ["", "/"])
def test_swagger_ui_is_served(slash):
    response = APIClient().get(f"/api/docs{slash}")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()
    assert b"/api/schema" in response.content
    assert APIClient().get(f"/api/schema{slash}").status_code == 200
