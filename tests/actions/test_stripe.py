"""stripe_charge against a local server standing in for Stripe's API.

Each test checks what Stripe would receive (method, path, bearer key, Idempotency-Key, the
form-encoded PaymentIntent) or how its answers are read: a declined card is final, 429 and
5xx are retried with the same idempotency key, and test mode sends nothing.
"""

import json
import logging
import time
from datetime import UTC, datetime
from types import SimpleNamespace
from urllib.parse import parse_qsl

import pytest
from jsonschema import Draft202012Validator
from werkzeug import Response

from actions.models import Connection
from actions.registry import ActionContext, ActionError, registry
from actions.stripe_charge import minor_units
from crm.models import Customer
from tests.support.definitions import echo
from workflows.validation.action_nodes import ConfigValidator

pytestmark = pytest.mark.django_db

API_KEY = "sk_test_51Hx" + "9f2c7a" * 4
PAYMENT_METHOD = "pm_1Saved" + "c0ffee" * 3
INTENTS = "/v1/payment_intents"
FAST_RETRY = {"max_attempts": 3, "backoff_seconds": 0.01, "jitter": False}


def intent(**overrides):
    return {
        "id": "pi_3Test",
        "object": "payment_intent",
        "status": "succeeded",
        "amount": 125000,
        "currency": "usd",
        **overrides,
    }


def stripe_error(kind, message, status, **extra):
    return Response(
        json.dumps({"error": {"type": kind, "message": message, **extra}}),
        status=status,
        content_type="application/json",
        headers={"Request-Id": "req_test"},
    )


DECLINED = stripe_error(
    "card_error",
    "Your card has insufficient funds.",
    402,
    code="card_declined",
    decline_code="insufficient_funds",
)


@pytest.fixture(autouse=True)
def _local_stripe(settings, httpserver):
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1", "localhost"]
    settings.STRIPE_API_BASE = httpserver.url_for("/").rstrip("/")


@pytest.fixture
def stripe_connection():
    connection = Connection(name="stripe", provider="stripe")
    connection.secrets = {"api_key": API_KEY}
    connection.save()
    return connection


@pytest.fixture
def acme():
    return Customer.objects.create(
        name="Acme",
        email="ap@acme.example",
        stripe_customer_id="cus_Acme123",
        stripe_payment_method_id=PAYMENT_METHOD,
    )


def context(**overrides):
    values = {
        "execution": SimpleNamespace(public_id="exe_charge"),
        "node_id": "charge",
        "path": "charge",
        "attempt": 1,
        "timezone": UTC,
        "now": datetime(2026, 11, 26, 9, tzinfo=UTC),
    }
    return ActionContext(**{**values, **overrides})


def charge(config, **overrides):
    return registry.get("stripe_charge").run(config, context(**overrides))


def failure(config, **overrides):
    with pytest.raises(ActionError) as excinfo:
        charge(config, **overrides)
    return excinfo.value


def config_for(acme, **overrides):
    return {
        "connection": "stripe",
        "customer": acme.pk,
        "amount": "1250.00",
        "currency": "usd",
        **overrides,
    }


def form(request):
    return dict(parse_qsl(request.get_data(as_text=True)))


# -- the request Stripe receives --------------------------------------------------------------


def test_creates_a_confirmed_off_session_payment_intent(httpserver, stripe_connection, acme):
    httpserver.expect_request(INTENTS, method="POST").respond_with_json(intent())
    result = charge(config_for(acme, description="Invoice INV-7", metadata={"invoice": "INV-7"}))

    assert result == {
        "payment_intent_id": "pi_3Test",
        "status": "succeeded",
        "amount": "1250.00",
        "amount_minor": 125000,
        "currency": "usd",
        "customer": "cus_Acme123",
    }
    [(request, _response)] = httpserver.log
    assert request.method == "POST"
    assert request.path == INTENTS
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.headers["Idempotency-Key"] == "exe_charge:charge"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert form(request) == {
        "amount": "125000",
        "currency": "usd",
        "customer": "cus_Acme123",
        "payment_method": PAYMENT_METHOD,
        "off_session": "true",
        "confirm": "true",
        "description": "Invoice INV-7",
        "metadata[invoice]": "INV-7",
        "metadata[execution_id]": "exe_charge",
        "metadata[workflow_step]": "charge",
    }
    stripe_connection.refresh_from_db()
    assert stripe_connection.last_used_at is not None
    assert stripe_connection.last_error == ""


