"""send_email through a real anymail ESP backend (Postmark's) against a local server standing
in for the ESP: the exact API request, tags and metadata with the execution id, the ESP's
error answers and retries, and test mode (nothing reaches the ESP or the outbox).

The rendering rules themselves (templates, escaping, refusals) are covered with the console
backend in test_record_actions.py.
"""

import json
import threading
import time
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from jsonschema import Draft202012Validator
from werkzeug import Response

from actions.registry import ActionContext, ActionError, registry
from workflows.validation.action_nodes import ConfigValidator

pytestmark = pytest.mark.django_db

TOKEN = "postmark-server-token-5e1d"
ACCEPTED = {
    "To": "billing@acme.example",
    "SubmittedAt": "2026-11-26T09:00:00Z",
    "MessageID": "b7bc2f4a-e38e-4336-af7d-e6c392c2f817",
    "ErrorCode": 0,
    "Message": "OK",
}
FAST_RETRY = {"max_attempts": 3, "backoff_seconds": 0.01, "jitter": False}
REMINDER = {
    "to": "billing@acme.example",
    "template": "invoice_reminder",
    "variables": {"invoice_number": "INV-0042", "amount": "1250.00", "due_date": "2026-11-10"},
    "tags": ["invoice-reminder"],
    "metadata": {"invoice_id": "42"},
}


@pytest.fixture(autouse=True)
def _local_postmark(settings, httpserver):
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1", "localhost"]
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.DEFAULT_FROM_EMAIL = "Billing <billing@example.com>"
    settings.ANYMAIL = {"POSTMARK_SERVER_TOKEN": TOKEN, "POSTMARK_API_URL": httpserver.url_for("/")}


def context(**extra):
    return ActionContext(
        execution=SimpleNamespace(public_id="exe_mail"),
        node_id="mail",
        path="mail",
        attempt=1,
        timezone=UTC,
        now=datetime(2026, 11, 26, 9, tzinfo=UTC),
        extra=extra,
    )


def send(config):
    return registry.get("send_email").run(config, context())


def failure(config):
    with pytest.raises(ActionError) as excinfo:
        send(config)
    return excinfo.value


def one_step(config, **node):
    return {
        "name": "Mail",
        "trigger": {"type": "manual"},
        "nodes": [
            {"id": "mail", "type": "action", "action": "send_email", "config": config, **node}
        ],
        "edges": [{"from": "trigger", "to": "mail"}],
    }


# -- the request the ESP gets -------------------------------------------------------------------


def test_posts_the_rendered_template_to_the_esp(httpserver):
    httpserver.expect_request("/email", method="POST").respond_with_json(ACCEPTED)
    result = send(REMINDER)

    request, _ = httpserver.log[0]
    assert (request.method, request.path) == ("POST", "/email")
    assert request.headers["X-Postmark-Server-Token"] == TOKEN
    assert request.headers["Content-Type"] == "application/json"
    body = request.get_json()
    assert body["From"] == "Billing <billing@example.com>"
    assert body["To"] == "billing@acme.example"
    assert body["Subject"] == "Reminder: invoice INV-0042 is overdue"
    assert "invoice INV-0042 for 1250.00, due on 2026-11-10" in body["TextBody"]
    assert "<strong>INV-0042</strong>" in body["HtmlBody"]
    # What lets the ESP's delivery and bounce webhooks find this run again.
    assert body["Tag"] == "invoice-reminder"
    assert body["Metadata"] == {"invoice_id": "42", "execution_id": "exe_mail", "step": "mail"}
    assert result["status"] == "sent"
    assert result["message_id"] == ACCEPTED["MessageID"]
    assert result["esp_status"] == ["sent"]


def test_the_execution_id_of_a_real_run_is_in_the_metadata(httpserver, run_workflow, mailoutbox):
    httpserver.expect_request("/email", method="POST").respond_with_json(ACCEPTED)
    execution = run_workflow(one_step(REMINDER))
    assert execution.status == "completed"
    metadata = httpserver.log[0][0].get_json()["Metadata"]
    assert metadata["execution_id"] == execution.public_id
    assert metadata["step"] == "mail"


def test_data_that_looks_like_an_expression_is_sent_as_it_is(httpserver, run_workflow):
    httpserver.expect_request("/email", method="POST").respond_with_json(ACCEPTED)
    config = {"to": "a@acme.example", "subject": "Hi {{ name }}", "body": "Dear {{ name }}"}
    execution = run_workflow(one_step(config), {"name": "{{ execution.id }}"})
    assert execution.status == "completed", execution.error
    body = httpserver.log[0][0].get_json()
    assert (body["Subject"], body["TextBody"]) == (
        "Hi {{ execution.id }}",
        "Dear {{ execution.id }}",
    )


