"""send_sms against a local server standing in for Twilio's REST API.

Each test checks what Twilio would receive (method, path, basic auth, form fields) or how
its answer is read (4xx not retried, 429 and 5xx retried, timeouts); test mode sends nothing.
"""

import base64
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

ACCOUNT = "AC" + "0123456789abcdef" * 2
TOKEN = "twilio-auth-token-7f3a9c"
MESSAGES = f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
FAST_RETRY = {"max_attempts": 3, "backoff_seconds": 0.01, "jitter": False}
SENT = {"sid": "SM" + "a" * 32, "status": "queued", "to": "+14155550100", "body": "Hi"}


@pytest.fixture(autouse=True)
def _local_twilio(settings, httpserver):
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1", "localhost"]
    settings.TWILIO_API_BASE = httpserver.url_for("/").rstrip("/")


@pytest.fixture
def twilio():
    connection = Connection(
        name="twilio",
        provider="twilio",
        config={"account_sid": ACCOUNT, "from_number": "+14155550199"},
    )
    connection.secrets = {"auth_token": TOKEN}
    connection.save()
    return connection


def context(**extra):
    return step_context("sms", **extra)


def send(config, **extra):
    return run_step("send_sms", "sms", config, **extra)


def failure(config, **extra):
    return step_failure("send_sms", "sms", config, **extra)


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def one_step(config, **node):
    return one_step_workflow("SMS", "sms", "send_sms", config, **node)


BASE = {"connection": "twilio", "to": "+14155550100", "body": "Invoice INV-7 is overdue"}


# -- the request Twilio gets ------------------------------------------------------------------


def test_posts_the_messages_form_with_basic_auth(httpserver, twilio):
    httpserver.expect_request(MESSAGES, method="POST").respond_with_json(SENT, status=201)
    callback = "https://example.com/hooks/twilio/status"
    result = send({**BASE, "status_callback": callback})

    request, _ = httpserver.log[0]
    assert (request.method, request.path) == ("POST", MESSAGES)
    assert request.headers["Authorization"] == basic(ACCOUNT, TOKEN)
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.form.to_dict(flat=False) == {
        "To": ["+14155550100"],
        "From": ["+14155550199"],
        "Body": ["Invoice INV-7 is overdue"],
        "StatusCallback": [callback],
    }
    assert result == {"sid": SENT["sid"], "status": "queued", "to": "+14155550100"}
    twilio.refresh_from_db()
    assert (twilio.last_used_at is not None, twilio.last_error) == (True, "")


def test_a_messaging_service_replaces_the_sender(httpserver, twilio):
    httpserver.expect_request(MESSAGES, method="POST").respond_with_json(SENT, status=201)
    service = "MG" + "f" * 32
    send({**BASE, "messaging_service_sid": service})
    form = httpserver.log[0][0].form.to_dict()
    assert form == {"To": "+14155550100", "MessagingServiceSid": service, "Body": BASE["body"]}


def test_an_api_key_signs_in_for_the_account(httpserver, twilio):
    twilio.config = {**twilio.config, "api_key_sid": "SK" + "1" * 32}
    twilio.secrets = {"api_key_secret": "key-secret-42"}
    twilio.save()
    httpserver.expect_request(MESSAGES, method="POST").respond_with_json(SENT, status=201)
    send(BASE)
    request = httpserver.log[0][0]
    assert request.path == MESSAGES  # still the account's messages
    assert request.headers["Authorization"] == basic("SK" + "1" * 32, "key-secret-42")


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("+14155550100", "+14155550100"),
        ("+1 (415) 555-0100", "+14155550100"),  # punctuation people type is dropped
        ("0044 7700 900123", "+447700900123"),  # the international 00 prefix
    ],
)
def test_numbers_are_sent_in_e164(httpserver, twilio, typed, sent):
    httpserver.expect_request(MESSAGES, method="POST").respond_with_json(SENT, status=201)
    send({**BASE, "to": typed})
    assert httpserver.log[0][0].form["To"] == sent


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({**BASE, "to": "4155550100"}, "to: '4155550100' is not a phone number in E.164 form"),
        ({**BASE, "to": "+0123456"}, "to: '+0123456' is not a phone number in E.164"),
        ({**BASE, "to": "+1234567890123456"}, "is not a phone number in E.164 form"),
        ({**BASE, "to": "call me"}, "to: 'call me' is not a phone number"),
        ({**BASE, "from": "ACME"}, "from: 'ACME' is not a phone number"),
        ({**BASE, "messaging_service_sid": "MG1"}, "messaging_service_sid: 'MG1' is not"),
        ({**BASE, "body": "  "}, "body: the message is empty"),
        ({**BASE, "body": "x" * 1601}, "body: 1601 characters, Twilio takes at most 1600"),
        ({**BASE, "status_callback": "ftp://x"}, "status_callback: 'ftp://x' is not an http"),
        ({**BASE, "connection": "nope"}, "there is no connection 'nope'"),
    ],
)
def test_refuses_bad_config_before_sending(httpserver, twilio, config, message):
    for method in ("run", "simulate"):
        with pytest.raises(ActionError) as excinfo:
            getattr(registry.get("send_sms"), method)(config, context())
        assert message in excinfo.value.message
        assert excinfo.value.kind in ("invalid_config", "not_found")
    assert httpserver.log == []


