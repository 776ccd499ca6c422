"""The business records' entries in the workflow record registry."""

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from workflows.records import ComputedField, registry

from .models import Contact, Contract, Customer, Invoice, Lead, Payment, Project, Ticket


def _days_overdue_q(lookup, value):
    return Invoice.objects.days_overdue_filter(lookup, value)


def _days_until_end(contract):
    return (contract.end_date - timezone.localdate()).days


def _days_until_end_q(lookup, value):
    # days_until_end = end_date - today, so the comparison keeps its direction.
    return Q(**{f"end_date__{lookup}": timezone.localdate() + timedelta(days=int(value))})


def _hours_open(ticket):
    return int((timezone.now() - ticket.created_at).total_seconds() // 3600)


def _hours_open_q(lookup, value):
    """hours_open = whole hours since created_at, as a condition on created_at.

    hours_open >= n is created_at <= now - n hours; the other comparisons reduce to it
    (> n is >= n + 1, <= n is "not >= n + 1", < n is "not >= n").
    """
    now, hours = timezone.now(), int(value)

    def at_least(n):
        return Q(created_at__lte=now - timedelta(hours=n))

    return {
        "gte": lambda: at_least(hours),
        "gt": lambda: at_least(hours + 1),
        "lte": lambda: ~at_least(hours + 1),
        "lt": lambda: ~at_least(hours),
        "exact": lambda: at_least(hours) & ~at_least(hours + 1),
    }[lookup]()


def register_all():
    registry.register(
        Customer,
        entity="customers",
        # The saved payment method stays server-side (a charge reads it from the model): no
        # payload, step log or email can carry it. Provider ids are set by their syncs only.
        fields=[
            "id",
            "name",
            "email",
            "phone",
            "type",
            "stripe_customer_id",
            "quickbooks_id",
            "created_at",
        ],
        writable=["name", "email", "phone", "type"],
    )
    registry.register(
        Invoice,
        entity="invoices",
        fields=[
            "id",
            "number",
            "amount",
            "currency",
            "issue_date",
            "due_date",
            "status",
            "reminder_count",
            "sent_at",
            "paid_at",
            "quickbooks_id",
        ],
        relations=["customer"],
        computed=[
            ComputedField(
                "days_overdue",
                compute=lambda invoice: invoice.days_overdue,
                to_q=_days_overdue_q,
                json_type="integer",
                description="Whole days past the due date (0 when not yet due)",
            )
        ],
    )
    registry.register(
        Payment,
        entity="payments",
        fields=["id", "amount", "received_at", "method"],
        relations=["invoice"],
    )
    registry.register(
        Contact, entity="contacts", fields=["id", "name", "email", "phone"], relations=["customer"]
    )
    registry.register(
        Project,
        entity="projects",
        fields=["id", "name", "status"],
        relations=["customer", "stakeholders"],
    )
    registry.register(
        Ticket,
        entity="tickets",
        fields=[
            "id",
            "subject",
            "description",
            "priority",
            "status",
            "assigned_to",
            "created_at",
            "first_response_at",
            "escalated_at",
        ],
        relations=["customer"],
        computed=[
            ComputedField(
                "hours_open",
                compute=_hours_open,
                to_q=_hours_open_q,
                json_type="integer",
                description="Whole hours since the ticket was opened (for SLA rules)",
            )
        ],
    )
    registry.register(
        Lead,
        entity="leads",
        fields=["id", "name", "email", "company", "source", "score", "status", "assigned_to"],
    )
    registry.register(
        Contract,
        entity="contracts",
        fields=["id", "start_date", "end_date", "value", "status"],
        relations=["customer"],
        computed=[
            ComputedField(
                "days_until_end",
                compute=_days_until_end,
                to_q=_days_until_end_q,
                json_type="integer",
                description="Days from today to the end date (negative once ended)",
            )
        ],
    )
