"""http_request against a local server standing in for an API: the exact request that
arrives, how each answer is handled, retries through the engine, and test mode.

The server is reached through an OUTBOUND_ALLOWLIST entry that these tests set; the SSRF
tests (test_http_client.py) run without it.
"""

import base64
import json
import threading
from types import SimpleNamespace

import pytest
from werkzeug import Response

from actions.models import Connection
from actions.registry import ActionContext, ActionError, registry
from tests.support.definitions import step_table

pytestmark = pytest.mark.django_db

FAST_RETRY = {"max_attempts": 3, "backoff_seconds": 0.01, "jitter": False}


@pytest.fixture
def server(httpserver_ipv4, settings):
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    return httpserver_ipv4


def url(server, path):
    return f"http://127.0.0.1:{server.port}{path}"


@pytest.fixture
def token():
    # Made up per test run: nothing secret lives in the code.
    return "tok_" + base64.b32encode(__import__("os").urandom(15)).decode().lower()


@pytest.fixture
def connection(token):
    """connection(auth="bearer", **secrets) -> a saved HTTP connection."""

    def make(auth="bearer", name="crm-api", config=None, **secrets):
        conn = Connection(name=name, provider="http", config={"auth": auth, **(config or {})})
        conn.secrets = secrets or {"token": token}
        conn.save()
        return conn

    return make


def context(**overrides):
    values = {
        "execution": SimpleNamespace(public_id="exe_http"),
        "node_id": "call",
        "path": "call",
        "attempt": 1,
        "timezone": None,
        "now": None,
    }
    return ActionContext(**{**values, **overrides})


def run(config, **context_overrides):
    return registry.get("http_request").run(config, context(**context_overrides))


def simulate(config):
    return registry.get("http_request").simulate(config, context(is_test=True))


def workflow(config, **node):
    return {
        "name": "HTTP",
        "trigger": {"type": "manual"},
        "nodes": [
            {"id": "call", "type": "action", "action": "http_request", "config": config, **node}
        ],
        "edges": [{"from": "trigger", "to": "call"}],
    }


# -- the request that arrives ---------------------------------------------------------------


def test_a_json_post_arrives_exactly_as_configured(server, connection, token):
    connection()
    server.expect_request(
        "/v1/orders",
        method="POST",
        query_string="dry_run=false&tag=a&tag=b",
        json={"invoice": "INV-1", "amount": "1250.00", "lines": [1, 2]},
    ).respond_with_json({"id": "ord_1", "ok": True}, status=201)

    output = run(
        {
            "method": "POST",
            "url": url(server, "/v1/orders"),
            "headers": {"X-Request-Source": "workflow"},
            "query": {"dry_run": "false", "tag": ["a", "b"]},
            "body": {"invoice": "INV-1", "amount": "1250.00", "lines": [1, 2]},
            "connection": "crm-api",
        }
    )

    ((request, _),) = server.log
    assert request.headers["Authorization"] == f"Bearer {token}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Request-Source"] == "workflow"
    assert output["status"] == 201
    assert output["body"] == {"id": "ord_1", "ok": True}  # parsed: the response is JSON
    assert output["headers"]["Content-Type"] == "application/json"


def test_a_form_body_is_url_encoded(server):
    server.expect_request(
        "/subscribe",
        method="POST",
        data="email=ada%40example.com&list=customers",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ).respond_with_data("subscribed", content_type="text/plain")

    output = run(
        {
            "method": "POST",
            "url": url(server, "/subscribe"),
            "body_format": "form",
            "body": {"email": "ada@example.com", "list": "customers"},
        }
    )
    assert output == {
        "status": 200,
        "headers": output["headers"],
        "body": "subscribed",  # text stays text
    }
    assert len(server.log) == 1


@pytest.mark.parametrize(
    ("auth", "secrets", "config", "header", "expected"),
    [
        (
            "basic",
            {"password": "pw-123"},
            {"username": "api-user"},
            "Authorization",
            "Basic " + base64.b64encode(b"api-user:pw-123").decode(),
        ),
        ("bearer", {"token": "tk-456"}, {}, "Authorization", "Bearer tk-456"),
        ("header", {"value": "key-789"}, {"header": "X-Api-Token"}, "X-Api-Token", "key-789"),
        ("header", {"value": "key-789"}, {}, "X-API-Key", "key-789"),  # the default header
    ],
)
def test_auth_from_a_connection(server, connection, auth, secrets, config, header, expected):
    connection(auth, config=config, **secrets)
    server.expect_request("/me").respond_with_json({})
    run({"url": url(server, "/me"), "connection": "crm-api"})
    ((request, _),) = server.log
    assert request.headers[header] == expected


