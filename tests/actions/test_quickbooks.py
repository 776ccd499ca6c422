"""quickbooks_sync against a local server standing in for QuickBooks Online and Intuit's
OAuth 2 token endpoint.

Each test checks what QuickBooks would receive (method, path, query, bearer token, Accept,
JSON body), that the remote id is recorded so a second sync updates (Id + SyncToken, sparse)
instead of duplicating, that an expired or rejected token is refreshed and stored, how error
answers are read, and that test mode sends and writes nothing.
"""

import base64
import json
import logging
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from urllib.parse import parse_qsl

import pytest
from django.utils import timezone
from jsonschema import Draft202012Validator
from werkzeug import Response

from actions.models import Connection
from actions.quickbooks import QuickBooks, customer_body, push, request_id
from actions.registry import ActionContext, ActionError, registry
from crm.models import Customer, Invoice
from workflows.validation.action_nodes import ConfigValidator

pytestmark = pytest.mark.django_db

REALM = "9130357"
CUSTOMERS = f"/v3/company/{REALM}/customer"
INVOICES = f"/v3/company/{REALM}/invoice"
TOKENS = "/oauth2/v1/tokens/bearer"
ACCESS = "eyJhbGciOi.access-token-" + "a1b2" * 6
REFRESHED = "eyJhbGciOi.new-access-" + "c3d4" * 6
REFRESH = "AB11-refresh-token-" + "e5f6" * 5
ROTATED = "AB11-rotated-refresh-" + "a7b8" * 5
CLIENT_ID = "ABclient0123456789"
CLIENT_SECRET = "client-secret-" + "9z8y" * 5
SECRETS = (ACCESS, REFRESHED, REFRESH, ROTATED, CLIENT_SECRET)
FAST_RETRY = {"max_attempts": 3, "backoff_seconds": 0.01, "jitter": False}


@pytest.fixture(autouse=True)
def _local_quickbooks(settings, httpserver):
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1", "localhost"]
    settings.QUICKBOOKS_API_BASE = httpserver.url_for("/").rstrip("/")
    settings.QUICKBOOKS_TOKEN_URL = httpserver.url_for(TOKENS)


def _connection(expires_at):
    connection = Connection(
        name="quickbooks", provider="quickbooks", config={"realm_id": REALM, "item_id": "1"}
    )
    connection.secrets = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "access_token": ACCESS,
        "refresh_token": REFRESH,
        "expires_at": expires_at.isoformat(),
    }
    connection.save()
    return connection


@pytest.fixture
def qbo():
    return _connection(timezone.now() + timedelta(minutes=50))


@pytest.fixture
def expired_qbo():
    return _connection(timezone.now() - timedelta(minutes=5))


@pytest.fixture
def acme():
    return Customer.objects.create(
        name="Acme Corp", email="ap@acme.example", phone="+1 415 555 0100", type="enterprise"
    )


@pytest.fixture
def invoice(acme):
    return Invoice.objects.create(
        number="INV-0042",
        customer=acme,
        amount=Decimal("1250.05"),
        issue_date=date(2026, 11, 1),
        due_date=date(2026, 11, 30),
    )


def context(**overrides):
    values = {
        "execution": SimpleNamespace(public_id="exe_qb"),
        "node_id": "qb",
        "path": "qb",
        "attempt": 1,
        "timezone": UTC,
        "now": datetime(2026, 11, 26, 9, tzinfo=UTC),
    }
    return ActionContext(**{**values, **overrides})


def sync(config, **overrides):
    return registry.get("quickbooks_sync").run(config, context(**overrides))


def failure(config):
    with pytest.raises(ActionError) as excinfo:
        sync(config)
    return excinfo.value


def saved(entity, remote_id, version="0", **fields):
    """QuickBooks' answer for an entity; `version` is its SyncToken."""
    return {entity: {"Id": remote_id, "SyncToken": version, **fields}, "time": "2026-11-26"}


def fault(message, detail="", code="6000", status=400):
    body = {"Fault": {"Error": [{"Message": message, "Detail": detail, "code": code}]}}
    return Response(json.dumps(body), status=status, content_type="application/json")


