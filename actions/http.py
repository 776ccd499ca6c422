"""Integration actions over plain HTTP: `http_request` and `zapier_event`.

Both send to URLs that users give, so both go through `actions.http_client` (the SSRF
guard); credentials come from Connections and are scrubbed from everything a step keeps.
The response's status decides success: 2xx by default, or the `success_statuses` a step
lists; otherwise 429 is rate_limited and 5xx server_error (retried by the default policy),
any other status client_error (not retried: sending it again would get the same answer).
"""

from urllib.parse import urlsplit

import jsonschema
import requests
from django.conf import settings

from . import http_client
from .connections import (
    REDACTED,
    auth_for,
    get_connection,
    mark_used,
    require_secret,
    scrub,
    scrub_value,
    secret_values,
)
from .registry import ActionError, ActionType

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
DEFAULT_TIMEOUT_SECONDS = 10
MAX_TIMEOUT_SECONDS = 120
# Error messages quote this much of a failed response's body: enough to see why.
ERROR_EXCERPT = 300
ZAPIER_HOOKS_BASE_URL = "https://hooks.zapier.com/hooks/"

SCALAR = {"type": ["string", "number", "boolean", "null"]}
STATUS_RULE = {
    "oneOf": [
        {"type": "integer", "minimum": 100, "maximum": 599},
        {"type": "string", "pattern": "^[1-5]xx$"},
    ]
}
TIMEOUT_SCHEMA = {
    "type": "number",
    "title": "Timeout (seconds)",
    "description": "The whole request, redirects and response included, must finish within "
    "this time, or the step fails with a timeout (retried by default).",
    "exclusiveMinimum": 0,
    "maximum": MAX_TIMEOUT_SECONDS,
    "default": DEFAULT_TIMEOUT_SECONDS,
}


# -- shared by both actions ---------------------------------------------------------------


def _check(schema, config, key):
    """The rendered config against the action's own schema: `{{ }}` may have produced any
    type, so what the validator accepted at save time is checked again now."""
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(config)
    )
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path) or "config"
        raise ActionError(f"{key}: {where}: {error.message}", kind="invalid_config")


def timeout_for(config, context):
    """The step's timeout, never longer than the node's own `timeout_seconds`."""
    seconds = float(config.get("timeout_seconds") or DEFAULT_TIMEOUT_SECONDS)
    node_limit = (context.extra or {}).get("timeout_seconds")
    return min(seconds, float(node_limit)) if node_limit else seconds


def is_success(status, rules):
    for rule in rules:
        if isinstance(rule, int) and status == rule:
            return True
        if isinstance(rule, str) and str(status)[0] == rule[0]:
            return True
    return False


def status_error(response, what, secrets, hint=""):
    """The ActionError for an unsuccessful response, with a scrubbed excerpt of its body."""
    status = response.status
    excerpt = scrub(response.text.strip()[:ERROR_EXCERPT], secrets)
    if status == 429:
        kind = "rate_limited"
    elif status >= 500:
        kind = "server_error"
    else:
        kind = "client_error"
    details = {"status": status, "response": excerpt}
    if response.headers.get("Retry-After"):
        details["retry_after"] = response.headers["Retry-After"]
    message = f"{what} answered {status}{hint}" + (f": {excerpt}" if excerpt else "")
    return ActionError(message, kind=kind, details=details)


def scrubbed(error, secrets):
    return ActionError(
        scrub(error.message, secrets), kind=error.kind, details=scrub_value(error.details, secrets)
    )


def parse_body(response):
    """JSON when the response says it is JSON (and is), else text; None for no body."""
    if not response.body:
        return None
    if response.is_json:
        try:
            return response.json()
        except ValueError:
            pass
    return response.text


def _host(url):
    return urlsplit(url).hostname or "?"


def _under(url, base):
    """Whether `url` is on the same origin as `base` and below its path (a plain prefix
    test would let "https://hooks.zapier.com.evil.example/" pass for a base without "/")."""
    try:
        target, prefix = urlsplit(url), urlsplit(base)
        same_origin = (target.scheme, target.hostname, target.port) == (
            prefix.scheme,
            prefix.hostname,
            prefix.port,
        )
    except ValueError:
        return False
    return same_origin and target.path.startswith(prefix.path)


# -- http_request -------------------------------------------------------------------------