def test_a_connection_records_its_use(server, connection):
    conn = connection()
    server.expect_request("/ok").respond_with_json({})
    run({"url": url(server, "/ok"), "connection": "crm-api"})
    conn.refresh_from_db()
    assert conn.last_used_at is not None
    assert conn.last_error == ""


@pytest.mark.parametrize(
    ("content_type", "body", "parsed"),
    [
        ("application/json", b'{"a": 1}', {"a": 1}),
        ("application/problem+json; charset=utf-8", b'{"title": "x"}', {"title": "x"}),
        ("application/json", b"not json", "not json"),  # claims JSON, is not: kept as text
        ("text/plain", b'{"a": 1}', '{"a": 1}'),  # JSON-looking text stays text
        ("text/plain", b"", None),
    ],
)
def test_the_response_is_parsed_when_it_is_json(server, content_type, body, parsed):
    server.expect_request("/r").respond_with_data(body, content_type=content_type)
    assert run({"url": url(server, "/r")})["body"] == parsed


# -- status rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "client_error"),
        (401, "client_error"),
        (404, "client_error"),
        (429, "rate_limited"),
        (500, "server_error"),
        (503, "server_error"),
    ],
)
def test_unsuccessful_statuses_fail_with_their_kind(server, status, kind):
    server.expect_request("/r").respond_with_data("nope: bad thing", status=status)
    with pytest.raises(ActionError) as excinfo:
        run({"url": url(server, "/r")})
    error = excinfo.value
    assert error.kind == kind
    assert error.details["status"] == status
    assert f"GET 127.0.0.1 answered {status}: nope: bad thing" == error.message


def test_retry_after_is_kept(server):
    server.expect_request("/r").respond_with_data("slow down", 429, {"Retry-After": "30"})
    with pytest.raises(ActionError) as excinfo:
        run({"url": url(server, "/r")})
    assert excinfo.value.details["retry_after"] == "30"


@pytest.mark.parametrize(
    ("rules", "status", "succeeds"),
    [
        (["2xx"], 204, True),
        (["2xx", 404], 404, True),  # "not found" is an answer this step expects
        ([200], 201, False),
        (["4xx"], 422, True),
        (["2xx"], 302, False),  # a redirect without Location is not followed
    ],
)
def test_success_statuses(server, rules, status, succeeds):
    server.expect_request("/r").respond_with_data("", status=status)
    config = {"url": url(server, "/r"), "success_statuses": rules}
    if succeeds:
        assert run(config)["status"] == status
    else:
        with pytest.raises(ActionError):
            run(config)


def test_the_step_timeout_is_capped_by_the_node_timeout(server):
    release = threading.Event()

    def slow(_request):
        release.wait(5)
        return Response("late")

    server.expect_request("/slow").respond_with_handler(slow)
    try:
        with pytest.raises(ActionError, match=r"within 0\.2 seconds") as excinfo:
            run(
                {"url": url(server, "/slow"), "timeout_seconds": 30},
                extra={"timeout_seconds": 0.2},
            )
    finally:
        release.set()
    assert excinfo.value.kind == "timeout"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"url": "http://x.example", "method": "FETCH"}, "method"),
        ({"url": "http://x.example", "body_format": "form", "body": [1]}, "form body"),
        ({"url": "http://x.example", "headers": {"X-N": 1}}, "headers.X-N"),
        ({"url": "http://x.example", "connection": "missing"}, "no connection 'missing'"),
    ],
)
def test_bad_configs_are_refused_before_sending(server, config, message):
    with pytest.raises(ActionError, match=message):
        run(config)


def test_a_connection_of_another_provider_is_refused(connection):
    Connection.objects.create(name="stripe-live", provider="stripe")
    with pytest.raises(ActionError, match=r"is a Stripe connection; this step needs an? HTTP"):
        run({"url": "https://api.example.com/", "connection": "stripe-live"})


# -- through the engine: retries ------------------------------------------------------------