def sent(request):
    return json.loads(request.get_data(as_text=True))


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def assert_api_headers(request, token=ACCESS):
    assert request.headers["Authorization"] == f"Bearer {token}"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Content-Type"] == "application/json"


# -- customers: create, then update -----------------------------------------------------------


def test_a_first_sync_creates_the_customer_and_records_its_id(httpserver, qbo, acme):
    httpserver.expect_request(
        CUSTOMERS,
        method="POST",
        query_string={"minorversion": "75", "requestid": request_id(context(), "customer")},
    ).respond_with_json(saved("Customer", "58"))

    result = sync({"connection": "quickbooks", "record": "customer", "id": acme.pk})

    [(request, _response)] = httpserver.log
    assert_api_headers(request)
    assert sent(request) == {
        "DisplayName": "Acme Corp",
        "CompanyName": "Acme Corp",
        "PrimaryEmailAddr": {"Address": "ap@acme.example"},
        "PrimaryPhone": {"FreeFormNumber": "+1 415 555 0100"},
    }
    acme.refresh_from_db()
    assert acme.quickbooks_id == "58"
    assert result == {
        "record": "customer",
        "id": acme.pk,
        "quickbooks_id": "58",
        "operation": "created",
        "sync_token": "0",
        "customer_quickbooks_id": "58",
    }
    assert len(request_id(context(), "customer")) <= 50  # QuickBooks' limit


def test_a_second_sync_updates_with_the_current_sync_token(httpserver, qbo, acme):
    Customer.objects.filter(pk=acme.pk).update(quickbooks_id="58", email="new@acme.example")
    httpserver.expect_ordered_request(
        f"{CUSTOMERS}/58", method="GET", query_string={"minorversion": "75"}
    ).respond_with_json(saved("Customer", "58", version="3"))
    httpserver.expect_ordered_request(
        CUSTOMERS, method="POST", query_string={"minorversion": "75"}
    ).respond_with_json(saved("Customer", "58", version="4"))

    result = sync({"connection": "quickbooks", "record": "customer", "id": acme.pk})

    (read, _), (update, _) = httpserver.log
    assert_api_headers(read)
    assert_api_headers(update)
    body = sent(update)
    assert (body["Id"], body["SyncToken"], body["sparse"]) == ("58", "3", True)
    assert body["PrimaryEmailAddr"] == {"Address": "new@acme.example"}
    assert "requestid" not in update.args
    assert (result["operation"], result["sync_token"]) == ("updated", "4")
    acme.refresh_from_db()
    assert acme.quickbooks_id == "58"


def test_syncing_twice_creates_once(httpserver, qbo, acme):
    httpserver.expect_request(CUSTOMERS, method="POST").respond_with_json(saved("Customer", "58"))
    httpserver.expect_request(f"{CUSTOMERS}/58", method="GET").respond_with_json(
        saved("Customer", "58", version="0")
    )
    config = {"connection": "quickbooks", "record": "customer", "id": acme.pk}
    assert sync(config)["operation"] == "created"
    assert sync(config, path="qb2")["operation"] == "updated"
    posts = [r for r, _ in httpserver.log if r.method == "POST"]
    assert [("Id" in sent(r)) for r in posts] == [False, True]


def test_the_remote_id_is_read_again_before_creating(httpserver, qbo, acme):
    # Another run recorded the id after this one loaded the customer: update, never create.
    stale = Customer.objects.get(pk=acme.pk)
    Customer.objects.filter(pk=acme.pk).update(quickbooks_id="58")
    httpserver.expect_request(f"{CUSTOMERS}/58", method="GET").respond_with_json(
        saved("Customer", "58", version="2")
    )
    httpserver.expect_request(CUSTOMERS, method="POST").respond_with_json(
        saved("Customer", "58", version="3")
    )
    operation, _saved = push(QuickBooks(qbo), "customer", stale, customer_body(stale), context())
    assert operation == "updated"
    assert [r.method for r, _ in httpserver.log] == ["GET", "POST"]


# -- invoices ---------------------------------------------------------------------------------


