"""send_slack: a Slack message, through the Web API or through an incoming webhook.

Two ways in, because teams have one or the other:

- `chat.postMessage` of the Slack Web API, with the official `slack_sdk.WebClient` and a bot
  token (`bot_token` secret of a `slack` Connection). The SDK only talks to the configured
  API base (`SLACK_API_BASE`), so tests point it at a local server; its own retry handlers
  are switched off because the workflow's retry policy decides (with backoff, recorded).
- An incoming-webhook URL. That URL is whatever someone pasted, so it is sent through
  `actions.http_client` (the SSRF-guarded client), never through the SDK's WebhookClient.
  A webhook URL is a credential in itself: kept as the connection's `webhook_url` secret it
  never appears in inputs, outputs or errors; given inline in the config it is visible to
  whoever can read the workflow.

Slack answers errors as `{"ok": false, "error": "..."}`: `ratelimited` (or HTTP 429) is
retried, Slack's own outages are retried, everything else (invalid_auth, channel_not_found,
not_in_channel, invalid_blocks...) is the caller's to fix and is not.
"""

from django.conf import settings

from . import http_client
from .connections import get_connection, mark_used, require_secret, scrub, secret_values
from .registry import ActionError, ActionType

DEFAULT_TIMEOUT_SECONDS = 15
RETRYABLE_ERRORS = {
    "ratelimited": "rate_limited",
    "rate_limited": "rate_limited",
    "internal_error": "server_error",
    "fatal_error": "server_error",
    "service_unavailable": "server_error",
    "request_timeout": "timeout",
}


def api_base():
    base = getattr(settings, "SLACK_API_BASE", "https://slack.com/api/")
    return base if base.endswith("/") else base + "/"


def _kind(status, error=""):
    if error in RETRYABLE_ERRORS:
        return RETRYABLE_ERRORS[error]
    if status == 429:
        return "rate_limited"
    if status >= 500:
        return "server_error"
    return "client_error"


def _message(config):
    """The message fields Slack documents (`text`, `blocks`, `thread_ts`), checked."""
    text, blocks = config.get("text"), config.get("blocks")
    if blocks is not None and not (
        isinstance(blocks, list) and all(isinstance(b, dict) for b in blocks)
    ):
        raise ActionError("blocks: must be a list of Block Kit blocks", kind="invalid_config")
    if not text and not blocks:
        raise ActionError("give a text or blocks", kind="invalid_config")
    message = {}
    if text:
        # With blocks, Slack shows the text in notifications and screen readers.
        message["text"] = str(text)
    if blocks:
        message["blocks"] = blocks
    if config.get("thread_ts"):
        message["thread_ts"] = str(config["thread_ts"])
    if "unfurl_links" in config:
        message["unfurl_links"] = bool(config["unfurl_links"])
    return message


class _Target:
    """Where the message goes and with which credential, resolved from config + connection."""

    def __init__(self, config):
        self.via = config.get("via") or "api"
        if self.via not in ("api", "webhook"):
            raise ActionError(f"via: '{self.via}' is not api or webhook", kind="invalid_config")
        name = config.get("connection")
        self.connection = get_connection(name, "slack") if name else None
        self.channel = str(config.get("channel") or "").strip()
        if self.via == "api":
            if self.connection is None:
                raise ActionError(
                    "connection: the Web API needs a Slack connection with a bot token",
                    kind="invalid_config",
                )
            self.token = require_secret(self.connection, "bot_token")
            if not self.channel:
                raise ActionError("channel: which channel to post to", kind="invalid_config")
        else:
            self.inline_url = config.get("webhook_url")
            stored = self.connection.secrets.get("webhook_url") if self.connection else None
            self.url = self.inline_url or stored
            if not self.url:
                raise ActionError(
                    "webhook_url: give the incoming-webhook URL, or a Slack connection "
                    "that keeps one as its webhook_url secret",
                    kind="invalid_config",
                )
            if not str(self.url).startswith(("https://", "http://")):
                raise ActionError("webhook_url: must be an http(s) URL", kind="invalid_config")

    @property
    def secrets(self):
        """What must never be shown: the connection's secrets, and the webhook URL itself."""
        url = [self.url] if self.via == "webhook" else []
        return [*secret_values(self.connection), *url]

    @property
    def shown_url(self):
        if self.via == "api":
            return f"{api_base()}chat.postMessage"
        if self.inline_url:
            return self.inline_url
        return f"(webhook_url of connection '{self.connection.name}')"

    def fail(self, error):
        if self.connection is not None:
            mark_used(self.connection, error=error)
        return error

    def succeed(self):
        if self.connection is not None:
            mark_used(self.connection)


