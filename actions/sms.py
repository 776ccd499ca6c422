"""send_sms: a text message through Twilio's Messages API, with the official `twilio` SDK.

Why the SDK and not a bare POST: it is Twilio's own description of the API (form field
names, error payloads), and its client accepts the base URL as a plain attribute
(`client.api.base_url`), so tests point it at a local server and see the exact request
Twilio would get: `POST /2010-04-01/Accounts/<sid>/Messages.json` with basic auth. The SDK
only ever talks to the configured Twilio API base (`TWILIO_API_BASE`), never to a URL from a
workflow; the status callback URL is handed to Twilio, which calls it, not us.

Credentials come from a `twilio` Connection: `account_sid` (and optionally `api_key_sid`, a
default `from_number` or `messaging_service_sid`) in its config, and the `auth_token` (or
`api_key_secret`) among its encrypted secrets.
"""

import re

import requests
from django.conf import settings

from .connections import get_connection, mark_used, require_secret, scrub
from .registry import ActionError, ActionType

API_VERSION = "2010-04-01"
DEFAULT_TIMEOUT_SECONDS = 15
E164 = re.compile(r"^\+[1-9]\d{1,14}$")
MESSAGING_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
# What people type around a number; removed before the E.164 check.
PUNCTUATION = re.compile(r"[\s().\-]")
MAX_BODY = 1600  # Twilio's limit for one message body
SDK_PREFIX = re.compile(r"^Unable to \w+ record:?\s*")
# Twilio's form field names (what simulate shows) and the SDK's keyword for each.
SDK_NAMES = {
    "To": "to",
    "From": "from_",
    "MessagingServiceSid": "messaging_service_sid",
    "Body": "body",
    "StatusCallback": "status_callback",
}


def api_base():
    return getattr(settings, "TWILIO_API_BASE", "https://api.twilio.com").rstrip("/")


def phone_number(value, field):
    """`value` as E.164 (`+14155550100`), or a clear invalid_config error."""
    number = PUNCTUATION.sub("", str(value or ""))
    if number.startswith("00"):
        number = "+" + number[2:]
    if not E164.match(number):
        raise ActionError(
            f"{field}: '{value}' is not a phone number in E.164 form "
            "(a '+', the country code and the number, e.g. +14155550100)",
            kind="invalid_config",
        )
    return number


def status_callback(value):
    url = str(value or "").strip()
    if url and not re.match(r"^https?://[^\s/]+", url):
        raise ActionError(f"status_callback: '{url}' is not an http(s) URL", kind="invalid_config")
    return url or None


def _credentials(connection):
    config = connection.config or {}
    account_sid = str(config.get("account_sid") or "")
    if not ACCOUNT_SID.match(account_sid):
        raise ActionError(
            f"connection '{connection.name}': config.account_sid must be an account SID "
            "(AC followed by 32 hex digits)",
            kind="invalid_config",
        )
    if config.get("api_key_sid"):
        # An API key (SK...) signs in instead of the account; requests still name the account.
        return account_sid, config["api_key_sid"], require_secret(connection, "api_key_secret")
    return account_sid, account_sid, require_secret(connection, "auth_token")


def message_params(config, connection):
    """The Messages API form fields the config describes (Twilio's names), in send order."""
    body = str(config.get("body") or "")
    if not body.strip():
        raise ActionError("body: the message is empty", kind="invalid_config")
    if len(body) > MAX_BODY:
        raise ActionError(
            f"body: {len(body)} characters, Twilio takes at most {MAX_BODY}",
            kind="invalid_config",
        )
    params = {"To": phone_number(config.get("to"), "to")}
    defaults = connection.config or {}
    service = config.get("messaging_service_sid") or (
        None if config.get("from") else defaults.get("messaging_service_sid")
    )
    sender = config.get("from") or (None if service else defaults.get("from_number"))
    if service:
        if not MESSAGING_SERVICE_SID.match(str(service)):
            raise ActionError(
                f"messaging_service_sid: '{service}' is not a messaging service SID "
                "(MG followed by 32 hex digits)",
                kind="invalid_config",
            )
        params["MessagingServiceSid"] = service
    elif sender:
        params["From"] = phone_number(sender, "from")
    else:
        raise ActionError(
            "from: give a sender number or a messaging service SID (here or in the connection)",
            kind="invalid_config",
        )
    params["Body"] = body
    callback = status_callback(config.get("status_callback"))
    if callback:
        params["StatusCallback"] = callback
    return params


