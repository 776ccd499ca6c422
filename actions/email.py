"""send_email: a message through django-anymail (or any Django email backend)."""

import html

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email

from workflows.variables import ExpressionError, parse

from .models import EmailTemplate
from .registry import ActionError, ActionType

ADDRESSES = {
    "oneOf": [
        {"type": "string"},
        {"type": "array", "items": {"type": "string"}},
    ]
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


def compose(config, context):
    """The message the config describes, fully rendered, not yet sent."""
    to = _addresses(config.get("to"), "to")
    if not to:
        raise ActionError("to: at least one recipient is needed", kind="invalid_config")
    variables = config.get("variables") or {}
    if config.get("template"):
        try:
            template = EmailTemplate.objects.get(key=config["template"])
        except EmailTemplate.DoesNotExist:
            raise ActionError(
                f"template: no email template '{config['template']}'", kind="invalid_config"
            ) from None
        subject, text, html_body = template.subject, template.text_body, template.html_body
    else:
        subject, text, html_body = config.get("subject"), config.get("body"), config.get("html")
        if not subject or not (text or html_body):
            raise ActionError(
                "give either a template or a subject and a body", kind="invalid_config"
            )
    message = EmailMultiAlternatives(
        subject=_render(subject, variables, "subject").replace("\n", " "),
        body=_render(text or "", variables, "body"),
        from_email=config.get("from") or settings.DEFAULT_FROM_EMAIL,
        to=to,
        cc=_addresses(config.get("cc"), "cc"),
        bcc=_addresses(config.get("bcc"), "bcc"),
        reply_to=_addresses(config.get("reply_to"), "reply_to"),
    )
    if html_body:
        message.attach_alternative(_render(html_body, _escaped(variables), "html"), "text/html")
    # Read by anymail backends so ESP webhooks can be matched to the run that sent them.
    message.tags = list(config.get("tags") or [])
    message.metadata = {
        **(config.get("metadata") or {}),
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
            "to": {**ADDRESSES, "title": "To", "templated": True},
            "cc": {**ADDRESSES, "title": "Cc"},
            "bcc": {**ADDRESSES, "title": "Bcc"},
            "reply_to": {**ADDRESSES, "title": "Reply to"},
            "from": {"type": "string", "title": "From"},
            "template": {"type": "string", "title": "Template key"},
            "subject": {"type": "string", "title": "Subject", "templated": True},
            "body": {"type": "string", "title": "Text body", "templated": True},
            "html": {"type": "string", "title": "HTML body", "templated": True},
            "variables": {"type": "object", "title": "Template variables"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "metadata": {"type": "object"},
        },
    }

    def run(self, config, context):
        message = compose(config, context)
        try:
            message.send()
        except OSError as exc:
            raise ActionError(f"the mail server did not answer: {exc}", kind="connection") from exc
        status = getattr(message, "anymail_status", None)
        return {
            **describe(message),
            "status": "sent",
            "message_id": getattr(status, "message_id", None),
        }

    def simulate(self, config, context):
        return {**describe(compose(config, context)), "status": "simulated"}
