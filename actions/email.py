"""send_email: a message through django-anymail (or any Django email backend).

Which service sends is a deployment choice, not a workflow's: `EMAIL_BACKEND` names any
anymail ESP backend (Postmark, SendGrid, Mailgun, Amazon SES...) with its credentials in
`ANYMAIL_*` settings, and the console backend prints messages when nothing is set. The step
only builds a standard `EmailMultiAlternatives`, from a stored EmailTemplate (subject, text
and HTML bodies with `{{ variables }}`, editable in the admin) or from a subject and body
given inline, and adds what anymail forwards to the ESP: `tags`, and `metadata` that always
carries the execution id and step path, so the ESP's delivery, bounce and open webhooks can
be matched to the run that sent the message.

The ESP's answer decides the retry: 429 and 5xx (or an SMTP 4xx, which is "try later") are
retried, other refusals are not.
"""

import html
import smtplib
from email.utils import parseaddr

import requests
from anymail.exceptions import (
    AnymailAPIError,
    AnymailInvalidAddress,
    AnymailRecipientsRefused,
    AnymailUnsupportedFeature,
)
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import BadHeaderError, EmailMultiAlternatives
from django.core.validators import validate_email

from workflows.variables import ExpressionError, parse

from .connections import scrub
from .models import EmailTemplate
from .registry import ActionError, ActionType

ADDRESSES = {
    "oneOf": [
        {"type": "string"},
        {"type": "array", "items": {"type": "string"}},
    ],
    "templated": True,
}


def _addresses(value, field):
    if value in (None, "", []):
        return []
    items = value if isinstance(value, list) else [part.strip() for part in str(value).split(",")]
    for item in items:
        try:
            validate_email(item)
        except (ValidationError, TypeError):
            raise ActionError(
                f"{field}: '{item}' is not an email address", kind="invalid_config"
            ) from None
    return items


def _sender(value):
    """`a@b.example` or `Billing <a@b.example>`; the default sender when not given."""
    if not value:
        return settings.DEFAULT_FROM_EMAIL
    text = str(value)
    _name, address = parseaddr(text)
    try:
        if "\n" in text or "\r" in text:
            raise ValidationError("newline")
        validate_email(address)
    except ValidationError:
        raise ActionError(
            f"from: '{text}' is not an email address", kind="invalid_config"
        ) from None
    return text