def test_the_payment_method_comes_from_the_customer_record_only(
    httpserver, stripe_connection, acme
):
    # Whatever the workflow's data says, the saved card of the customer record is charged.
    httpserver.expect_request(INTENTS).respond_with_json(intent())
    charge(config_for(acme, payment_method="pm_attacker", customer={"id": acme.pk}))
    [(request, _response)] = httpserver.log
    assert form(request)["payment_method"] == PAYMENT_METHOD
    assert "pm_attacker" not in request.get_data(as_text=True)


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("1250.00", "usd", 125000),
        ("0.5", "EUR", 50),
        (19.99, "gbp", 1999),  # a JSON float is read as the number it shows
        (12, "usd", 1200),
        ("5000", "jpy", 5000),  # zero-decimal: yen have no cents
        ("1500", "KRW", 1500),
        ("12.340", "kwd", 12340),  # three decimals, ending in 0
        ("1000", "isk", 100000),  # two decimals in the API, whole krónur only
    ],
)
def test_amounts_in_the_smallest_unit(amount, currency, minor):
    assert minor_units(amount, currency) == minor


@pytest.mark.parametrize(
    ("amount", "currency", "message"),
    [
        ("10.005", "usd", "amounts in USD are multiples of 0.01"),
        ("5000.5", "jpy", "amounts in JPY are multiples of 1"),
        ("12.345", "kwd", "amounts in KWD are multiples of 0.010"),
        ("10.50", "isk", "amounts in ISK are multiples of 1.00"),
        ("0", "usd", "is not a positive number"),
        ("-5", "usd", "is not a positive number"),
        ("abc", "usd", "is not a positive number"),
        (True, "usd", "is not a positive number"),
        ("1e12", "usd", "is too large"),
    ],
)
def test_amounts_that_cannot_be_charged_exactly_are_refused(amount, currency, message):
    with pytest.raises(ActionError) as excinfo:
        minor_units(amount, currency)
    assert excinfo.value.kind == "invalid_config"
    assert message in excinfo.value.message


@pytest.mark.parametrize(
    ("change", "kind", "message"),
    [
        ({"stripe_payment_method_id": ""}, "invalid_config", "has no saved payment method"),
        ({"stripe_customer_id": ""}, "invalid_config", "has no Stripe customer"),
    ],
)
def test_a_customer_without_a_saved_card_is_refused_before_sending(
    httpserver, stripe_connection, acme, change, kind, message
):
    Customer.objects.filter(pk=acme.pk).update(**change)
    error = failure(config_for(acme))
    assert (error.kind, message in error.message) == (kind, True)
    assert httpserver.log == []


@pytest.mark.parametrize(
    ("overrides", "kind", "message"),
    [
        ({"customer": 999_999}, "not_found", "no customer with id 999999"),
        ({"currency": "dollars"}, "invalid_config", "is not a three-letter code"),
        ({"connection": "nope"}, "not_found", "there is no connection 'nope'"),
    ],
)
def test_bad_configs_send_nothing(httpserver, stripe_connection, acme, overrides, kind, message):
    error = failure(config_for(acme, **overrides))
    assert error.kind == kind
    assert message in error.message
    assert httpserver.log == []


def test_a_connection_for_another_provider_is_refused(httpserver, acme):
    Connection.objects.create(name="stripe", provider="zapier")
    error = failure(config_for(acme))
    assert error.kind == "invalid_config"
    assert httpserver.log == []


# -- Stripe's answers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "kind", "message"),
    [
        (DECLINED, "client_error", "Stripe declined the charge: Your card has insufficient funds."),
        (
            stripe_error("invalid_request_error", "Too many requests", 429, code="rate_limit"),
            "rate_limited",
            "Stripe is rate limiting",
        ),
        (stripe_error("api_error", "Something went wrong", 500), "server_error", "answered 500"),
        (
            stripe_error("invalid_request_error", f"Invalid API Key provided: {API_KEY}", 401),
            "client_error",
            "Stripe refused the connection's API key: Invalid API Key provided: ***",
        ),
        (
            stripe_error(
                "invalid_request_error", f"No such PaymentMethod: '{PAYMENT_METHOD}'", 400
            ),
            "client_error",
            "Stripe answered 400: No such PaymentMethod: '***'",
        ),
    ],
)
def test_stripe_errors_map_to_kinds_without_secrets(
    httpserver, stripe_connection, acme, answer, kind, message
):
    httpserver.expect_request(INTENTS).respond_with_response(answer)
    error = failure(config_for(acme))
    assert error.kind == kind
    assert message in error.message
    assert API_KEY not in error.message
    assert PAYMENT_METHOD not in error.message
    stripe_connection.refresh_from_db()
    assert stripe_connection.last_error
    assert API_KEY not in stripe_connection.last_error


def test_a_declined_card_keeps_stripes_codes(httpserver, stripe_connection, acme):
    httpserver.expect_request(INTENTS).respond_with_response(DECLINED)
    error = failure(config_for(acme))
    assert error.details["stripe_code"] == "card_declined"
    assert error.details["decline_code"] == "insufficient_funds"
    assert error.details["http_status"] == 402


def test_an_unreachable_stripe_is_a_connection_error(settings, stripe_connection, acme):
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # the discard port: nothing listens
    error = failure(config_for(acme))
    assert error.kind in ("connection", "timeout")
    assert "could not reach Stripe" in error.message


