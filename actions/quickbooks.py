"""quickbooks_sync: push a Customer or an Invoice to QuickBooks Online's accounting API.

Everything goes through the guarded HTTP client to `settings.QUICKBOOKS_API_BASE` (the
production API by default; Intuit's sandbox or a test server otherwise) and, for tokens, to
`settings.QUICKBOOKS_TOKEN_URL`. What makes a sync safe to repeat:

* **Update, never duplicate.** The remote id is written on our record (`quickbooks_id`); the
  next sync reads the entity's current SyncToken and sends a sparse update with Id and
  SyncToken. A create carries `requestid` (derived from the step's idempotency key), which
  QuickBooks answers with the first response when a retry repeats it, so a lost response
  cannot create a second customer. On PostgreSQL an advisory lock per record
  keeps two runs syncing one new customer from both creating it.
* **Tokens that keep working.** A `quickbooks` Connection holds `realm_id` (and optionally the
  `item_id` invoice lines are booked to) in its config, and `client_id`, `client_secret`,
  `access_token`, `refresh_token`, `expires_at` in its encrypted secrets. An access token
  that has expired (or is about to, or that QuickBooks rejects with 401) is refreshed at the
  token endpoint (form POST, grant_type=refresh_token, HTTP basic auth of the client id and
  secret), and the new tokens, refresh token included since Intuit rotates it, are stored on
  the connection (one refresh at a time per connection on PostgreSQL).
* **An invoice needs its customer.** When the invoice's customer has no `quickbooks_id` yet,
  it is created first, and its id recorded too.

Remote ids are written with `QuerySet.update()`: recording where a record lives in
QuickBooks is bookkeeping, not a business change, and must not fire `*.updated` workflows
(a sync triggered by `customer.updated` would otherwise trigger itself).
"""

import datetime as dt
import hashlib
from contextlib import contextmanager
from typing import ClassVar
from urllib.parse import quote

from django.conf import settings
from django.db import connection as db_connection
from django.utils import timezone

from crm.models import Customer, Invoice

from . import http_client
from .connections import get_connection, mark_used, require_secret, scrub
from .models import Connection
from .registry import ActionError, ActionType

DEFAULT_API_BASE = "https://quickbooks.api.intuit.com"
DEFAULT_OAUTH_ENDPOINT = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
# Intuit retired minor versions below 75 in 2025; 75 is the base every request must name.
MINOR_VERSION = "75"
DEFAULT_TIMEOUT = 30
# Refresh a little early: a token that expires in transit is as bad as an expired one.
EXPIRY_MARGIN = dt.timedelta(seconds=60)
RECORDS = {"customer": Customer, "invoice": Invoice}
JSON_HEADERS = {"Accept": "application/json", "Content-Type": "application/json"}


def api_base():
    return getattr(settings, "QUICKBOOKS_API_BASE", DEFAULT_API_BASE).rstrip("/")


def token_url():
    return getattr(settings, "QUICKBOOKS_TOKEN_URL", DEFAULT_OAUTH_ENDPOINT)


def request_id(context, entity):
    """QuickBooks' idempotency key for a create: at most 50 characters, stable per step."""
    digest = hashlib.sha256(context.idempotency_key.encode()).hexdigest()[:40]
    return f"{digest}-{entity}"


def _expires_at(secrets):
    value = secrets.get("expires_at")
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, tz=dt.UTC)
    if isinstance(value, str) and value:
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return None


def _needs_refresh(secrets):
    expires = _expires_at(secrets)
    return (
        not secrets.get("access_token")
        or expires is None
        or (expires <= timezone.now() + EXPIRY_MARGIN)
    )


@contextmanager
def _exclusive(name):
    """One holder of `name` at a time across processes, where the database offers a lock that
    needs no transaction (a PostgreSQL advisory lock). A transaction held across HTTP calls
    would roll back a token refresh made inside it, and on SQLite would block every other
    writer meanwhile; there, embedded mode's single process makes the race unlikely."""
    if db_connection.vendor != "postgresql":
        yield
        return
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [key])
    try:
        yield
    finally:
        with db_connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


# --- the API session --------------------------------------------------------------------------


