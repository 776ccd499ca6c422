"""send_push: Web Push (RFC 8030) with VAPID (RFC 8292) to users' browsers, via `pywebpush`.

A browser that allows notifications hands us a subscription: an endpoint URL at its push
service and the keys to encrypt for it (stored as PushSubscription rows). The endpoint is a
URL from the outside, so every POST goes through `actions.http_client.session()`, the
SSRF-guarded session that pywebpush accepts; the VAPID private key (the `private_key`
secret of a `webpush` Connection, whose config holds the `subject` and the `public_key`
the browsers subscribed with) signs each request.

A push service answers 404 or 410 for a subscription that is gone (the user revoked it or
the browser dropped it): that row is deleted, as RFC 8030 asks. Other failures are counted
per subscription; the step itself fails (and is retried when that makes sense) only when
nothing at all was delivered, since retrying a partly delivered step would notify twice.
"""

import json
import logging
from urllib.parse import urlsplit

import requests
from django.utils import timezone

from . import http_client
from .connections import get_connection, mark_used, require_secret, scrub
from .models import PushSubscription
from .notifications import GROUPS_SCHEMA, USERS_SCHEMA, resolve_recipients
from .registry import ActionError, ActionType

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 10
# An aes128gcm record holds 4096 bytes: 86 of header, 16 of tag, 1 of padding delimiter.
MAX_PAYLOAD_BYTES = 3993
GONE = (404, 410)
URGENCIES = ["very-low", "low", "normal", "high"]


def _vapid(connection):
    """The signing key, checked against the public key the browsers subscribed with."""
    config = connection.config or {}
    subject = str(config.get("subject") or "")
    if not subject.startswith(("mailto:", "https://")):
        raise ActionError(
            f"connection '{connection.name}': config.subject must be a mailto: or https: URL "
            "that push services can contact",
            kind="invalid_config",
        )
    private_key = require_secret(connection, "private_key")
    # py_vapid and pywebpush are imported where they are used, not at module level: they pull
    # in aiohttp and cost ~6 MiB per process, and every process loads this module (registry).
    from py_vapid import Vapid

    try:
        if "-----BEGIN" in private_key:
            vapid = Vapid.from_pem(private_key.encode())
        else:
            # Never pywebpush's own string handling: it would read a file of that name.
            vapid = Vapid.from_string(private_key)
    except Exception:
        # The parser's message could quote the key; say only what is wrong.
        raise ActionError(
            f"connection '{connection.name}': private_key is not a VAPID (P-256) private key",
            kind="invalid_config",
        ) from None
    expected = str(config.get("public_key") or "").rstrip("=")
    if expected and expected != _public_key(vapid):
        raise ActionError(
            f"connection '{connection.name}': private_key does not match config.public_key",
            kind="invalid_config",
        )
    return vapid, subject


def _public_key(vapid):
    from cryptography.hazmat.primitives import serialization
    from py_vapid.utils import b64urlencode

    raw = vapid.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64urlencode(raw)


def _payload(config):
    title = str(config.get("title") or "").strip()
    if not title:
        raise ActionError("title: a push notification needs a title", kind="invalid_config")
    # The service worker decides how to show it; these are the Notification API's names.
    payload = {"title": title, "body": str(config.get("body") or "")}
    for name in ("url", "icon", "tag"):
        if config.get(name):
            payload[name] = str(config[name])
    if config.get("data"):
        payload["data"] = config["data"]
    encoded = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    if len(encoded.encode()) > MAX_PAYLOAD_BYTES:
        raise ActionError(
            f"the notification is {len(encoded.encode())} bytes; push services take at most "
            f"{MAX_PAYLOAD_BYTES}",
            kind="invalid_config",
        )
    return encoded


def _headers(config):
    urgency = config.get("urgency") or "normal"
    if urgency not in URGENCIES:
        raise ActionError(
            f"urgency: '{urgency}' is not one of {', '.join(URGENCIES)}", kind="invalid_config"
        )
    headers = {"Urgency": urgency}
    if config.get("topic"):
        headers["Topic"] = str(config["topic"])
    return headers


def _ttl(config):
    ttl = config.get("ttl", 86400)
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 0:
        raise ActionError("ttl: must be a whole number of seconds", kind="invalid_config")
    return ttl


def _subscriptions(config):
    users = resolve_recipients(config.get("users"), config.get("groups"))
    subscriptions = PushSubscription.objects.filter(user__in=users).select_related("user")
    return users, list(subscriptions.order_by("pk"))


def _origin(endpoint):
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}"


def _kind_for_status(status):
    if status == 429:
        return "rate_limited"
    if status is not None and status >= 500:
        return "server_error"
    return "client_error"


def _deliver(subscription, payload, vapid, subject, headers, ttl, timeout, session):
    """None when delivered, "gone" when the service dropped it, else a failure dict."""
    from pywebpush import WebPushException, webpush  # lazily, see _vapid

    try:
        webpush(
            subscription_info={
                "endpoint": subscription.endpoint,
                "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
            },
            data=payload,
            vapid_private_key=vapid,
            # A fresh dict for each: pywebpush writes the endpoint's origin into it as "aud".
            vapid_claims={"sub": subject},
            headers=headers,
            ttl=ttl,
            timeout=timeout,
            requests_session=session,
        )
    except WebPushException as exc:
        status = exc.status_code
        if status in GONE:
            return "gone"
        return {"kind": _kind_for_status(status), "status": status, "reason": exc.message}
    except ActionError as exc:  # BlockedDestination from the guarded session
        return {"kind": exc.kind, "status": None, "reason": exc.message}
    except requests.Timeout:
        return {"kind": "timeout", "status": None, "reason": "the push service did not answer"}
    except requests.RequestException as exc:
        return {"kind": "connection", "status": None, "reason": type(exc).__name__}
    except (ValueError, TypeError):
        # Keys that do not decode or are not on the curve: the browser sent garbage.
        return {"kind": "client_error", "status": None, "reason": "invalid subscription keys"}
    return None


