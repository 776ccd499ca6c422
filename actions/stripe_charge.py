"""stripe_charge: charge a customer's saved card with a Stripe PaymentIntent.

Through the official `stripe` package (its StripeClient, pointed at `settings.STRIPE_API_BASE`
so tests and proxies can stand in for api.stripe.com). Three things make a charge from a
workflow safe:

* **Once.** The PaymentIntent is created with `Idempotency-Key` = the step's deterministic
  key (execution + step path). A retried attempt, a resumed run or a worker that died after
  Stripe answered all send the same key, and Stripe answers with the first result instead of
  charging again. The SDK's own retries are off: the step's retry policy decides, and it
  retries only what may not have reached Stripe or what Stripe asks to retry (timeouts,
  connection errors, 429, 5xx). A declined card is final.
* **The right card.** Workflow data names only our customer (an id); the Stripe customer and
  the saved payment method are read from that Customer row, server-side. A webhook body can
  therefore never choose which card is charged, and the payment method id never appears in
  an output, a simulation or an error message.
* **The right amount.** Amounts are exact Decimals turned into the currency's smallest unit
  (cents; yen are already whole; three-decimal dinars end in 0; ISK whole krónur in a
  two-decimal field, as Stripe documents). An amount with more decimals than the currency
  has is refused, never rounded.

The API key comes from a `stripe` Connection (`secrets["api_key"]`) and never leaves memory
except in the Authorization header to the configured Stripe base.
"""

from decimal import Decimal
from typing import ClassVar

from django.conf import settings

from crm.models import Customer
from workflows.values import as_decimal

from .connections import get_connection, mark_used, require_secret, scrub
from .registry import ActionError, ActionType

DEFAULT_API_BASE = "https://api.stripe.com"
DEFAULT_TIMEOUT = 30
# https://docs.stripe.com/currencies: charged in whole units.
ZERO_DECIMAL = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga"}
    | {"pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"}
)
# Three minor digits, and the last one must be 0 for Stripe's card partners.
THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})
# Two-decimal in the API but only whole units may be charged (multiples of 100).
WHOLE_UNITS_IN_CENTS = frozenset({"isk"})
# Stripe's maximum amount is 8 digits of minor units for most currencies.
MAX_MINOR_UNITS = 99_999_999_999


def _stripe():
    """The Stripe SDK, imported on first use rather than at module level: it adds several MiB
    to every web, websocket and Celery process (all load this module through the registry),
    and only a running charge needs it."""
    import stripe

    return stripe


def api_base():
    return getattr(settings, "STRIPE_API_BASE", DEFAULT_API_BASE).rstrip("/")


def minor_units(amount, currency) -> int:
    """The amount in the currency's smallest unit, as Stripe expects it; exact or an error."""
    number = as_decimal(amount)
    if number is None or number <= 0:
        raise ActionError(f"amount: {amount!r} is not a positive number", kind="invalid_config")
    code = currency.lower()
    if code in ZERO_DECIMAL:
        places, step = 0, 1
    elif code in THREE_DECIMAL:
        places, step = 3, 10
    elif code in WHOLE_UNITS_IN_CENTS:
        places, step = 2, 100
    else:
        places, step = 2, 1
    minor = number.scaleb(places)
    if minor != minor.to_integral_value() or int(minor) % step:
        smallest = Decimal(step).scaleb(-places)
        raise ActionError(
            f"amount: {number} {code.upper()} cannot be charged exactly; amounts in "
            f"{code.upper()} are multiples of {smallest} (round it first, e.g. with calculate)",
            kind="invalid_config",
        )
    if int(minor) > MAX_MINOR_UNITS:
        raise ActionError(f"amount: {number} {code.upper()} is too large", kind="invalid_config")
    return int(minor)


def _customer(config):
    value = config.get("customer")
    pk = value.get("id") if isinstance(value, dict) else value
    try:
        customer = Customer.objects.get(pk=pk)
    except (Customer.DoesNotExist, ValueError, TypeError):
        raise ActionError(f"customer: no customer with id {pk!r}", kind="not_found") from None
    if not customer.stripe_customer_id or not customer.stripe_payment_method_id:
        missing = "Stripe customer" if not customer.stripe_customer_id else "saved payment method"
        raise ActionError(
            f"customer {customer.pk} ({customer.name}) has no {missing}; "
            "save a card for them in Stripe first",
            kind="invalid_config",
        )
    return customer


def _currency(config):
    currency = str(config.get("currency") or "").strip().lower()
    if len(currency) != 3 or not currency.isalpha() or not currency.isascii():
        raise ActionError(
            f"currency: {config.get('currency')!r} is not a three-letter code such as usd",
            kind="invalid_config",
        )
    return currency


def build_params(config, context, customer):
    """The PaymentIntent parameters, without the payment method (added only when sending)."""
    currency = _currency(config)
    params = {
        "amount": minor_units(config.get("amount"), currency),
        "currency": currency,
        "customer": customer.stripe_customer_id,
        "off_session": True,
        "confirm": True,
        "metadata": {
            **{str(k): str(v) for k, v in (config.get("metadata") or {}).items()},
            # So a Stripe webhook or a dashboard search leads back to the run.
            "execution_id": str(context.execution.public_id),
            "workflow_step": context.path,
        },
    }
    if config.get("description"):
        params["description"] = str(config["description"])[:1000]
    return params