def test_a_slow_stripe_is_a_timeout(httpserver, stripe_connection, acme):
    def slow(request):
        time.sleep(1.5)
        return Response(json.dumps(intent()), content_type="application/json")

    httpserver.expect_request(INTENTS).respond_with_handler(slow)
    error = failure(config_for(acme), extra={"timeout_seconds": 0.5})
    assert error.kind == "timeout"
    # Let the handler finish, so its late log entry does not land in the next test's log.
    deadline = time.monotonic() + 5
    while not httpserver.log and time.monotonic() < deadline:
        time.sleep(0.05)


# -- retries through the engine ---------------------------------------------------------------


def one_step(config, **node):
    return {
        "name": "Charge",
        "trigger": {"type": "manual"},
        "nodes": [
            {"id": "charge", "type": "action", "action": "stripe_charge", "config": config, **node}
        ],
        "edges": [{"from": "trigger", "to": "charge"}],
    }


OK = Response(json.dumps(intent()), content_type="application/json")


@pytest.mark.parametrize(
    ("answers", "run_status", "requests"),
    [
        ([DECLINED], "failed", 1),  # a decline is final: never charge a card again
        ([stripe_error("invalid_request_error", "slow down", 429), OK], "completed", 2),
        (
            [stripe_error("api_error", "x", 500), stripe_error("api_error", "x", 503), OK],
            "completed",
            3,
        ),
        ([stripe_error("api_error", "x", 502)] * 3, "failed", 3),
    ],
)
def test_retries_follow_the_answer_with_the_same_idempotency_key(
    httpserver, stripe_connection, acme, run_workflow, caplog, answers, run_status, requests
):
    caplog.set_level(logging.DEBUG)
    for answer in answers:
        httpserver.expect_ordered_request(INTENTS).respond_with_response(answer)
    execution = run_workflow(one_step(config_for(acme), retry=FAST_RETRY))
    assert execution.status == run_status
    assert len(httpserver.log) == requests
    keys = {request.headers["Idempotency-Key"] for request, _ in httpserver.log}
    assert keys == {f"{execution.public_id}:charge"}  # a retry can never charge twice
    stored = json.dumps(
        [[s.input, s.output, s.error] for s in execution.steps.all()] + [execution.error]
    )
    assert API_KEY not in stored
    assert PAYMENT_METHOD not in stored
    assert API_KEY not in caplog.text


def test_a_run_binds_the_payment_intent(httpserver, stripe_connection, acme, run_workflow):
    httpserver.expect_request(INTENTS).respond_with_json(intent(status="processing"))
    workflow = one_step(
        {
            "connection": "stripe",
            "customer": "{{ invoice.customer.id }}",
            "amount": "{{ invoice.amount }}",
            "currency": "{{ invoice.currency }}",
        },
        outputs=["payment_intent_id", "status", "amount"],
    )
    # What the steps after it see under those names.
    seen = {"payment_intent_id": "{{ payment_intent_id }}", "status": "{{ status }}"}
    workflow["nodes"].append(echo("seen", {**seen, "amount": "{{ amount }}"}, [*seen, "amount"]))
    workflow["edges"].append({"from": "charge", "to": "seen"})
    execution = run_workflow(
        workflow,
        {"invoice": {"customer": {"id": acme.pk}, "amount": "1250.00", "currency": "USD"}},
    )
    assert execution.status == "completed"
    assert execution.steps.get(node_id="seen").output["seen"] == {
        "payment_intent_id": "pi_3Test",
        "status": "processing",
        "amount": "1250.00",
    }


# -- test mode --------------------------------------------------------------------------------


def test_test_mode_sends_nothing_and_shows_the_request(
    httpserver, stripe_connection, acme, run_workflow
):
    execution = run_workflow(one_step(config_for(acme)), test=True)
    assert execution.status == "completed"
    assert httpserver.log == []
    output = execution.steps.get().output
    assert output["simulated"] is True
    assert output["request"]["method"] == "POST"
    assert output["request"]["url"] == httpserver.url_for(INTENTS)
    assert output["request"]["headers"] == {
        "Authorization": "Bearer ***",
        "Idempotency-Key": f"{execution.public_id}:charge",
    }
    body = output["request"]["body"]
    assert (body["amount"], body["currency"], body["customer"]) == (125000, "usd", "cus_Acme123")
    assert body["off_session"] is True
    assert body["confirm"] is True
    assert PAYMENT_METHOD not in json.dumps(output)
    assert API_KEY not in json.dumps(output)
    stripe_connection.refresh_from_db()
    assert stripe_connection.last_used_at is None


# -- the catalog entry ------------------------------------------------------------------------


def test_the_schema_is_valid_and_accepts_every_example():
    action = registry.get("stripe_charge")
    Draft202012Validator.check_schema(action.config_schema)
    validator = ConfigValidator(action.config_schema)
    assert action.examples
    for example in action.examples:
        assert list(validator.iter_errors(example)) == []
    # The card is never a config field: the workflow cannot choose it.
    assert "payment_method" not in action.config_schema["properties"]
    assert list(validator.iter_errors({**action.examples[1], "payment_method": "pm_x"}))