def test_an_invoice_is_pushed_after_its_customer(httpserver, qbo, invoice, acme):
    httpserver.expect_ordered_request(CUSTOMERS, method="POST").respond_with_json(
        saved("Customer", "58")
    )
    httpserver.expect_ordered_request(
        INVOICES,
        method="POST",
        query_string={"minorversion": "75", "requestid": request_id(context(), "invoice")},
    ).respond_with_json(saved("Invoice", "130"))

    result = sync({"connection": "quickbooks", "record": "invoice", "id": invoice.pk})

    (_, _), (request, _) = httpserver.log
    assert_api_headers(request)
    assert sent(request) == {
        "CustomerRef": {"value": "58"},
        "DocNumber": "INV-0042",
        "TxnDate": "2026-11-01",
        "DueDate": "2026-11-30",
        "Line": [
            {
                "Amount": 1250.05,
                "DetailType": "SalesItemLineDetail",
                "Description": "Invoice INV-0042",
                "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 1, "UnitPrice": 1250.05},
            }
        ],
    }
    invoice.refresh_from_db()
    acme.refresh_from_db()
    assert (invoice.quickbooks_id, acme.quickbooks_id) == ("130", "58")
    assert result["operation"] == "created"
    assert result["customer_quickbooks_id"] == "58"


def test_a_synced_invoice_is_updated(httpserver, qbo, invoice, acme):
    Customer.objects.filter(pk=acme.pk).update(quickbooks_id="58")
    Invoice.objects.filter(pk=invoice.pk).update(quickbooks_id="130", amount=Decimal("99.90"))
    httpserver.expect_ordered_request(f"{INVOICES}/130", method="GET").respond_with_json(
        saved("Invoice", "130", version="7")
    )
    httpserver.expect_ordered_request(INVOICES, method="POST").respond_with_json(
        saved("Invoice", "130", version="8")
    )
    result = sync(
        {"connection": "quickbooks", "record": "invoice", "id": invoice.pk, "item_id": "9"}
    )
    body = sent(httpserver.log[-1][0])
    assert (body["Id"], body["SyncToken"], body["sparse"]) == ("130", "7", True)
    assert body["CustomerRef"] == {"value": "58"}
    assert body["Line"][0]["Amount"] == 99.9
    assert body["Line"][0]["SalesItemLineDetail"]["ItemRef"] == {"value": "9"}
    assert result["operation"] == "updated"
    assert len(httpserver.log) == 2  # no customer request: it was synced already


def test_an_invoice_needs_an_item(httpserver, qbo, invoice):
    qbo.config = {"realm_id": REALM}
    qbo.save()
    error = failure({"connection": "quickbooks", "record": "invoice", "id": invoice.pk})
    assert error.kind == "invalid_config"
    assert "item_id" in error.message
    assert httpserver.log == []


# -- tokens -----------------------------------------------------------------------------------


def test_an_expired_token_is_refreshed_stored_and_used(httpserver, expired_qbo, acme):
    httpserver.expect_ordered_request(TOKENS, method="POST").respond_with_json(
        {
            "access_token": REFRESHED,
            "refresh_token": ROTATED,
            "expires_in": 3600,
            "x_refresh_token_expires_in": 8726400,
            "token_type": "bearer",
        }
    )
    httpserver.expect_ordered_request(CUSTOMERS, method="POST").respond_with_json(
        saved("Customer", "58")
    )

    sync({"connection": "quickbooks", "record": "customer", "id": acme.pk})

    (token_request, _), (api_request, _) = httpserver.log
    assert token_request.headers["Authorization"] == basic(CLIENT_ID, CLIENT_SECRET)
    assert token_request.headers["Accept"] == "application/json"
    assert token_request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert dict(parse_qsl(token_request.get_data(as_text=True))) == {
        "grant_type": "refresh_token",
        "refresh_token": REFRESH,
    }
    assert_api_headers(api_request, token=REFRESHED)
    expired_qbo.refresh_from_db()
    stored = expired_qbo.secrets
    assert (stored["access_token"], stored["refresh_token"]) == (REFRESHED, ROTATED)
    assert datetime.fromisoformat(stored["expires_at"]) > timezone.now() + timedelta(minutes=55)
    assert stored["client_secret"] == CLIENT_SECRET