def _failure(exc, secrets):
    """A Stripe SDK error as an ActionError the retry policy understands (secrets scrubbed)."""
    stripe = _stripe()
    raw = getattr(exc, "user_message", None) or getattr(exc, "_message", None) or str(exc)
    message = scrub(raw, secrets)
    details = {
        key: value
        for key, value in {
            "http_status": getattr(exc, "http_status", None),
            "stripe_code": getattr(exc, "code", None),
            "decline_code": getattr(getattr(exc, "error", None), "decline_code", None),
            "request_id": getattr(exc, "request_id", None),
        }.items()
        if value
    }
    if isinstance(exc, stripe.CardError):
        return ActionError(
            f"Stripe declined the charge: {message}", kind="client_error", details=details
        )
    if isinstance(exc, stripe.RateLimitError):
        return ActionError(
            f"Stripe is rate limiting: {message}", kind="rate_limited", details=details
        )
    if isinstance(exc, stripe.APIConnectionError):
        kind = "timeout" if "timeout" in str(exc).lower() else "connection"
        return ActionError("could not reach Stripe (the request may be retried safely)", kind=kind)
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return ActionError(
            f"Stripe refused the connection's API key: {message}",
            kind="client_error",
            details=details,
        )
    status = getattr(exc, "http_status", None) or 500
    kind = "server_error" if status >= 500 or isinstance(exc, stripe.APIError) else "client_error"
    return ActionError(f"Stripe answered {status}: {message}", kind=kind, details=details)


class StripeCharge(ActionType):
    """Charge a customer's saved card (a PaymentIntent, confirmed off-session).

    The amount is exact (e.g. "1250.00" USD is 125000 cents; JPY has no cents). A retried step
    sends the same idempotency key, so it never charges twice. Test mode shows the request
    that would be sent and sends nothing.
    """

    key = "stripe_charge"
    label = "Charge via Stripe"
    category = "integration"
    icon = "credit-card"
    color = "#635bff"
    outputs: ClassVar[list[str]] = ["payment_intent_id", "status", "amount"]
    retry: ClassVar[dict] = {"max_attempts": 3, "backoff_seconds": 30}
    config_schema: ClassVar[dict] = {
        "type": "object",
        "required": ["connection", "customer", "amount", "currency"],
        "additionalProperties": False,
        "properties": {
            "connection": {
                "type": ["string", "integer"],
                "title": "Stripe connection",
                "description": "The name of a Stripe connection (its API key is stored there)",
            },
            "customer": {
                "type": ["integer", "string", "object"],
                "title": "Customer",
                "description": (
                    "Our customer (an id or a record); their Stripe customer and saved card "
                    "are read from the record"
                ),
                "templated": True,
            },
            "amount": {
                "type": ["number", "string"],
                "title": "Amount",
                "description": 'In the currency\'s main unit, e.g. "1250.00" or 1250',
                "templated": True,
            },
            "currency": {
                "type": "string",
                "title": "Currency",
                "description": "Three-letter ISO code, e.g. usd, eur, jpy",
                "pattern": "^[A-Za-z]{3}$",
                "default": "usd",
                "templated": True,
            },
            "description": {"type": "string", "title": "Description", "templated": True},
            "metadata": {
                "type": "object",
                "title": "Metadata",
                "description": "Key-value pairs stored on the PaymentIntent",
                "additionalProperties": {"type": "string", "templated": True},
            },
        },
    }
    examples: ClassVar[list[dict]] = [
        {
            "connection": "stripe-live",
            "customer": "{{ invoice.customer.id }}",
            "amount": "{{ invoice.amount }}",
            "currency": "{{ invoice.currency }}",
            "description": "Invoice {{ invoice.number }}",
            "metadata": {"invoice": "{{ invoice.number }}"},
        },
        {"connection": "stripe-test", "customer": 12, "amount": 5000, "currency": "jpy"},
    ]

    def run(self, config, context):
        customer = _customer(config)
        params = build_params(config, context, customer)
        connection = get_connection(config.get("connection"), "stripe")
        api_key = require_secret(connection, "api_key")
        secrets = [api_key, customer.stripe_payment_method_id]
        stripe = _stripe()
        client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base()},
            max_network_retries=0,
            http_client=stripe.RequestsClient(
                timeout=float(context.extra.get("timeout_seconds") or DEFAULT_TIMEOUT)
            ),
        )
        try:
            intent = client.v1.payment_intents.create(
                params={**params, "payment_method": customer.stripe_payment_method_id},
                options={"idempotency_key": context.idempotency_key},
            )
        except stripe.StripeError as exc:
            error = _failure(exc, secrets)
            mark_used(connection, error)
            raise error from None
        mark_used(connection)
        return {
            "payment_intent_id": intent.id,
            "status": intent.status,
            "amount": format(as_decimal(config.get("amount")), "f"),
            "amount_minor": intent.amount,
            "currency": intent.currency,
            "customer": customer.stripe_customer_id,
        }

    def simulate(self, config, context):
        customer = _customer(config)
        params = build_params(config, context, customer)
        # Checked like a real run (it exists, it is a Stripe one), but not marked as used.
        connection = get_connection(config.get("connection"), "stripe")
        return {
            "simulated": True,
            "request": {
                "method": "POST",
                "url": f"{api_base()}/v1/payment_intents",
                "headers": {
                    "Authorization": "Bearer ***",
                    "Idempotency-Key": context.idempotency_key,
                },
                "body": {**params, "payment_method": "(the customer's saved payment method)"},
            },
            "connection": connection.name,
        }