class QuickBooks:
    """One connection's access to one company: a fresh token, the URLs, errors as ActionErrors."""

    def __init__(self, connection, timeout=DEFAULT_TIMEOUT):
        self.connection = connection
        self.timeout = timeout
        realm = str((connection.config or {}).get("realm_id") or "")
        if not realm.isdigit():
            raise ActionError(
                f"connection '{connection.name}' needs its QuickBooks company id "
                "(config realm_id, digits only)",
                kind="invalid_config",
            )
        self.realm = realm

    def url(self, entity, remote_id=None):
        path = f"{api_base()}/v3/company/{self.realm}/{entity}"
        return path if remote_id is None else f"{path}/{quote(str(remote_id), safe='')}"

    def access_token(self):
        if _needs_refresh(self.connection.secrets):
            self.refresh()
        return require_secret(self.connection, "access_token")

    def refresh(self):
        stale = self.connection.secrets.get("access_token")
        # One refresh at a time per connection: Intuit rotates refresh tokens, and two runs
        # refreshing with the same one would leave one of them holding a dead token.
        with _exclusive(f"quickbooks_refresh:{self.connection.pk}"):
            current = Connection.objects.get(pk=self.connection.pk)
            secrets = current.secrets
            if secrets.get("access_token") != stale and not _needs_refresh(secrets):
                self.connection = current  # another run refreshed meanwhile
                return
            response = http_client.request(
                "POST",
                token_url(),
                headers={"Accept": "application/json"},
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": require_secret(current, "refresh_token"),
                },
                auth=(
                    require_secret(current, "client_id"),
                    require_secret(current, "client_secret"),
                ),
                timeout=self.timeout,
            )
            if response.status != 200:
                raise self.failure(response, "refreshing the access token", auth=True)
            tokens = _json(response)
            if not tokens.get("access_token"):
                raise ActionError(
                    "QuickBooks' token endpoint answered without an access token",
                    kind="server_error",
                )
            expires_in = int(tokens.get("expires_in") or 3600)
            current.secrets = {
                **secrets,
                "access_token": tokens["access_token"],
                "refresh_token": tokens.get("refresh_token") or secrets.get("refresh_token"),
                "expires_at": (timezone.now() + dt.timedelta(seconds=expires_in)).isoformat(),
            }
            current.save(update_fields=["secret_data", "updated_at"])
        self.connection = current

    def call(self, method, entity, *, remote_id=None, body=None, params=None):
        """One API call; a 401 refreshes the token once and tries again."""
        query = {"minorversion": MINOR_VERSION, **(params or {})}
        for attempt in (1, 2):
            response = http_client.request(
                method,
                self.url(entity, remote_id),
                headers={**JSON_HEADERS, "Authorization": f"Bearer {self.access_token()}"},
                params=query,
                json=body,
                timeout=self.timeout,
            )
            if response.status == 401 and attempt == 1:
                self.refresh()
                continue
            if not 200 <= response.status < 300:
                raise self.failure(response, f"{method} {entity}")
            return _json(response)
        raise AssertionError("unreachable")  # pragma: no cover

    def failure(self, response, what, auth=False):
        """An error response as an ActionError: 429 and 5xx retryable, the rest not."""
        status = response.status
        message = scrub(_fault(response), self.connection)
        if status == 429:
            kind = "rate_limited"
        elif status >= 500:
            kind = "server_error"
        elif status == 404:
            kind = "not_found"
        else:
            kind = "client_error"
        if auth or status == 401:
            message += " (reconnect the QuickBooks connection to get new tokens)"
        return ActionError(
            f"QuickBooks answered {status} to {what}: {message}",
            kind=kind,
            details={"http_status": status},
        )


def _json(response):
    try:
        data = response.json()
    except ValueError:
        raise ActionError(
            f"QuickBooks answered {response.status} without JSON", kind="server_error"
        ) from None
    if not isinstance(data, dict):
        raise ActionError("QuickBooks answered with unexpected JSON", kind="server_error")
    return data


