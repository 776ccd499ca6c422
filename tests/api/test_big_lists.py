"""Lists of runs that stay cheap when there are many: a constant number of queries, only the
columns a list shows, pages read through the index of their order (a "deferred join"), and
the same rows in the same order as a plain OFFSET would give, ties in time included."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from workflows.api.pagination import deferred_page
from workflows.models import Execution

pytestmark = pytest.mark.django_db

STATUSES = ["completed", "failed", "completed", "cancelled", "running"]


@pytest.fixture
def runs_of(workflow):
    """runs_of(n, workflow=...) -> n runs made in bulk; every third shares its time with the
    one before, so the order needs its tie-breaker (the id)."""

    def make(count, of=None):
        of = of or workflow
        start = timezone.now() - datetime.timedelta(days=1)
        made = Execution.objects.bulk_create(
            Execution(
                workflow=of,
                version=of.current_version,
                status=STATUSES[index % len(STATUSES)],
                created_at=start + datetime.timedelta(seconds=index - index % 3 // 2),
                trigger_data={"big": "x" * 1000},
                state={"tokens": ["a"] * 50},
            )
            for index in range(count)
        )
        return made

    return make


def ids(response):
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["executions"]]


def every_page(api, url, size):
    seen, page = [], 1
    while True:
        found = ids(api.get(f"{url}{'&' if '?' in url else '?'}page_size={size}&page={page}"))
        if not found:
            return seen
        seen += found
        page += 1


@pytest.mark.parametrize(
    ("url", "only"),
    [
        ("/api/executions", {}),
        ("/api/executions?status=completed", {"status": "completed"}),
        ("/api/executions?workflow={wf}", {"workflow": "own"}),
        ("/api/workflows/{wf}/executions", {"workflow": "own"}),
        ("/api/workflows/{wf}/executions?status=failed", {"workflow": "own", "status": "failed"}),
    ],
)
def test_pages_are_the_plain_order_cut_in_pieces(
    api, workflow, make_workflow, probe_definition, runs_of, url, only
):
    other = make_workflow(probe_definition(name="Other"))
    runs_of(23)
    runs_of(9, of=other)
    matching = Execution.objects.order_by("-created_at", "-pk")
    if "status" in only:
        matching = matching.filter(status=only["status"])
    if "workflow" in only:
        matching = matching.filter(workflow=workflow)
    expected = list(matching.values_list("public_id", flat=True))
    url = url.format(wf=workflow.public_id)

    for size in (1, 4, 50):
        assert every_page(api, url, size) == expected
    assert api.get(url).json()["total"] == len(expected)


def test_deferred_page_is_the_offset_slice(workflow, runs_of, django_assert_num_queries):
    runs_of(20)
    ordered = Execution.objects.filter(status="completed").order_by("-created_at", "-pk")
    for start in (1, 3, 7):
        with django_assert_num_queries(1):
            page = list(deferred_page(ordered, start, 3))
        assert page == list(ordered[start : start + 3])


@pytest.mark.parametrize(
    "url",
    ["/api/executions", "/api/executions?status=failed", "/api/workflows/{wf}/executions"],
)
def test_a_page_of_runs_costs_the_same_queries_however_many_and_however_deep(
    api, workflow, runs_of, url, django_assert_num_queries
):
    url = url.format(wf=workflow.public_id)
    joiner = "&" if "?" in url else "?"
    runs_of(15)
    api.get(url)  # warm: content types and the like are cached after the first request
    # token and user (a superuser: no permission queries), the count, the page; the
    # workflow too on a workflow's own history
    cost = 4 if "/workflows/" in url else 3
    with django_assert_num_queries(cost):
        assert len(ids(api.get(f"{url}{joiner}page_size=3"))) == 3
    runs_of(300)
    for query in ("page_size=3", "page_size=3&page=20", "page_size=50&page=2"):
        with django_assert_num_queries(cost):
            assert ids(api.get(f"{url}{joiner}{query}"))


@pytest.mark.parametrize("url", ["/api/executions?page=2", "/api/workflows/{wf}/executions"])
def test_a_list_of_runs_leaves_their_json_in_the_database(api, workflow, runs_of, url):
    runs_of(60)
    with CaptureQueriesContext(connection) as queries:
        body = api.get(url.format(wf=workflow.public_id)).json()

    assert len(body["executions"]) == (10 if "page=2" in url else 50)
    page_query = queries.captured_queries[-1]["sql"]
    assert "workflows_execution" in page_query
    for column in ("trigger_data", "state", '"error"', "lease_owner"):
        assert column not in page_query


@pytest.mark.parametrize("query", ["", "?status=completed", "?page=2&page_size=2"])
def test_the_count_and_the_ids_of_a_page_read_the_runs_alone(api, workflow, runs_of, query):
    runs_of(5)
    with CaptureQueriesContext(connection) as queries:
        body = api.get(f"/api/executions{query}").json()

    assert {item["workflow"] for item in body["executions"]} == {workflow.public_id}
    count_query, page_query = (query["sql"] for query in queries.captured_queries[-2:])
    assert "COUNT(" in count_query.upper()
    assert "JOIN" not in count_query.upper()
    # the workflow's id is joined to the page's rows, its other columns are left out
    assert '"workflows_workflow"."public_id"' in page_query
    assert '"workflows_workflow"."name"' not in page_query
    if "page=2" in query:  # the subquery that picks the page's ids joins nothing either
        assert page_query.upper().count("JOIN") == 1


def plan(queryset):
    """The database's plan for `queryset`, as text; on PostgreSQL with sorting made a last
    resort, so a Sort in the plan means no index gives the order (the tables are tiny)."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_sort = off")
            cursor.execute(f"EXPLAIN {sql}", params)
            text = "\n".join(row[0] for row in cursor.fetchall())
            cursor.execute("RESET enable_sort")
            return text
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        return "\n".join(str(row[-1]) for row in cursor.fetchall())


@pytest.mark.parametrize(
    ("where", "index"),
    [
        ({}, "exec_recent"),
        ({"status": "failed"}, "exec_status_recent"),
        ({"workflow": True}, "exec_workflow_recent"),
    ],
)
def test_every_history_is_read_in_the_order_of_an_index(workflow, runs_of, where, index):
    runs_of(30)
    if "workflow" in where:
        where = {"workflow": workflow}
    query = Execution.objects.filter(**where).order_by("-created_at", "-pk").values("pk")[5:10]

    shown = plan(query)

    assert index in shown
    assert "TEMP B-TREE" not in shown.upper()  # SQLite's sort
    assert "Sort" not in shown  # PostgreSQL's


def test_workflows_are_listed_in_the_order_of_an_index(make_workflow, probe_definition):
    from workflows.models import Workflow

    make_workflow(probe_definition(name="b"))
    make_workflow(probe_definition(name="a"))
    shown = plan(Workflow.objects.order_by("name", "pk").values("pk")[1:2])

    assert "wf_name_order" in shown
    assert "TEMP B-TREE" not in shown.upper()
    assert "Sort" not in shown