class SendPush(ActionType):
    """Send a browser push notification to the subscribed browsers of users and groups."""

    key = "send_push"
    label = "Send push notification"
    category = "communication"
    icon = "smartphone"
    color = "#ea580c"
    outputs = ["sent", "removed", "failed"]
    retry = {"max_attempts": 3}
    config_schema = {
        "type": "object",
        "required": ["connection", "title"],
        "anyOf": [{"required": ["users"]}, {"required": ["groups"]}],
        "additionalProperties": False,
        "properties": {
            "connection": {
                "type": "string",
                "title": "Web Push connection",
                "description": "Name of a Web Push connection (VAPID keys and subject).",
                "minLength": 1,
            },
            "users": USERS_SCHEMA,
            "groups": GROUPS_SCHEMA,
            "title": {"type": "string", "title": "Title", "minLength": 1, "templated": True},
            "body": {"type": "string", "title": "Message", "templated": True},
            "url": {
                "type": "string",
                "title": "Link",
                "description": "Opened when the notification is clicked.",
                "templated": True,
            },
            "icon": {"type": "string", "title": "Icon URL", "templated": True},
            "tag": {
                "type": "string",
                "title": "Tag",
                "description": "A newer notification with the same tag replaces the older.",
                "templated": True,
            },
            "data": {"type": "object", "title": "Extra data", "templated": True},
            "ttl": {
                "type": "integer",
                "title": "Keep for (seconds)",
                "description": "How long the push service holds it for an offline browser.",
                "minimum": 0,
                "maximum": 2419200,
                "default": 86400,
            },
            "urgency": {
                "type": "string",
                "title": "Urgency",
                "enum": URGENCIES,
                "default": "normal",
            },
            "topic": {
                "type": "string",
                "title": "Topic",
                "description": "A pending message with the same topic is replaced.",
                "pattern": "^[A-Za-z0-9_-]{1,32}$",
            },
        },
    }
    examples = [
        {
            "connection": "webpush",
            "users": ["{{ ticket.assignee.username }}"],
            "title": "Ticket {{ ticket.id }} is waiting for you",
            "url": "/admin/crm/ticket/{{ ticket.id }}/change/",
        },
        {
            "connection": "webpush",
            "groups": ["Collections"],
            "title": "Large invoice overdue",
            "body": "{{ invoice.number }}: {{ invoice.amount }}",
            "urgency": "high",
            "ttl": 3600,
            "topic": "overdue",
        },
    ]

    def run(self, config, context):
        connection = get_connection(config.get("connection"), "webpush")
        vapid, subject = _vapid(connection)
        payload, headers, ttl = _payload(config), _headers(config), _ttl(config)
        users, subscriptions = _subscriptions(config)
        timeout = context.extra.get("timeout_seconds") or DEFAULT_TIMEOUT_SECONDS
        delivered, gone, failures = [], [], []
        with http_client.session() as session:
            for subscription in subscriptions:
                result = _deliver(
                    subscription, payload, vapid, subject, headers, ttl, timeout, session
                )
                if result is None:
                    delivered.append(subscription.pk)
                elif result == "gone":
                    gone.append(subscription.pk)
                else:
                    failures.append(
                        {
                            "subscription": subscription.pk,
                            "user": subscription.user.get_username(),
                            "push_service": _origin(subscription.endpoint),
                            **result,
                            "reason": scrub(str(result["reason"])[:300], connection),
                        }
                    )
        if gone:
            PushSubscription.objects.filter(pk__in=gone).delete()
        if delivered:
            PushSubscription.objects.filter(pk__in=delivered).update(last_used_at=timezone.now())
        output = {
            "sent": len(delivered),
            "removed": len(gone),
            "failed": len(failures),
            "recipients": len(users),
            "failures": failures,
        }
        if failures and not delivered:
            error = self._all_failed(failures, output)
            mark_used(connection, error=error)
            raise error
        mark_used(connection)
        return output

    @staticmethod
    def _all_failed(failures, output):
        # Retry the step when any failure may pass on a later try; nothing was delivered,
        # so a retry notifies nobody twice.
        retryable = [f for f in failures if f["kind"] != "client_error" and f["kind"] != "refused"]
        first = (retryable or failures)[0]
        where = first["push_service"] + (f" answered {first['status']}" if first["status"] else "")
        return ActionError(
            f"no push notification was delivered ({len(failures)} failed; {where}: "
            f"{first['reason']})",
            kind=first["kind"],
            details={k: v for k, v in output.items() if k != "failures"},
        )

    def simulate(self, config, context):
        connection = get_connection(config.get("connection"), "webpush")
        vapid, subject = _vapid(connection)
        payload, headers, ttl = _payload(config), _headers(config), _ttl(config)
        users, subscriptions = _subscriptions(config)
        requests_ = []
        for subscription in subscriptions:
            requests_.append(
                {
                    "method": "POST",
                    "url": subscription.endpoint,
                    "user": subscription.user.get_username(),
                    "headers": {
                        **headers,
                        "TTL": str(ttl),
                        "Content-Encoding": "aes128gcm",
                        "Authorization": f"vapid t=(JWT for {subject}), k={_public_key(vapid)}",
                    },
                    "payload": json.loads(payload),  # encrypted for each browser when sent
                }
            )
        return {"simulated": True, "recipients": len(users), "requests": requests_}
