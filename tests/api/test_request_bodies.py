"""Bodies and ids that no database can hold are a 400 (or 404), the same on SQLite and
PostgreSQL, never a 500 halfway through the work."""

import pytest

from workflows.models import Execution, Workflow

pytestmark = pytest.mark.django_db

MANUAL = {"trigger": {"type": "manual"}, "nodes": [], "edges": []}


@pytest.mark.parametrize(
    ("path", "body", "problem"),
    [
        ("/api/workflows", {**MANUAL, "name": "a\u0000b"}, "NUL character"),
        ("/api/workflows/{wf}/execute", {"input_data": {"key\u0000": 1}}, "NUL character"),
        ("/api/workflows/{wf}/test", {"input_data": {"k": ["\u0000"]}}, "NUL character"),
        ("/api/connections", {"name": "c", "provider": "http", "config": {"a": "\x00"}}, "NUL"),
    ],
)
def test_unstorable_strings_are_400(api, workflow, path, body, problem):
    response = api.post(path.format(wf=workflow.public_id), body, format="json")

    assert response.status_code == 400
    assert problem in response.json()["detail"]
    assert Workflow.objects.count() == 1
    assert not Execution.objects.exists()


def test_a_lone_surrogate_is_400(api):
    # Valid JSON, but no UTF-8: sent as written, since a client library would refuse it.
    body = '{"name": "x", "description": "\\ud800", "trigger": {"type": "manual"}}'

    response = api.post("/api/workflows", body, content_type="application/json")

    assert response.status_code == 400
    assert "lone surrogate" in response.json()["detail"]
    assert not Workflow.objects.exists()


def test_nesting_too_deep_is_400(api):
    response = api.post("/api/workflows/validate", "[" * 100_000, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"detail": "JSON parse error - the body is nested too deeply"}


@pytest.mark.parametrize(
    "path",
    [
        "/api/workflows/wf%00x",
        "/api/workflows/wf%00x/executions",
        "/api/executions/exec%00x",
        "/api/connections/99999999999999999999999",
        "/api/connections/not-a-number",
    ],
)
def test_ids_no_row_can_have_are_404(api, path):
    assert api.get(path).status_code == 404


def test_version_numbers_past_any_integer_column_are_404(api, workflow):
    url = f"/api/workflows/{workflow.public_id}/versions/{10**30}"
    assert api.get(url).status_code == 404
    assert api.post(f"{url}/restore").status_code == 404