def _escaped(value):
    if isinstance(value, str):
        return html.escape(value)
    if isinstance(value, dict):
        return {k: _escaped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    return value


def _render(text, variables, field):
    try:
        return str(parse(text).render(variables))
    except ExpressionError as exc:
        raise ActionError(f"{field}: {exc}", kind="invalid_config") from None


def _contents(config):
    """(subject, text, html, render?) from the template or the config.

    A template's text is ours to render with `variables`. Inline text was already rendered
    by the workflow engine, and parsing it a second time would treat data that happens to
    contain `{{ }}` as an expression; so it is rendered only when `variables` are given.
    """
    if config.get("template"):
        try:
            template = EmailTemplate.objects.get(key=config["template"])
        except EmailTemplate.DoesNotExist:
            raise ActionError(
                f"template: no email template '{config['template']}'", kind="invalid_config"
            ) from None
        return template.subject, template.text_body, template.html_body, True
    subject, text, html_body = config.get("subject"), config.get("body"), config.get("html")
    if not subject or not (text or html_body):
        raise ActionError("give either a template or a subject and a body", kind="invalid_config")
    return subject, text, html_body, bool(config.get("variables"))


def compose(config, context):
    """The message the config describes, fully rendered, not yet sent."""
    to = _addresses(config.get("to"), "to")
    if not to:
        raise ActionError("to: at least one recipient is needed", kind="invalid_config")
    variables = config.get("variables") or {}
    if not isinstance(variables, dict):
        raise ActionError("variables: must be an object", kind="invalid_config")
    subject, text, html_body, render = _contents(config)
    if render:
        subject = _render(subject, variables, "subject")
        text = _render(text or "", variables, "body")
        # Values are escaped for HTML; the template's own markup is not.
        html_body = html_body and _render(html_body, _escaped(variables), "html")
    message = EmailMultiAlternatives(
        # A newline in a header would start another header (a Bcc, say).
        subject=str(subject).replace("\r", " ").replace("\n", " "),
        body=str(text or ""),
        from_email=_sender(config.get("from")),
        to=to,
        cc=_addresses(config.get("cc"), "cc"),
        bcc=_addresses(config.get("bcc"), "bcc"),
        reply_to=_addresses(config.get("reply_to"), "reply_to"),
    )
    if html_body:
        message.attach_alternative(str(html_body), "text/html")
    tags = config.get("tags") or []
    metadata = config.get("metadata") or {}
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise ActionError("tags: must be a list of strings", kind="invalid_config")
    if not isinstance(metadata, dict):
        raise ActionError("metadata: must be an object", kind="invalid_config")
    # Read by anymail backends so ESP webhooks can be matched to the run that sent them.
    message.tags = list(tags)
    message.metadata = {
        **metadata,
        "execution_id": context.execution.public_id,
        "step": context.path,
    }
    return message


def describe(message):
    alternatives = {mime: content for content, mime in message.alternatives}
    return {
        "to": message.to,
        "cc": message.cc,
        "bcc": message.bcc,
        "from": message.from_email,
        "subject": message.subject,
        "body": message.body,
        "html": alternatives.get("text/html"),
        "tags": message.tags,
        "metadata": message.metadata,
    }


def _kind_for_status(status):
    if status == 429:
        return "rate_limited"
    if status is None or status >= 500:
        return "server_error"
    return "client_error"


def _esp_secrets():
    # ANYMAIL_* holds the ESP's API keys; an error body that echoes one must not keep it.
    return [value for value in (getattr(settings, "ANYMAIL", None) or {}).values() if value]


def send_failure(exc):
    """An exception of the email backend as an ActionError the retry policy understands."""
    if isinstance(exc, AnymailRecipientsRefused):
        return ActionError("the email service refused every recipient", kind="client_error")
    if isinstance(exc, (AnymailInvalidAddress, AnymailUnsupportedFeature)):
        return ActionError(str(exc.args[0] if exc.args else exc), kind="invalid_config")
    # anymail's network errors are also the requests exception they stand for.
    if isinstance(exc, requests.Timeout):
        return ActionError("the email service did not answer in time", kind="timeout")
    if isinstance(exc, requests.ConnectionError):
        return ActionError("could not reach the email service", kind="connection")
    if isinstance(exc, AnymailAPIError):
        status = exc.status_code
        esp = exc.esp_name or "the email service"
        response = getattr(exc, "response", None)
        reason = (getattr(response, "text", "") or "").strip()[:300]
        return ActionError(
            scrub(f"{esp} answered {status}: {reason}".rstrip(": "), _esp_secrets()),
            kind=_kind_for_status(status),
            details={"status": status},
        )
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return ActionError("the mail server refused every recipient", kind="client_error")
    if isinstance(exc, smtplib.SMTPResponseException):
        # SMTP 4xx means "try again later"; 5xx is a permanent refusal.
        kind = "server_error" if 400 <= exc.smtp_code < 500 else "client_error"
        return ActionError(f"the mail server answered {exc.smtp_code}", kind=kind)
    if isinstance(exc, TimeoutError):
        return ActionError("the mail server did not answer in time", kind="timeout")
    if isinstance(exc, OSError):
        return ActionError(f"the mail server did not answer: {exc}", kind="connection")
    return None


class SendEmail(ActionType):
    """Send an email, from a stored template or from a subject and body given here."""

    key = "send_email"
    label = "Send email"
    category = "communication"
    icon = "mail"
    color = "#2563eb"
    outputs = ["email"]
    retry = {"max_attempts": 3}
    config_schema = {
        "type": "object",
        "required": ["to"],
        "additionalProperties": False,
        "properties": {
            "to": {
                **ADDRESSES,
                "title": "To",
                "description": "One address, a comma-separated list, or a list.",
            },
            "cc": {**ADDRESSES, "title": "Cc"},
            "bcc": {**ADDRESSES, "title": "Bcc"},
            "reply_to": {**ADDRESSES, "title": "Reply to"},
            "from": {
                "type": "string",
                "title": "From",
                "description": "Sender (a@b.example or Name <a@b.example>); defaults to "
                "DEFAULT_FROM_EMAIL.",
                "templated": True,
            },
            "template": {
                "type": "string",
                "title": "Template",
                "description": "Key of an email template (subject, text and HTML bodies).",
            },
            "subject": {
                "type": "string",
                "title": "Subject",
                "description": "Without a template: the subject line.",
                "templated": True,
            },
            "body": {
                "type": "string",
                "title": "Text body",
                "description": "Without a template: the plain-text body.",
                "templated": True,
            },
            "html": {
                "type": "string",
                "title": "HTML body",
                "description": "Without a template: an HTML body. Values from {{ }} are "
                "inserted as they are; a template's variables are HTML-escaped.",
                "templated": True,
            },
            "variables": {
                "type": "object",
                "title": "Template variables",
                "description": "Values for the template's {{ name }} placeholders.",
                "default": {},
                "templated": True,
            },
            "tags": {
                "type": "array",
                "items": {"type": "string"},
                "title": "Tags",
                "description": "Sent to the email service to group messages in its reports.",
                "default": [],
                "templated": True,
            },
            "metadata": {
                "type": "object",
                "title": "Metadata",
                "description": "Sent to the email service and returned in its webhooks; "
                "execution_id and step are always added.",
                "default": {},
                "templated": True,
            },
        },
    }
    examples = [
        {
            "to": "{{ invoice.customer.email }}",
            "template": "invoice_reminder",
            "variables": {
                "invoice_number": "{{ invoice.number }}",
                "amount": "{{ invoice.amount }}",
                "due_date": "{{ invoice.due_date }}",
            },
            "tags": ["invoice-reminder"],
            "metadata": {"invoice_id": "{{ invoice.id }}"},
        },
        {
            "to": ["ops@example.com"],
            "from": "Automation <automation@example.com>",
            "subject": "Workflow report",
            "body": "All invoices were processed.",
        },
    ]

    def run(self, config, context):
        message = compose(config, context)
        try:
            message.send()
        except BadHeaderError as exc:
            raise ActionError(str(exc), kind="invalid_config") from None
        except Exception as exc:
            error = send_failure(exc)
            if error is None:
                raise
            raise error from None
        # Only anymail backends report this: the ESP's message id(s) and per-recipient
        # statuses ("queued", "sent", "rejected"...), which its webhooks will refer to.
        status = getattr(message, "anymail_status", None)
        message_id = getattr(status, "message_id", None)
        if isinstance(message_id, set):  # one id per recipient with some ESPs
            message_id = sorted(str(i) for i in message_id if i) or None
        return {
            **describe(message),
            "status": "sent",
            "message_id": message_id,
            "esp_status": sorted(str(s) for s in (getattr(status, "status", None) or []) if s),
        }

    def simulate(self, config, context):
        return {**describe(compose(config, context)), "status": "simulated"}
