"""send_slack against a local server standing in for Slack: the Web API's chat.postMessage
(bot token) and an incoming webhook (through the guarded HTTP client)."""

import json
import threading

import pytest
from jsonschema import Draft202012Validator
from werkzeug import Response

from actions.models import Connection
from actions.registry import ActionError, registry
from tests.support.steps import one_step_workflow, run_step, step_context, step_failure, wait_for
from workflows.validation.action_nodes import ConfigValidator

pytestmark = pytest.mark.django_db

TOKEN = "xoxb-1234-5678-slacktokensecret"
HOOK_PATH = "/services/T0001/B0001/hooksecretpart"
POSTED = {"ok": True, "channel": "C0BILLING", "ts": "1764147600.000100", "message": {}}
FAST_RETRY = {"max_attempts": 3, "backoff_seconds": 0.01, "jitter": False}
API = {"connection": "slack", "channel": "#billing", "text": "Invoice INV-7 is overdue"}
HOOK = {"via": "webhook", "connection": "slack", "text": "Deploy finished"}


@pytest.fixture(autouse=True)
def _local_slack(settings, httpserver):
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1", "localhost"]
    settings.SLACK_API_BASE = httpserver.url_for("/api/")


@pytest.fixture
def slack(httpserver):
    connection = Connection(name="slack", provider="slack")
    connection.secrets = {"bot_token": TOKEN, "webhook_url": httpserver.url_for(HOOK_PATH)}
    connection.save()
    return connection


def context(**extra):
    return step_context("slack", **extra)


def send(config, **extra):
    return run_step("send_slack", "slack", config, **extra)


def failure(config, **extra):
    return step_failure("send_slack", "slack", config, **extra)


def one_step(config, **node):
    return one_step_workflow("Slack", "slack", "send_slack", config, **node)


# -- Web API: chat.postMessage ------------------------------------------------------------------


def test_posts_chat_post_message_with_the_bot_token(httpserver, slack):
    httpserver.expect_request("/api/chat.postMessage", method="POST").respond_with_json(POSTED)
    result = send({**API, "thread_ts": "1764140000.000200"})

    request, _ = httpserver.log[0]
    assert (request.method, request.path) == ("POST", "/api/chat.postMessage")
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"] == "application/json;charset=utf-8"
    assert request.get_json() == {
        "channel": "#billing",
        "text": "Invoice INV-7 is overdue",
        "thread_ts": "1764140000.000200",
    }
    assert result == {"ts": "1764147600.000100", "channel": "C0BILLING", "via": "api"}
    slack.refresh_from_db()
    assert (slack.last_used_at is not None, slack.last_error) == (True, "")


def test_blocks_are_sent_as_block_kit_json(httpserver, slack):
    httpserver.expect_request("/api/chat.postMessage", method="POST").respond_with_json(POSTED)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*INV-7* is overdue"}}]
    send({"connection": "slack", "channel": "C0BILLING", "text": "INV-7", "blocks": blocks})
    assert httpserver.log[0][0].get_json() == {
        "channel": "C0BILLING",
        "text": "INV-7",
        "blocks": blocks,
    }


@pytest.mark.parametrize(
    ("status", "body", "kind", "message"),
    [
        (200, {"ok": False, "error": "channel_not_found"}, "client_error", "channel_not_found"),
        (200, {"ok": False, "error": "invalid_auth"}, "client_error", "invalid_auth"),
        (200, {"ok": False, "error": "not_in_channel"}, "client_error", "not_in_channel"),
        (429, {"ok": False, "error": "ratelimited"}, "rate_limited", "ratelimited"),
        (200, {"ok": False, "error": "internal_error"}, "server_error", "internal_error"),
        (503, {"ok": False, "error": "service_unavailable"}, "server_error", "service_unava"),
    ],
)
def test_slack_errors_map_to_kinds(httpserver, slack, status, body, kind, message):
    httpserver.expect_request("/api/chat.postMessage").respond_with_json(body, status=status)
    error = failure(API)
    assert error.kind == kind
    assert error.message.startswith(f"Slack refused chat.postMessage: {message}")
    assert error.details == {"status": status, "slack_error": body["error"]}
    slack.refresh_from_db()
    assert slack.last_error == error.message


def test_a_500_without_json_is_a_server_error(httpserver, slack):
    httpserver.expect_request("/api/chat.postMessage").respond_with_data("oops", status=500)
    assert failure(API).kind == "server_error"


def test_a_slow_slack_is_a_timeout(httpserver, slack):
    released = threading.Event()

    def slow(request):
        released.wait(5)
        return Response(json.dumps(POSTED), content_type="application/json")

    httpserver.expect_request("/api/chat.postMessage").respond_with_handler(slow)
    error = failure(API, timeout_seconds=0.2)
    released.set()
    wait_for(lambda: len(httpserver.log) == 1)
    assert error.kind == "timeout"


def test_the_web_api_needs_a_token(slack):
    slack.secrets = {"webhook_url": "https://hooks.slack.com/services/x"}
    slack.save()
    error = failure(API)
    assert (error.kind, error.message) == (
        "invalid_config",
        "connection 'slack' has no 'bot_token' secret set",
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({**API, "channel": ""}, "channel: which channel to post to"),
        ({**API, "text": ""}, "give a text or blocks"),
        ({**API, "blocks": "not blocks"}, "blocks: must be a list of Block Kit blocks"),
        ({**API, "via": "email"}, "via: 'email' is not api or webhook"),
        ({"channel": "#x", "text": "hi"}, "connection: the Web API needs a Slack connection"),
        ({**API, "connection": "nope"}, "connection: there is no connection 'nope'"),
        ({"via": "webhook", "text": "hi"}, "webhook_url: give the incoming-webhook URL"),
        ({**HOOK, "webhook_url": "file:///etc/passwd"}, "webhook_url: must be an http(s) URL"),
    ],
)
def test_refuses_bad_config_before_sending(httpserver, slack, config, message):
    for method in ("run", "simulate"):
        with pytest.raises(ActionError) as excinfo:
            getattr(registry.get("send_slack"), method)(config, context())
        assert excinfo.value.message.startswith(message), excinfo.value.message
    assert httpserver.log == []