class HttpRequest(ActionType):
    """Call any HTTP API: method, URL, headers, query, a JSON or form body, and auth from an
    HTTP connection. A JSON response is parsed. Internal and private addresses are refused."""

    key = "http_request"
    label = "HTTP request"
    category = "integration"
    icon = "globe"
    color = "#0891b2"
    outputs = ["status", "headers", "body"]
    retry = {"max_attempts": 3}
    config_schema = {
        "type": "object",
        "required": ["url"],
        "additionalProperties": False,
        "properties": {
            "method": {"title": "Method", "enum": METHODS, "default": "GET"},
            "url": {
                "type": "string",
                "title": "URL",
                "description": "An http or https URL. Private, loopback and cloud-metadata "
                "addresses are refused unless an operator trusts them (OUTBOUND_ALLOWLIST).",
                "minLength": 1,
                "templated": True,
            },
            "headers": {
                "type": "object",
                "title": "Headers",
                "description": "Extra request headers. Put credentials in a connection, "
                "not here: headers are kept in the step's record.",
                "additionalProperties": {"type": "string"},
                "default": {},
                "templated": True,
            },
            "query": {
                "type": "object",
                "title": "Query parameters",
                "description": "Added to the URL's query string; a list repeats the name.",
                "additionalProperties": {"anyOf": [SCALAR, {"type": "array", "items": SCALAR}]},
                "default": {},
                "templated": True,
            },
            "body_format": {
                "title": "Body format",
                "description": "json: the body is sent as JSON; form: an object of fields "
                "sent as application/x-www-form-urlencoded.",
                "enum": ["json", "form"],
                "default": "json",
            },
            "body": {
                "title": "Body",
                "description": "Any JSON value (json), or an object of fields (form). "
                "Leave empty for no body.",
                "templated": True,
            },
            "connection": {
                "type": "string",
                "title": "Connection",
                "description": "An HTTP connection whose basic, bearer or header auth is "
                "added to the request. Its secrets never appear in the step's record.",
            },
            "timeout_seconds": TIMEOUT_SCHEMA,
            "success_statuses": {
                "type": "array",
                "title": "Success statuses",
                "description": 'Statuses that count as success: codes (404) or classes ("2xx"). '
                "Other statuses fail the step: 429 as rate_limited, 5xx as server_error "
                "(both retried), the rest as client_error.",
                "items": STATUS_RULE,
                "minItems": 1,
                "default": ["2xx"],
            },
        },
    }
    examples = [
        {
            "method": "GET",
            "url": "https://api.example.com/v1/customers/{{ invoice.customer.id }}",
            "query": {"expand": "invoices"},
            "connection": "crm-api",
        },
        {
            "method": "POST",
            "url": "https://api.example.com/v1/orders",
            "headers": {"X-Request-Source": "workflow"},
            "body": {"invoice": "{{ invoice.number }}", "amount": "{{ invoice.total }}"},
            "connection": "crm-api",
            "timeout_seconds": 15,
            "success_statuses": ["2xx", 409],
        },
        {
            "method": "POST",
            "url": "https://forms.example.com/subscribe",
            "body_format": "form",
            "body": {"email": "{{ customer.email }}", "list": "customers"},
        },
    ]

    def plan(self, config, context):
        """The request the config describes, with the connection it authenticates with."""
        _check(self.config_schema, config, self.key)
        body, body_format = config.get("body"), config.get("body_format", "json")
        if body_format == "form" and body is not None and not isinstance(body, dict):
            raise ActionError(f"{self.key}: a form body must be an object", kind="invalid_config")
        name = config.get("connection")
        return {
            "method": config.get("method", "GET"),
            "url": config["url"],
            "headers": dict(config.get("headers") or {}),
            "params": config.get("query") or None,
            "json": body if body_format == "json" and body is not None else None,
            "data": body if body_format == "form" and body is not None else None,
            "timeout": timeout_for(config, context),
            "success": config.get("success_statuses") or ["2xx"],
            "connection": get_connection(name, "http") if name else None,
        }

    def run(self, config, context):
        plan = self.plan(config, context)
        connection = plan["connection"]
        secrets = secret_values(connection)
        what = f"{plan['method']} {_host(plan['url'])}"
        try:
            response = http_client.request(
                plan["method"],
                plan["url"],
                headers=plan["headers"],
                params=plan["params"],
                json=plan["json"],
                data=plan["data"],
                auth=auth_for(connection) if connection else None,
                timeout=plan["timeout"],
            )
            if not is_success(response.status, plan["success"]):
                raise status_error(response, what, secrets)
        except ActionError as exc:
            error = scrubbed(exc, secrets)
            mark_used(connection, error)
            raise error from None
        mark_used(connection)
        return scrub_value(
            {
                "status": response.status,
                "headers": dict(response.headers),
                "body": parse_body(response),
            },
            secrets,
        )

    def simulate(self, config, context):
        """The exact request, prepared as the client would send it, auth shown as ***."""
        plan = self.plan(config, context)
        http_client.check_url(plan["url"])
        connection = plan["connection"]
        auth = auth_for(connection) if connection else None
        with http_client.session() as client:
            prepared = client.prepare_request(
                requests.Request(
                    plan["method"],
                    plan["url"],
                    headers=plan["headers"],
                    params=plan["params"],
                    json=plan["json"],
                    data=plan["data"],
                )
            )
        headers = dict(prepared.headers)
        if auth is not None:
            headers.update(auth.redacted())
        body = prepared.body.decode() if isinstance(prepared.body, bytes) else prepared.body
        return {
            "simulated": True,
            "request": {
                "method": prepared.method,
                "url": prepared.url,
                "headers": headers,
                "body": body,
            },
            "connection": connection.name if connection else None,
            "timeout_seconds": plan["timeout"],
            "success_statuses": plan["success"],
        }