def test_a_connection_without_a_sender_is_a_clear_error(httpserver, twilio):
    twilio.config = {"account_sid": ACCOUNT}
    twilio.save()
    error = failure(BASE)
    assert (error.kind, error.message) == (
        "invalid_config",
        "from: give a sender number or a messaging service SID (here or in the connection)",
    )


def test_a_connection_without_its_token_is_a_clear_error(twilio):
    twilio.secrets = {}
    twilio.save()
    error = failure(BASE)
    assert error.kind == "invalid_config"
    assert "auth_token" in error.message


# -- Twilio's answers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "kind", "message"),
    [
        (
            400,
            {"code": 21211, "message": "The 'To' number is not valid.", "status": 400},
            "client_error",
            "Twilio answered 400 (error 21211): The 'To' number is not valid.",
        ),
        (
            401,
            {"code": 20003, "message": "Authenticate", "status": 401},
            "client_error",
            "Twilio answered 401 (error 20003): Authenticate - check the credentials of "
            "connection 'twilio'",
        ),
        (
            429,
            {"code": 20429, "message": "Too Many Requests", "status": 429},
            "rate_limited",
            "Twilio answered 429 (error 20429): Too Many Requests",
        ),
        (500, {"message": "Internal error", "status": 500}, "server_error", "Twilio answered 500"),
        (503, {"message": "Unavailable", "status": 503}, "server_error", "Twilio answered 503"),
    ],
)
def test_error_answers_map_to_kinds(httpserver, twilio, status, body, kind, message):
    httpserver.expect_request(MESSAGES, method="POST").respond_with_json(body, status=status)
    error = failure(BASE)
    assert (error.kind, error.message.startswith(message)) == (kind, True), error.message
    assert error.details["status"] == status
    twilio.refresh_from_db()
    assert twilio.last_error == error.message


def test_an_error_that_echoes_the_token_does_not_keep_it(httpserver, twilio):
    body = {"code": 20003, "message": f"token {TOKEN} is wrong", "status": 401}
    httpserver.expect_request(MESSAGES, method="POST").respond_with_json(body, status=401)
    error = failure(BASE)
    assert TOKEN not in error.message
    assert "***" in error.message
    twilio.refresh_from_db()
    assert TOKEN not in twilio.last_error


def test_a_slow_twilio_is_a_timeout(httpserver, twilio):
    released = threading.Event()

    def slow(request):
        released.wait(5)
        return Response(json.dumps(SENT), status=201, content_type="application/json")

    httpserver.expect_request(MESSAGES, method="POST").respond_with_handler(slow)
    error = failure(BASE, timeout_seconds=0.2)
    assert (error.kind, error.message) == ("timeout", "Twilio did not answer in time")
    released.set()
    wait_for(lambda: len(httpserver.log) == 1)  # the server is done before the next test


def test_an_unreachable_twilio_is_a_connection_error(settings, twilio):
    settings.TWILIO_API_BASE = "http://127.0.0.1:9"  # the discard port: nothing listens
    error = failure(BASE)
    assert error.kind == "connection"
    assert TOKEN not in error.message


# -- inside a workflow: retries and test mode ---------------------------------------------------


@pytest.mark.parametrize(
    ("statuses", "run_status", "requests"),
    [
        ([400], "failed", 1),  # a 4xx is not retried
        ([429, 201], "completed", 2),  # rate limited, then sent
        ([503, 500, 201], "completed", 3),
        ([503, 503, 503], "failed", 3),  # gives up after max_attempts
    ],
)
def test_retries_follow_the_answer(
    httpserver, twilio, run_workflow, statuses, run_status, requests
):
    for status in statuses:
        body = SENT if status == 201 else {"code": 1, "message": "no", "status": status}
        httpserver.expect_ordered_request(MESSAGES, method="POST").respond_with_json(
            body, status=status
        )
    execution = run_workflow(one_step(BASE, retry=FAST_RETRY))
    assert execution.status == run_status
    assert len(httpserver.log) == requests
    steps = list(execution.steps.order_by("id"))
    assert [s.attempt for s in steps] == list(range(1, requests + 1))
    stored = json.dumps([[s.input, s.output, s.error] for s in steps] + [execution.error])
    assert TOKEN not in stored


def test_test_mode_sends_nothing_and_shows_the_request(httpserver, twilio, run_workflow):
    execution = run_workflow(one_step(BASE), test=True)
    assert execution.status == "completed"
    assert httpserver.log == []
    output = execution.steps.get().output
    assert output == {
        "simulated": True,
        "request": {
            "method": "POST",
            "url": httpserver.url_for(MESSAGES),
            "auth": f"basic {ACCOUNT}:(secret of connection 'twilio')",
            "form": {"To": "+14155550100", "From": "+14155550199", "Body": BASE["body"]},
        },
    }
    assert TOKEN not in json.dumps(output)


# -- the catalog entry ------------------------------------------------------------------------


def test_the_schema_is_valid_and_accepts_every_example():
    action = registry.get("send_sms")
    Draft202012Validator.check_schema(action.config_schema)
    assert action.examples
    for example in action.examples:
        assert list(ConfigValidator(action.config_schema).iter_errors(example)) == []
    assert action.describe()["outputs"] == ["sid", "status", "to"]