# -- incoming webhooks ---------------------------------------------------------------------------


def test_posts_json_to_the_connections_webhook(httpserver, slack):
    httpserver.expect_request(HOOK_PATH, method="POST").respond_with_data("ok")
    result = send(HOOK)

    request, _ = httpserver.log[0]
    assert (request.method, request.path) == ("POST", HOOK_PATH)
    assert request.headers["Content-Type"] == "application/json"
    assert "Authorization" not in request.headers
    assert request.get_json() == {"text": "Deploy finished"}
    assert result == {"ts": None, "channel": None, "via": "webhook"}


def test_an_inline_webhook_url_needs_no_connection(httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    send({"via": "webhook", "webhook_url": httpserver.url_for("/hook"), "text": "hi"})
    assert httpserver.log[0][0].get_json() == {"text": "hi"}


def test_the_webhook_goes_through_the_guarded_client(settings, httpserver, slack):
    settings.OUTBOUND_ALLOWLIST = []  # 127.0.0.1 is a loopback address again
    error = failure(HOOK)
    assert error.kind == "refused"
    assert httpserver.log == []


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (400, "invalid_payload", "client_error"),
        (403, "action_prohibited", "client_error"),
        (404, "no_service", "client_error"),
        (410, "channel_is_archived", "client_error"),
        (429, "rate_limited", "rate_limited"),
        (500, "rollup_error", "server_error"),
    ],
)
def test_webhook_errors_map_to_kinds(httpserver, slack, status, body, kind):
    httpserver.expect_request(HOOK_PATH).respond_with_data(body, status=status)
    error = failure(HOOK)
    assert error.kind == kind
    assert error.message == f"the Slack webhook refused the message ({status}): {body}"
    assert "hooksecretpart" not in error.message


def test_a_webhook_answer_that_echoes_the_url_does_not_keep_it(httpserver, slack):
    url = httpserver.url_for(HOOK_PATH)
    httpserver.expect_request(HOOK_PATH).respond_with_data(f"bad hook {url}", status=400)
    error = failure(HOOK)
    assert "hooksecretpart" not in error.message
    slack.refresh_from_db()
    assert "hooksecretpart" not in slack.last_error


# -- inside a workflow: retries and test mode ---------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "run_status", "requests"),
    [
        ([(200, {"ok": False, "error": "channel_not_found"})], "failed", 1),
        ([(429, {"ok": False, "error": "ratelimited"}), (200, POSTED)], "completed", 2),
        ([(502, {"ok": False, "error": "x"})] * 3, "failed", 3),
    ],
)
def test_api_retries_follow_the_answer(
    httpserver, slack, run_workflow, answers, run_status, requests
):
    for status, body in answers:
        httpserver.expect_ordered_request("/api/chat.postMessage").respond_with_json(
            body, status=status
        )
    execution = run_workflow(one_step(API, retry=FAST_RETRY))
    assert execution.status == run_status
    assert len(httpserver.log) == requests
    stored = json.dumps([[s.input, s.output, s.error] for s in execution.steps.all()])
    assert TOKEN not in stored


@pytest.mark.parametrize(
    ("statuses", "run_status", "requests"),
    [([400], "failed", 1), ([429, 200], "completed", 2), ([500, 503, 200], "completed", 3)],
)
def test_webhook_retries_follow_the_answer(
    httpserver, slack, run_workflow, statuses, run_status, requests
):
    for status in statuses:
        httpserver.expect_ordered_request(HOOK_PATH).respond_with_data("x", status=status)
    execution = run_workflow(one_step(HOOK, retry=FAST_RETRY))
    assert execution.status == run_status
    assert len(httpserver.log) == requests
    stored = json.dumps([[s.input, s.output, s.error] for s in execution.steps.all()])
    assert "hooksecretpart" not in stored


def test_test_mode_sends_nothing_and_shows_the_requests(httpserver, slack, run_workflow):
    api = run_workflow(one_step(API), test=True).steps.get().output
    hook = run_workflow(one_step(HOOK), test=True).steps.get().output
    assert httpserver.log == []
    assert api == {
        "simulated": True,
        "via": "api",
        "request": {
            "method": "POST",
            "url": httpserver.url_for("/api/chat.postMessage"),
            "headers": {
                "Authorization": "Bearer (bot_token of connection 'slack')",
                "Content-Type": "application/json;charset=utf-8",
            },
            "json": {"channel": "#billing", "text": "Invoice INV-7 is overdue"},
        },
    }
    assert hook["request"]["url"] == "(webhook_url of connection 'slack')"
    assert hook["request"]["json"] == {"text": "Deploy finished"}
    assert TOKEN not in json.dumps([api, hook])


# -- the catalog entry ------------------------------------------------------------------------


def test_the_schema_is_valid_and_accepts_every_example():
    action = registry.get("send_slack")
    Draft202012Validator.check_schema(action.config_schema)
    assert action.examples
    for example in action.examples:
        assert list(ConfigValidator(action.config_schema).iter_errors(example)) == []