def _post_api(target, message, timeout):
    # slack_sdk is imported only here, where the Web API is called: every process loads this
    # module through the action registry, and most never post to Slack (memory per process).
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError, SlackClientError

    client = WebClient(token=target.token, base_url=api_base(), timeout=timeout, retry_handlers=[])
    try:
        response = client.chat_postMessage(channel=target.channel, **message)
    except SlackApiError as exc:
        status = exc.response.status_code
        data = exc.response.data if isinstance(exc.response.data, dict) else {}
        error = str(data.get("error") or f"HTTP {status}")
        raise target.fail(
            ActionError(
                f"Slack refused chat.postMessage: {scrub(error, target.secrets)}",
                kind=_kind(status, error),
                details={"status": status, "slack_error": error},
            )
        ) from None
    except (OSError, SlackClientError) as exc:  # urllib's URLError and timeouts included
        reason = getattr(exc, "reason", exc)
        kind = "timeout" if isinstance(reason, TimeoutError) else "connection"
        raise target.fail(
            ActionError(f"could not reach Slack: {scrub(str(reason), target.secrets)}", kind=kind)
        ) from None
    target.succeed()
    return {"ts": response.get("ts"), "channel": response.get("channel"), "via": "api"}


def _post_webhook(target, message, timeout):
    secrets = target.secrets
    try:
        response = http_client.request("POST", target.url, json=message, timeout=timeout)
    except ActionError as exc:
        # The guarded client's errors may quote the URL, which is the credential here.
        raise target.fail(
            ActionError(scrub(exc.message, secrets), kind=exc.kind, details=exc.details)
        ) from None
    if response.status >= 300:
        # Slack answers webhook errors as plain text: invalid_payload, channel_not_found...
        error = scrub((response.text or "").strip()[:200], secrets) or f"HTTP {response.status}"
        raise target.fail(
            ActionError(
                f"the Slack webhook refused the message ({response.status}): {error}",
                kind=_kind(response.status, error),
                details={"status": response.status, "slack_error": error},
            )
        )
    target.succeed()
    return {"ts": None, "channel": None, "via": "webhook"}  # webhooks answer only "ok"


class SendSlack(ActionType):
    """Post a message to Slack: a channel through the Web API, or an incoming webhook."""

    key = "send_slack"
    label = "Send Slack message"
    category = "communication"
    icon = "slack"
    color = "#4a154b"
    outputs = ["ts", "channel", "via"]
    retry = {"max_attempts": 3}
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "via": {
                "type": "string",
                "title": "Send through",
                "enum": ["api", "webhook"],
                "default": "api",
                "description": "api: chat.postMessage with a bot token; webhook: an "
                "incoming-webhook URL.",
            },
            "connection": {
                "type": "string",
                "title": "Slack connection",
                "description": "Name of a Slack connection (bot_token and/or webhook_url).",
            },
            "channel": {
                "type": "string",
                "title": "Channel",
                "description": "Channel id or name (#billing); needed with the Web API.",
                "templated": True,
            },
            "text": {
                "type": "string",
                "title": "Text",
                "description": "The message, or the fallback text shown with blocks.",
                "templated": True,
            },
            "blocks": {
                "type": "array",
                "title": "Blocks",
                "description": "Block Kit blocks (https://api.slack.com/block-kit).",
                "items": {"type": "object", "required": ["type"]},
                "templated": True,
            },
            "thread_ts": {
                "type": "string",
                "title": "Reply in thread",
                "description": "ts of the parent message (the output of an earlier step).",
                "templated": True,
            },
            "unfurl_links": {"type": "boolean", "title": "Unfurl links", "default": True},
            "webhook_url": {
                "type": "string",
                "title": "Webhook URL",
                "description": "Incoming-webhook URL; prefer keeping it in the connection.",
                "format": "uri",
                "templated": True,
            },
        },
    }
    examples = [
        {
            "connection": "slack",
            "channel": "#billing",
            "text": "Invoice {{ invoice.number }} is {{ invoice.days_overdue }} days overdue.",
        },
        {
            "connection": "slack",
            "channel": "C0123456789",
            "text": "New escalation",
            "blocks": [
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": "*{{ ticket.subject }}*"},
                }
            ],
        },
        {"via": "webhook", "connection": "slack", "text": "Deploy finished"},
    ]

    def run(self, config, context):
        target = _Target(config)
        message = _message(config)
        timeout = context.extra.get("timeout_seconds") or DEFAULT_TIMEOUT_SECONDS
        if target.via == "api":
            return _post_api(target, message, timeout)
        return _post_webhook(target, message, timeout)

    def simulate(self, config, context):
        target = _Target(config)
        message = _message(config)
        if target.via == "api":
            request = {
                "method": "POST",
                "url": target.shown_url,
                "headers": {
                    "Authorization": f"Bearer (bot_token of connection '{target.connection.name}')",
                    "Content-Type": "application/json;charset=utf-8",
                },
                "json": {"channel": target.channel, **message},
            }
        else:
            http_client.check_url(target.url)  # a refused address shows in test mode too
            request = {
                "method": "POST",
                "url": target.shown_url,
                "headers": {"Content-Type": "application/json"},
                "json": message,
            }
        return {"simulated": True, "via": target.via, "request": request}