@pytest.mark.parametrize(
    ("sender", "ok"),
    [
        ("billing@acme.example", True),
        ("Acme Billing <billing@acme.example>", True),
        ("nobody", False),
        ("Acme <billing@acme.example>\nBcc: x@evil.example", False),
    ],
)
def test_the_sender_is_checked(httpserver, sender, ok):
    httpserver.expect_request("/email", method="POST").respond_with_json(ACCEPTED)
    config = {**REMINDER, "from": sender}
    if ok:
        send(config)
        assert httpserver.log[0][0].get_json()["From"] == sender
    else:
        assert failure(config).kind == "invalid_config"
        assert httpserver.log == []


def test_what_the_esp_cannot_carry_is_a_config_error(httpserver):
    # Postmark takes one tag per message; anymail says so before anything is sent.
    error = failure({**REMINDER, "tags": ["invoice-reminder", "second"]})
    assert error.kind == "invalid_config"
    assert "multiple tags" in error.message
    assert httpserver.log == []


# -- the ESP's answers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (
            422,
            {"ErrorCode": 300, "Message": "Invalid 'To' address: 'billing@acme.example'."},
            "client_error",
        ),
        (
            422,
            {
                "ErrorCode": 406,
                "Message": "You tried to send to a recipient that has been marked as "
                "inactive.\nFound inactive addresses: billing@acme.example.\nInactive "
                "recipients are ones that have generated a hard bounce or a spam complaint.",
            },
            "client_error",
        ),
        (401, {"ErrorCode": 10, "Message": "No Account or Server API tokens"}, "client_error"),
        (429, {"ErrorCode": 0, "Message": "Rate limit exceeded"}, "rate_limited"),
        (500, {"ErrorCode": 0, "Message": "Internal error"}, "server_error"),
        (503, {"ErrorCode": 0, "Message": "Service unavailable"}, "server_error"),
    ],
)
def test_error_answers_map_to_kinds(httpserver, status, body, kind):
    httpserver.expect_request("/email", method="POST").respond_with_json(body, status=status)
    assert failure(REMINDER).kind == kind


def test_an_answer_that_echoes_the_token_does_not_keep_it(httpserver):
    body = {"ErrorCode": 10, "Message": f"Bad token {TOKEN}"}
    httpserver.expect_request("/email", method="POST").respond_with_json(body, status=401)
    error = failure(REMINDER)
    assert error.message.startswith("Postmark answered 401:")
    assert TOKEN not in error.message


def test_a_slow_esp_is_a_timeout(settings, httpserver):
    settings.ANYMAIL = {**settings.ANYMAIL, "REQUESTS_TIMEOUT": 0.2}
    released = threading.Event()

    def slow(request):
        released.wait(5)
        return Response(json.dumps(ACCEPTED), content_type="application/json")

    httpserver.expect_request("/email", method="POST").respond_with_handler(slow)
    error = failure(REMINDER)
    released.set()
    deadline = time.monotonic() + 5
    while not httpserver.log and time.monotonic() < deadline:
        time.sleep(0.01)
    assert (error.kind, error.message) == ("timeout", "the email service did not answer in time")


def test_an_unreachable_esp_is_a_connection_error(settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "POSTMARK_API_URL": "http://127.0.0.1:9/"}
    assert failure(REMINDER).kind == "connection"


# -- inside a workflow: retries and test mode ---------------------------------------------------


@pytest.mark.parametrize(
    ("statuses", "run_status", "requests"),
    [([401], "failed", 1), ([429, 200], "completed", 2), ([500, 503, 200], "completed", 3)],
)
def test_retries_follow_the_answer(httpserver, run_workflow, statuses, run_status, requests):
    for status in statuses:
        body = ACCEPTED if status == 200 else {"ErrorCode": 0, "Message": "no"}
        httpserver.expect_ordered_request("/email").respond_with_json(body, status=status)
    execution = run_workflow(one_step(REMINDER, retry=FAST_RETRY))
    assert execution.status == run_status
    assert len(httpserver.log) == requests
    stored = json.dumps([[s.input, s.output, s.error] for s in execution.steps.all()])
    assert TOKEN not in stored


def test_test_mode_sends_nothing(settings, httpserver, run_workflow, mailoutbox):
    execution = run_workflow(one_step(REMINDER), test=True)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    run_workflow(one_step(REMINDER), test=True)
    assert httpserver.log == []
    assert mailoutbox == []
    output = execution.steps.get().output
    assert output["status"] == "simulated"
    assert output["subject"] == "Reminder: invoice INV-0042 is overdue"
    assert output["metadata"]["execution_id"] == execution.public_id


# -- the catalog entry ------------------------------------------------------------------------


def test_the_schema_is_valid_and_accepts_every_example():
    action = registry.get("send_email")
    Draft202012Validator.check_schema(action.config_schema)
    assert action.examples
    for example in action.examples:
        assert list(ConfigValidator(action.config_schema).iter_errors(example)) == []