@pytest.mark.parametrize(("status", "kind"), [(503, "server_error"), (429, "rate_limited")])
def test_retryable_answers_are_retried_with_backoff(server, run_workflow, status, kind):
    server.expect_request("/flaky").respond_with_data("busy", status=status)
    execution = run_workflow(workflow({"url": url(server, "/flaky")}, retry=FAST_RETRY))
    assert execution.status == "failed"
    assert execution.error["type"] == kind
    assert len(server.log) == 3
    assert step_table(execution) == [
        ("call", "retrying", 1),
        ("call", "retrying", 2),
        ("call", "failed", 3),
    ]


def test_a_retry_that_succeeds_completes_the_run(server, run_workflow):
    server.expect_oneshot_request("/flaky").respond_with_data("busy", status=502)
    server.expect_request("/flaky").respond_with_json({"done": True})
    execution = run_workflow(
        workflow({"url": url(server, "/flaky")}, retry=FAST_RETRY, outputs=["reply"])
    )
    assert execution.status == "completed"
    assert len(server.log) == 2
    step = execution.steps.order_by("id").last()
    assert step.output["body"] == {"done": True}


def test_client_errors_are_not_retried(server, run_workflow):
    server.expect_request("/bad").respond_with_json({"error": "invalid"}, status=422)
    execution = run_workflow(workflow({"url": url(server, "/bad")}, retry=FAST_RETRY))
    assert execution.status == "failed"
    assert execution.error["type"] == "client_error"
    assert execution.error["status"] == 422
    assert len(server.log) == 1


def test_timeouts_are_retried(server, run_workflow):
    release = threading.Event()

    def slow(_request):
        release.wait(0.5)
        return Response("late")

    server.expect_request("/slow").respond_with_handler(slow)
    try:
        execution = run_workflow(
            workflow(
                {"url": url(server, "/slow")},
                retry={**FAST_RETRY, "max_attempts": 2},
                timeout_seconds=0.2,
            )
        )
    finally:
        release.set()
    assert execution.status == "failed"
    assert execution.error["type"] == "timeout"
    assert [status for _, status, _ in step_table(execution)] == ["retrying", "failed"]


def test_a_refused_destination_is_not_retried(run_workflow, settings):
    settings.OUTBOUND_ALLOWLIST = []
    execution = run_workflow(
        workflow({"url": "http://169.254.169.254/latest/meta-data/"}, retry=FAST_RETRY)
    )
    assert execution.status == "failed"
    assert execution.error["type"] == "refused"
    assert "169.254.169.254" in execution.error["message"]
    assert step_table(execution) == [("call", "failed", 1)]


# -- test mode ------------------------------------------------------------------------------


def test_simulate_shows_the_exact_request_without_secrets(connection, token, server):
    connection()
    result = simulate(
        {
            "method": "POST",
            "url": url(server, "/v1/orders"),
            "query": {"dry_run": "true"},
            "headers": {"X-Request-Source": "workflow"},
            "body": {"invoice": "INV-1"},
            "connection": "crm-api",
        }
    )
    request = result["request"]
    assert request["method"] == "POST"
    assert request["url"] == url(server, "/v1/orders?dry_run=true")
    assert request["headers"]["Authorization"] == "Bearer ***"
    assert request["headers"]["X-Request-Source"] == "workflow"
    assert request["headers"]["Content-Type"] == "application/json"
    assert json.loads(request["body"]) == {"invoice": "INV-1"}
    assert token not in json.dumps(result)
    assert server.log == []


def test_simulate_refuses_a_blocked_url_without_sending(settings):
    settings.OUTBOUND_ALLOWLIST = []
    with pytest.raises(ActionError) as excinfo:
        simulate({"url": "http://127.0.0.1:6379/"})
    assert excinfo.value.kind == "refused"


def test_a_test_run_sends_nothing(server, connection, token, run_workflow):
    connection()
    server.expect_request("/v1/orders").respond_with_json({})
    execution = run_workflow(
        workflow({"method": "DELETE", "url": url(server, "/v1/orders/1"), "connection": "crm-api"}),
        test=True,
    )
    assert execution.status == "completed"
    assert server.log == []
    step = execution.steps.get()
    assert step.output["request"]["headers"]["Authorization"] == "Bearer ***"
    assert token not in json.dumps(step.output)
    assert Connection.objects.get(name="crm-api").last_used_at is None