def test_a_rejected_token_is_refreshed_once_and_the_call_repeated(httpserver, qbo, acme):
    httpserver.expect_ordered_request(CUSTOMERS, method="POST").respond_with_response(
        fault("AuthenticationFailed", code="100", status=401)
    )
    httpserver.expect_ordered_request(TOKENS, method="POST").respond_with_json(
        {"access_token": REFRESHED, "refresh_token": ROTATED, "expires_in": 3600}
    )
    httpserver.expect_ordered_request(CUSTOMERS, method="POST").respond_with_json(
        saved("Customer", "58")
    )
    sync({"connection": "quickbooks", "record": "customer", "id": acme.pk})
    assert [r.path for r, _ in httpserver.log] == [CUSTOMERS, TOKENS, CUSTOMERS]
    assert_api_headers(httpserver.log[0][0], token=ACCESS)
    assert_api_headers(httpserver.log[2][0], token=REFRESHED)
    # The repeated create carries the same requestid: QuickBooks answers it once.
    assert httpserver.log[0][0].args["requestid"] == httpserver.log[2][0].args["requestid"]


def test_a_refused_refresh_asks_to_reconnect_without_secrets(httpserver, expired_qbo, acme):
    httpserver.expect_request(TOKENS, method="POST").respond_with_json(
        {"error": "invalid_grant"}, status=400
    )
    error = failure({"connection": "quickbooks", "record": "customer", "id": acme.pk})
    assert error.kind == "client_error"
    assert "refreshing the access token: invalid_grant" in error.message
    assert "reconnect the QuickBooks connection" in error.message
    expired_qbo.refresh_from_db()
    assert expired_qbo.secrets["refresh_token"] == REFRESH  # unchanged
    for secret in SECRETS:
        assert secret not in error.message
        assert secret not in expired_qbo.last_error


# -- QuickBooks' answers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "kind", "message"),
    [
        (
            fault("Duplicate Name Exists Error", "The name supplied already exists.", "6240"),
            "client_error",
            "answered 400 to POST customer: Duplicate Name Exists Error - The name supplied",
        ),
        (fault("Throttle", status=429), "rate_limited", "answered 429"),
        (fault("Internal", status=503), "server_error", "answered 503"),
        (Response("<html>gateway</html>", status=502), "server_error", "answered 502"),
        (fault("Forbidden", status=403), "client_error", "answered 403"),
        (
            fault(f"Token {ACCESS} is invalid", status=400),
            "client_error",
            "Token *** is invalid",
        ),
    ],
)
def test_errors_map_to_kinds_without_secrets(httpserver, qbo, acme, answer, kind, message):
    httpserver.expect_request(CUSTOMERS, method="POST").respond_with_response(answer)
    error = failure({"connection": "quickbooks", "record": "customer", "id": acme.pk})
    assert error.kind == kind
    assert message in error.message
    assert ACCESS not in error.message
    acme.refresh_from_db()
    assert acme.quickbooks_id == ""
    qbo.refresh_from_db()
    assert qbo.last_error
    assert ACCESS not in qbo.last_error


@pytest.mark.parametrize(
    ("config", "kind", "message"),
    [
        ({"record": "lead", "id": 1}, "invalid_config", "record: 'customer' or 'invoice'"),
        ({"record": "customer", "id": 999_999}, "not_found", "id: no customer with id 999999"),
        ({"record": "invoice", "id": "x"}, "not_found", "id: no invoice with id 'x'"),
    ],
)
def test_bad_configs_send_nothing(httpserver, qbo, config, kind, message):
    error = failure({"connection": "quickbooks", **config})
    assert (error.kind, message in error.message) == (kind, True)
    assert httpserver.log == []


def test_a_connection_without_a_realm_is_refused(httpserver, qbo, acme):
    qbo.config = {"realm_id": "../../admin"}
    qbo.save()
    error = failure({"connection": "quickbooks", "record": "customer", "id": acme.pk})
    assert error.kind == "invalid_config"
    assert "realm_id" in error.message
    assert httpserver.log == []


# -- retries through the engine ---------------------------------------------------------------