def _fault(response):
    """The human part of an error body: Fault.Error[].Message/Detail, or an OAuth error."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:300] or "no details"
    if isinstance(data, dict) and isinstance(data.get("Fault"), dict):
        errors = data["Fault"].get("Error") or []
        parts = [
            " - ".join(str(e.get(k)) for k in ("Message", "Detail") if e.get(k))
            for e in errors
            if isinstance(e, dict)
        ]
        return "; ".join(p for p in parts if p)[:500] or "no details"
    if isinstance(data, dict) and data.get("error"):
        return str(data.get("error"))[:100]
    return "no details"


# --- what is sent -----------------------------------------------------------------------------


def customer_body(customer):
    body = {"DisplayName": customer.name[:500]}
    if customer.type != Customer.Type.INDIVIDUAL:
        body["CompanyName"] = customer.name[:100]
    if customer.email:
        body["PrimaryEmailAddr"] = {"Address": customer.email}
    if customer.phone:
        body["PrimaryPhone"] = {"FreeFormNumber": customer.phone}
    return body


def invoice_body(invoice, customer_ref, item_id):
    # A JSON number: amounts have at most 12 digits (the model's max_digits), which a double
    # carries exactly, so 1250.05 arrives as 1250.05.
    amount = float(invoice.amount)
    return {
        "CustomerRef": {"value": customer_ref},
        "DocNumber": invoice.number[:21],
        "TxnDate": invoice.issue_date.isoformat(),
        "DueDate": invoice.due_date.isoformat(),
        "Line": [
            {
                "Amount": amount,
                "DetailType": "SalesItemLineDetail",
                "Description": f"Invoice {invoice.number}",
                "SalesItemLineDetail": {
                    "ItemRef": {"value": item_id},
                    "Qty": 1,
                    "UnitPrice": amount,
                },
            }
        ],
    }


def push(api, entity, record, body, context):
    """Create or sparse-update one entity; record the remote id; (operation, remote entity)."""
    model = type(record)
    with _exclusive(f"quickbooks_sync:{record._meta.label}:{record.pk}"):
        # Read again under the lock: another run may have created it meanwhile.
        remote_id = (
            model.objects.filter(pk=record.pk).values_list("quickbooks_id", flat=True).first()
        )
        if remote_id is None:
            raise ActionError(f"the {entity} was deleted during the sync", kind="not_found")
        if remote_id:
            existing = api.call("GET", entity, remote_id=remote_id).get(entity.title()) or {}
            if "SyncToken" not in existing:
                raise ActionError(
                    f"QuickBooks answered without the {entity}'s SyncToken", kind="server_error"
                )
            # A sparse update changes the fields sent and leaves the rest as QuickBooks has it.
            body = {**body, "Id": remote_id, "SyncToken": existing["SyncToken"], "sparse": True}
            operation = "updated"
            params = None
        else:
            operation = "created"
            params = {"requestid": request_id(context, entity)}
        saved = api.call("POST", entity, body=body, params=params).get(entity.title()) or {}
        if not saved.get("Id"):
            raise ActionError(f"QuickBooks did not return the {entity}'s Id", kind="server_error")
        if str(saved["Id"]) != remote_id:
            model.objects.filter(pk=record.pk).update(quickbooks_id=str(saved["Id"]))
            record.quickbooks_id = str(saved["Id"])
    return operation, saved


def _record(config):
    kind = config.get("record")
    if kind not in RECORDS:
        raise ActionError("record: 'customer' or 'invoice'", kind="invalid_config")
    model = RECORDS[kind]
    value = config.get("id")
    pk = value.get("id") if isinstance(value, dict) else value
    records = model.objects.select_related("customer") if model is Invoice else model.objects
    try:
        return kind, records.get(pk=pk)
    except (model.DoesNotExist, ValueError, TypeError):
        raise ActionError(f"id: no {kind} with id {pk!r}", kind="not_found") from None


def _item_id(config, connection):
    item = config.get("item_id") or (connection.config or {}).get("item_id")
    if not item:
        raise ActionError(
            "item_id: the QuickBooks product/service that invoice lines are booked to "
            "(set it here or as item_id in the connection's config)",
            kind="invalid_config",
        )
    return str(item)


class QuickBooksSync(ActionType):
    """Push a customer or an invoice to QuickBooks Online; a second sync updates it.

    The QuickBooks id is recorded on our record; an invoice's customer is pushed first when it
    has none. Expired tokens are refreshed and stored on the connection. Test mode shows the
    requests that would be sent and sends nothing.
    """

    key = "quickbooks_sync"
    label = "Sync to QuickBooks"
    category = "integration"
    icon = "refresh-cw"
    color = "#2ca01c"
    outputs: ClassVar[list[str]] = ["quickbooks_id", "operation", "sync_token"]
    retry: ClassVar[dict] = {"max_attempts": 3, "backoff_seconds": 30}
    config_schema: ClassVar[dict] = {
        "type": "object",
        "required": ["connection", "record", "id"],
        "additionalProperties": False,
        "properties": {
            "connection": {
                "type": ["string", "integer"],
                "title": "QuickBooks connection",
                "description": "Holds the company (realm) id and the OAuth 2 tokens",
            },
            "record": {
                "type": "string",
                "enum": list(RECORDS),
                "default": "invoice",
                "title": "What to sync",
            },
            "id": {
                "type": ["integer", "string", "object"],
                "title": "Record",
                "description": "Our record's id (or the record), e.g. {{ invoice.id }}",
                "templated": True,
            },
            "item_id": {
                "type": "string",
                "title": "Product/service id",
                "description": (
                    "The QuickBooks item invoice lines are booked to (default: the "
                    "connection's item_id)"
                ),
                "templated": True,
            },
        },
    }
    examples: ClassVar[list[dict]] = [
        {"connection": "quickbooks", "record": "invoice", "id": "{{ invoice.id }}"},
        {"connection": "quickbooks", "record": "customer", "id": "{{ customer.id }}"},
        {"connection": "quickbooks", "record": "invoice", "id": 7, "item_id": "1"},
    ]

    def run(self, config, context):
        kind, record = _record(config)
        connection = get_connection(config.get("connection"), "quickbooks")
        api = QuickBooks(connection, float(context.extra.get("timeout_seconds") or DEFAULT_TIMEOUT))
        try:
            if kind == "customer":
                operation, saved = push(api, "customer", record, customer_body(record), context)
                customer_id = saved["Id"]
            else:
                item = _item_id(config, connection)
                customer = record.customer
                customer_id = customer.quickbooks_id
                if not customer_id:
                    _op, remote_customer = push(
                        api, "customer", customer, customer_body(customer), context
                    )
                    customer_id = remote_customer["Id"]
                body = invoice_body(record, str(customer_id), item)
                operation, saved = push(api, "invoice", record, body, context)
        except ActionError as exc:
            mark_used(connection, exc)
            raise
        mark_used(connection)
        return {
            "record": kind,
            "id": record.pk,
            "quickbooks_id": str(saved["Id"]),
            "operation": operation,
            "sync_token": saved.get("SyncToken"),
            "customer_quickbooks_id": str(customer_id),
        }

    def simulate(self, config, context):
        kind, record = _record(config)
        connection = get_connection(config.get("connection"), "quickbooks")
        api = QuickBooks(connection)
        requests = []
        if _needs_refresh(connection.secrets):
            requests.append(
                {
                    "method": "POST",
                    "url": token_url(),
                    "headers": {"Accept": "application/json", "Authorization": "Basic ***"},
                    "body": {"grant_type": "refresh_token", "refresh_token": "***"},
                }
            )

        def planned(entity, target, body):
            headers = {**JSON_HEADERS, "Authorization": "Bearer ***"}
            params = {"minorversion": MINOR_VERSION}
            if target.quickbooks_id:
                requests.append(
                    {
                        "method": "GET",
                        "url": api.url(entity, target.quickbooks_id),
                        "params": params,
                    }
                )
                body = {
                    **body,
                    "Id": target.quickbooks_id,
                    "SyncToken": "(read from QuickBooks first)",
                    "sparse": True,
                }
            else:
                params = {**params, "requestid": request_id(context, entity)}
            requests.append(
                {
                    "method": "POST",
                    "url": api.url(entity),
                    "params": params,
                    "headers": headers,
                    "body": body,
                }
            )

        if kind == "customer":
            planned("customer", record, customer_body(record))
        else:
            item = _item_id(config, connection)
            customer = record.customer
            if not customer.quickbooks_id:
                planned("customer", customer, customer_body(customer))
            ref = customer.quickbooks_id or "(the id QuickBooks gives the customer)"
            planned("invoice", record, invoice_body(record, ref, item))
        return {"simulated": True, "record": kind, "id": record.pk, "requests": requests}