# -- zapier_event -------------------------------------------------------------------------


class ZapierEvent(ActionType):
    """Send an event to a Zap: a JSON POST to its "Catch Hook" URL, given here or kept
    secret in a Zapier connection."""

    key = "zapier_event"
    label = "Send to Zapier"
    category = "integration"
    icon = "zap"
    color = "#ff4f00"
    outputs = ["status", "id", "request_id"]
    retry = {"max_attempts": 3}
    config_schema = {
        "type": "object",
        "required": ["event"],
        "additionalProperties": False,
        "oneOf": [{"required": ["hook_url"]}, {"required": ["connection"]}],
        "properties": {
            "hook_url": {
                "type": "string",
                "title": "Catch hook URL",
                "description": "The URL of the Zap's Webhooks by Zapier 'Catch Hook' trigger "
                "(https://hooks.zapier.com/hooks/catch/...). Give this or a connection.",
                "minLength": 1,
                "templated": True,
            },
            "connection": {
                "type": "string",
                "title": "Zapier connection",
                "description": "A Zapier connection whose secret `hook_url` is the catch "
                "hook, for hooks that should not be visible in the workflow.",
            },
            "event": {
                "type": "string",
                "title": "Event name",
                "description": "Sent as `event`, so one Zap can tell events apart.",
                "minLength": 1,
                "templated": True,
            },
            "data": {
                "type": "object",
                "title": "Data",
                "description": "The fields the Zap receives under `data`.",
                "default": {},
                "templated": True,
            },
            "timeout_seconds": TIMEOUT_SCHEMA,
        },
    }
    examples = [
        {
            "hook_url": "https://hooks.zapier.com/hooks/catch/123456/abcdef/",
            "event": "invoice.overdue",
            "data": {"invoice": "{{ invoice.number }}", "amount": "{{ invoice.total }}"},
        },
        {
            "connection": "zapier-finance",
            "event": "payment.received",
            "data": {"payment": "{{ payment.id }}", "customer": "{{ customer.email }}"},
            "timeout_seconds": 20,
        },
    ]

    def plan(self, config, context):
        _check(self.config_schema, config, self.key)
        connection = None
        if config.get("connection"):
            connection = get_connection(config["connection"], "zapier")
            url = require_secret(connection, "hook_url")
        else:
            url = config["hook_url"]
        base = getattr(settings, "ZAPIER_HOOKS_BASE_URL", ZAPIER_HOOKS_BASE_URL)
        if not _under(url, base):
            shown = "the connection's hook_url" if connection else f"'{url}'"
            raise ActionError(
                f"{self.key}: {shown} is not a Zapier hook URL (it must start with {base})",
                kind="invalid_config",
            )
        payload = {
            "event": config["event"],
            "data": config.get("data") or {},
            # Lets a Zap skip the duplicate when a retried step sends the event again.
            "meta": {
                "execution": str(context.execution.public_id),
                "step": context.path,
                "idempotency_key": context.idempotency_key,
            },
        }
        return url, connection, payload

    def run(self, config, context):
        url, connection, payload = self.plan(config, context)
        secrets = secret_values(connection)
        try:
            response = http_client.request(
                "POST", url, json=payload, timeout=timeout_for(config, context)
            )
            if not is_success(response.status, ["2xx"]):
                hint = " (the Zap is off or its hook was deleted)" if response.status == 410 else ""
                raise status_error(response, "Zapier", secrets, hint)
        except ActionError as exc:
            error = scrubbed(exc, secrets)
            mark_used(connection, error)
            raise error from None
        mark_used(connection)
        answer = parse_body(response)
        answer = answer if isinstance(answer, dict) else {}
        return scrub_value(
            {
                "status": answer.get("status"),
                "id": answer.get("id"),
                "request_id": answer.get("request_id"),
                "attempt": answer.get("attempt"),
            },
            secrets,
        )

    def simulate(self, config, context):
        url, connection, payload = self.plan(config, context)
        http_client.check_url(url)
        return {
            "simulated": True,
            "request": {
                "method": "POST",
                "url": REDACTED if connection else url,
                "headers": {"Content-Type": "application/json"},
                "json": payload,
            },
            "connection": connection.name if connection else None,
        }
