"""The seed's envelope on every list: page, page_size (at most 200), clear 400s."""

import pytest

from tests.support.definitions import chain, definition, probe
from workflows.api.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from workflows.models import Execution

pytestmark = pytest.mark.django_db


@pytest.fixture
def many(make_workflow, probe_actions):
    """205 workflows named wf-000 ... wf-204 (one version each, made in bulk)."""
    first = make_workflow(definition([probe("a")], chain("a"), name="wf-000"))
    from workflows.models import Workflow, WorkflowVersion

    version = first.current_version
    rows = Workflow.objects.bulk_create(
        Workflow(name=f"wf-{index:03}", trigger_type="manual") for index in range(1, 205)
    )
    WorkflowVersion.objects.bulk_create(
        WorkflowVersion(workflow=row, number=1, definition=version.definition, checksum="x")
        for row in rows
    )
    return 205


def names(response):
    return [item["name"] for item in response.json()["workflows"]]


def test_default_page(api, many):
    body = api.get("/api/workflows").json()
    assert (body["total"], body["page"], len(body["workflows"])) == (205, 1, DEFAULT_PAGE_SIZE)
    assert body["workflows"][0]["name"] == "wf-000"


@pytest.mark.parametrize(
    ("query", "page", "first", "count"),
    [
        ("page=2", 2, "wf-050", 50),
        ("page=5", 5, "wf-200", 5),
        ("page=9", 9, None, 0),  # past the end: empty, with the true total
        ("page_size=10&page=3", 3, "wf-020", 10),
        (f"page_size={MAX_PAGE_SIZE}", 1, "wf-000", MAX_PAGE_SIZE),
        (f"page_size={MAX_PAGE_SIZE}&page=2", 2, "wf-200", 5),
        ("page=99999999999999999999999", 99999999999999999999999, None, 0),
    ],
)
def test_pages(api, many, query, page, first, count):
    response = api.get(f"/api/workflows?{query}")

    assert response.status_code == 200
    body = response.json()
    assert (body["page"], body["total"], len(body["workflows"])) == (page, 205, count)
    assert (names(response) or [None])[0] == first


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("page=0", "page", "Ensure this value is greater than or equal to 1."),
        ("page=-1", "page", "Ensure this value is greater than or equal to 1."),
        ("page=two", "page", "A valid integer is required."),
        ("page_size=0", "page_size", "Ensure this value is greater than or equal to 1."),
        ("page_size=201", "page_size", "Ensure this value is less than or equal to 200."),
        ("page_size=1.5", "page_size", "A valid integer is required."),
    ],
)
def test_bad_values_are_400_naming_the_parameter(api, query, field, message):
    response = api.get(f"/api/workflows?{query}")
    assert response.status_code == 400
    assert response.json() == {field: [message]}


@pytest.mark.parametrize(
    "path",
    [
        "/api/workflows",
        "/api/workflows/{wf}/executions",
        "/api/workflows/{wf}/versions",
        "/api/executions",
        "/api/templates",
        "/api/connections",
    ],
)
def test_every_list_has_the_envelope_and_the_limits(api, workflow, path):
    from workflows.services import start_execution

    for _ in range(3):
        start_execution(workflow)
    workflow.save_definition(definition([probe("z")], chain("z")))
    url = path.format(wf=workflow.public_id)
    key = url.rstrip("/").rsplit("/", 1)[-1]

    body = api.get(f"{url}?page_size=1&page=2").json()

    assert set(body) == {key, "total", "page"}
    assert body["page"] == 2
    assert len(body[key]) == (1 if body["total"] >= 2 else 0)
    assert api.get(f"{url}?page_size=500").status_code == 400


def test_execution_pages_are_newest_first_without_overlap(api, workflow):
    from workflows.services import start_execution

    made = [start_execution(workflow).public_id for _ in range(5)]
    seen = []
    for page in (1, 2, 3):
        body = api.get(f"/api/executions?page_size=2&page={page}").json()
        seen += [item["id"] for item in body["executions"]]
    assert seen == made[::-1]
    assert Execution.objects.count() == 5