def _failure(exc, connection):
    """An SDK or network exception as an ActionError whose kind the retry policy reads."""
    from twilio.base.exceptions import TwilioRestException  # lazily, see SendSms.run

    if isinstance(exc, TwilioRestException):
        status = exc.status
        detail = f"Twilio answered {status}" + (f" (error {exc.code})" if exc.code else "")
        # The SDK prefixes Twilio's own message with what it was doing; keep Twilio's words.
        message = SDK_PREFIX.sub("", str(exc.msg or ""))
        detail += f": {message}" if message else ""
        details = {"status": status, "twilio_code": exc.code}
    elif getattr(exc, "status", None) is not None:  # RFC 9457 TwilioServiceException
        status = exc.status
        detail = f"Twilio answered {status} (error {exc.code}): {exc.title}"
        detail += f" - {exc.detail}" if getattr(exc, "detail", None) else ""
        details = {"status": status, "twilio_code": exc.code}
    elif isinstance(exc, requests.Timeout):
        return ActionError("Twilio did not answer in time", kind="timeout")
    elif isinstance(exc, requests.RequestException):
        return ActionError(
            f"could not reach Twilio: {scrub(str(exc), connection)}", kind="connection"
        )
    else:
        return ActionError(f"Twilio: {scrub(str(exc), connection)}", kind="client_error")
    if status == 429:
        kind = "rate_limited"
    elif status >= 500:
        kind = "server_error"
    else:
        kind = "client_error"
        if status in (401, 403):
            detail += f" - check the credentials of connection '{connection.name}'"
    return ActionError(scrub(detail, connection), kind=kind, details=details)


class SendSms(ActionType):
    """Send a text message through Twilio to one phone number."""

    key = "send_sms"
    label = "Send SMS"
    category = "communication"
    icon = "message-square"
    color = "#dc2626"
    outputs = ["sid", "status", "to"]
    retry = {"max_attempts": 3}
    config_schema = {
        "type": "object",
        "required": ["connection", "to", "body"],
        "additionalProperties": False,
        "properties": {
            "connection": {
                "type": "string",
                "title": "Twilio connection",
                "description": "Name of a Twilio connection (account SID and auth token).",
                "minLength": 1,
            },
            "to": {
                "type": "string",
                "title": "To",
                "description": "Phone number in E.164 form, e.g. +14155550100.",
                "templated": True,
            },
            "from": {
                "type": "string",
                "title": "From",
                "description": "Sender number in E.164 form; defaults to the connection's.",
                "templated": True,
            },
            "messaging_service_sid": {
                "type": "string",
                "title": "Messaging service SID",
                "description": "Send through a messaging service (MG...) instead of a number.",
                "pattern": MESSAGING_SERVICE_SID.pattern,
            },
            "body": {
                "type": "string",
                "title": "Message",
                "minLength": 1,
                "maxLength": MAX_BODY,
                "templated": True,
            },
            "status_callback": {
                "type": "string",
                "title": "Status callback URL",
                "description": "Twilio POSTs delivery status changes to this URL.",
                "format": "uri",
                "templated": True,
            },
        },
    }
    examples = [
        {
            "connection": "twilio",
            "to": "{{ invoice.customer.phone }}",
            "body": "Invoice {{ invoice.number }} for {{ invoice.amount }} is overdue.",
        },
        {
            "connection": "twilio",
            "to": "+14155550100",
            "from": "+14155550199",
            "body": "Your order has shipped.",
            "status_callback": "https://example.com/hooks/twilio/status",
        },
        {
            "connection": "twilio",
            "to": "+447700900123",
            "messaging_service_sid": "MG0123456789abcdef0123456789abcdef",
            "body": "Reminder: your appointment is tomorrow.",
        },
    ]

    def run(self, config, context):
        connection = get_connection(config.get("connection"), "twilio")
        params = message_params(config, connection)
        account_sid, username, password = _credentials(connection)
        timeout = context.extra.get("timeout_seconds") or DEFAULT_TIMEOUT_SECONDS
        # The twilio SDK is imported here, not at module level: it is large, and every
        # process (web, websocket, Celery) loads this module but few ever send an SMS.
        from twilio.base.exceptions import TwilioException
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        client = Client(
            username,
            password,
            account_sid,
            http_client=TwilioHttpClient(pool_connections=False, timeout=timeout),
        )
        # The SDK's supported seam for another host: every Api request is built from it.
        client.api.base_url = api_base()
        try:
            message = client.messages.create(**{SDK_NAMES[k]: v for k, v in params.items()})
        except (TwilioException, requests.RequestException) as exc:
            error = _failure(exc, connection)
            mark_used(connection, error=error)
            raise error from None
        mark_used(connection)
        return {"sid": message.sid, "status": message.status, "to": message.to}

    def simulate(self, config, context):
        connection = get_connection(config.get("connection"), "twilio")
        params = message_params(config, connection)
        account_sid, username, _password = _credentials(connection)
        return {
            "simulated": True,
            "request": {
                "method": "POST",
                "url": f"{api_base()}/{API_VERSION}/Accounts/{account_sid}/Messages.json",
                "auth": f"basic {username}:(secret of connection '{connection.name}')",
                "form": params,
            },
        }