def one_step(config, **node):
    return {
        "name": "Sync",
        "trigger": {"type": "manual"},
        "nodes": [
            {"id": "qb", "type": "action", "action": "quickbooks_sync", "config": config, **node}
        ],
        "edges": [{"from": "trigger", "to": "qb"}],
    }


OK = Response(json.dumps(saved("Customer", "58")), content_type="application/json")


@pytest.mark.parametrize(
    ("answers", "run_status", "requests"),
    [
        ([fault("Duplicate Name Exists Error")], "failed", 1),
        ([fault("Throttle", status=429), OK], "completed", 2),
        ([fault("x", status=500), fault("x", status=503), OK], "completed", 3),
        ([fault("x", status=502)] * 3, "failed", 3),
    ],
)
def test_retries_follow_the_answer(
    httpserver, qbo, acme, run_workflow, caplog, answers, run_status, requests
):
    caplog.set_level(logging.DEBUG)
    for answer in answers:
        httpserver.expect_ordered_request(CUSTOMERS, method="POST").respond_with_response(answer)
    execution = run_workflow(
        one_step(
            {"connection": "quickbooks", "record": "customer", "id": acme.pk}, retry=FAST_RETRY
        )
    )
    assert execution.status == run_status
    assert len(httpserver.log) == requests
    # Every attempt is the same create: QuickBooks performs it at most once.
    assert len({r.args["requestid"] for r, _ in httpserver.log}) == 1
    acme.refresh_from_db()
    assert acme.quickbooks_id == ("58" if run_status == "completed" else "")
    stored = json.dumps(
        [[s.input, s.output, s.error] for s in execution.steps.all()] + [execution.error]
    )
    for secret in SECRETS:
        assert secret not in stored
        assert secret not in caplog.text


# -- test mode --------------------------------------------------------------------------------


def test_test_mode_sends_and_writes_nothing(httpserver, expired_qbo, invoice, acme, run_workflow):
    config = {"connection": "quickbooks", "record": "invoice", "id": "{{ invoice_id }}"}
    execution = run_workflow(one_step(config), {"invoice_id": invoice.pk}, test=True)
    assert execution.status == "completed"
    assert httpserver.log == []
    invoice.refresh_from_db()
    acme.refresh_from_db()
    assert (invoice.quickbooks_id, acme.quickbooks_id) == ("", "")
    expired_qbo.refresh_from_db()
    assert expired_qbo.secrets["access_token"] == ACCESS  # not refreshed
    assert expired_qbo.last_used_at is None

    output = execution.steps.get().output
    assert output["simulated"] is True
    methods = [(r["method"], r["url"]) for r in output["requests"]]
    assert methods == [
        ("POST", httpserver.url_for(TOKENS)),
        ("POST", httpserver.url_for(CUSTOMERS)),
        ("POST", httpserver.url_for(INVOICES)),
    ]
    invoice_request = output["requests"][-1]
    assert invoice_request["headers"]["Authorization"] == "Bearer ***"
    assert invoice_request["body"]["DocNumber"] == "INV-0042"
    dumped = json.dumps(output)
    for secret in SECRETS:
        assert secret not in dumped


def test_test_mode_shows_an_update_for_a_synced_record(httpserver, qbo, acme):
    Customer.objects.filter(pk=acme.pk).update(quickbooks_id="58")
    config = {"connection": "quickbooks", "record": "customer", "id": acme.pk}
    output = registry.get("quickbooks_sync").simulate(config, context(is_test=True))
    read, update = output["requests"]
    assert (read["method"], read["url"]) == ("GET", httpserver.url_for(f"{CUSTOMERS}/58"))
    assert update["body"]["Id"] == "58"
    assert update["body"]["sparse"] is True
    assert httpserver.log == []


# -- the catalog entry ------------------------------------------------------------------------


def test_the_schema_is_valid_and_accepts_every_example():
    action = registry.get("quickbooks_sync")
    Draft202012Validator.check_schema(action.config_schema)
    validator = ConfigValidator(action.config_schema)
    assert action.examples
    for example in action.examples:
        assert list(validator.iter_errors(example)) == []
    assert list(validator.iter_errors({"connection": "q", "record": "lead", "id": 1}))
