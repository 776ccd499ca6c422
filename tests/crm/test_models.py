"""The business records: days_overdue (on an instance and in a query) and the invariants the
database keeps."""

import operator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.models import Contract, Invoice

pytestmark = pytest.mark.django_db

TODAY = date(2026, 11, 26)
MORNING = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
COMPARE = {
    "exact": operator.eq,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


@pytest.fixture
def spread(invoice_factory, customer_factory):
    """Invoices due from 40 days ago to 20 days ahead of TODAY."""
    customer = customer_factory()
    return [invoice_factory(days_late=d, customer=customer) for d in (40, 8, 7, 6, 1, 0, -1, -20)]


def _by_query(lookup, days):
    return set(
        Invoice.objects.filter(Invoice.objects.days_overdue_filter(lookup, days)).values_list(
            "number", flat=True
        )
    )


def _by_instance(lookup, days):
    return {i.number for i in Invoice.objects.all() if COMPARE[lookup](i.days_overdue, days)}


# -- days_overdue on an instance --------------------------------------------------------------


@pytest.mark.parametrize(
    ("days_late", "expected"),
    [
        (30, 30),
        (7, 7),
        (1, 1),
        (0, 0),  # due today: not overdue yet
        (-5, 0),  # due in five days: never negative
    ],
)
def test_days_overdue_counts_whole_days_past_the_due_date(invoice_factory, days_late, expected):
    invoice = invoice_factory(days_late=days_late)
    with time_machine.travel(MORNING, tick=False):
        assert invoice.days_overdue == expected


def test_days_overdue_follows_the_application_clock(invoice_factory):
    invoice = invoice_factory(days_late=3)
    with time_machine.travel(MORNING, tick=False) as traveller:
        assert invoice.days_overdue == 3
        traveller.shift(timedelta(days=4))
        assert invoice.days_overdue == 7


def test_days_overdue_uses_the_local_date_of_the_current_timezone(invoice_factory):
    invoice = invoice_factory(days_late=7)
    # 03:00 UTC on the 26th is still the evening of the 25th in New York.
    with time_machine.travel(datetime(2026, 11, 26, 3, 0, tzinfo=UTC), tick=False):
        assert invoice.days_overdue == 7
        with timezone.override("America/New_York"):
            assert invoice.days_overdue == 6
            assert invoice.number not in _by_query("gte", 7)


# -- the same answer in a query ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("lookup", "days"),
    [
        ("gte", 7),
        ("gt", 7),
        ("lte", 7),
        ("lt", 7),
        ("exact", 7),
        ("exact", 40),
        ("gte", 1),
        ("gt", 0),
        ("lte", 0),  # not overdue: due today or later
        ("lt", 1),
        ("exact", 0),
        ("gte", -3),
    ],
)
def test_days_overdue_in_a_query_agrees_with_the_instance(spread, lookup, days):
    with time_machine.travel(MORNING, tick=False):
        assert _by_query(lookup, days) == _by_instance(lookup, days)


def test_query_and_instance_agree_after_the_clock_moves_forward(spread):
    with time_machine.travel(MORNING, tick=False) as traveller:
        assert _by_query("gte", 7) == _by_instance("gte", 7) == {"INV-0001", "INV-0002", "INV-0003"}
        traveller.shift(timedelta(days=6))  # INV-0005 (1 day late) reaches 7
        assert _by_query("gte", 7) == _by_instance("gte", 7)
        assert _by_query("gte", 7) == {"INV-0001", "INV-0002", "INV-0003", "INV-0004", "INV-0005"}


def test_overdue_by_is_days_overdue_at_least(spread):
    with time_machine.travel(MORNING, tick=False):  # both read "today" from the clock
        numbers = set(Invoice.objects.overdue_by(7).values_list("number", flat=True))
        assert numbers == _by_query("gte", 7) == {"INV-0001", "INV-0002", "INV-0003"}


def test_an_explicit_today_overrides_the_clock(spread):
    q = Invoice.objects.days_overdue_filter("gte", 7, today=TODAY + timedelta(days=1))
    with time_machine.travel(MORNING, tick=False):
        assert set(Invoice.objects.filter(q).values_list("number", flat=True)) == {
            "INV-0001",
            "INV-0002",
            "INV-0003",
            "INV-0004",
        }


# -- invariants -------------------------------------------------------------------------------


def test_a_negative_invoice_amount_is_refused_by_the_database(invoice_factory):
    with pytest.raises(IntegrityError), transaction.atomic():
        invoice_factory(amount=Decimal("-0.01"))


def test_a_negative_invoice_amount_is_refused_by_validation(invoice_factory, customer_factory):
    invoice = Invoice(
        number="INV-9999",
        customer=customer_factory(),
        amount=Decimal("-5.00"),
        due_date=TODAY,
    )
    with pytest.raises(ValidationError) as excinfo:
        invoice.full_clean()
    assert "amount" in excinfo.value.message_dict


def test_a_zero_amount_is_allowed(invoice_factory):
    assert invoice_factory(amount=Decimal("0.00")).pk


@pytest.mark.parametrize(
    ("start", "end", "allowed"),
    [
        (date(2026, 1, 1), date(2026, 12, 31), True),
        (date(2026, 1, 1), date(2026, 1, 1), True),  # a one-day contract
        (date(2026, 1, 2), date(2026, 1, 1), False),  # ends before it starts
    ],
)
def test_a_contract_cannot_end_before_it_starts(customer_factory, start, end, allowed):
    values = {
        "customer": customer_factory(),
        "start_date": start,
        "end_date": end,
        "value": Decimal("1000.00"),
    }
    if allowed:
        assert Contract.objects.create(**values).pk
        return
    with pytest.raises(IntegrityError), transaction.atomic():
        Contract.objects.create(**values)
    with pytest.raises(ValidationError, match="contract_ends_after_start"):
        Contract(**values).full_clean()


def test_invoice_numbers_are_unique(invoice_factory):
    invoice_factory(number="INV-0042")
    with pytest.raises(IntegrityError), transaction.atomic():
        invoice_factory(number="INV-0042")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("lookup", "hours"),
    [("gte", 4), ("gt", 4), ("lte", 4), ("lt", 4), ("exact", 4), ("gte", 0), ("lt", 1)],
)
def test_ticket_hours_open_in_a_query_agrees_with_the_instance(lookup, hours):
    from crm.models import Ticket
    from workflows.records import registry

    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    for age in (0, 1, 3, 4, 5, 30):
        Ticket.objects.create(subject=f"{age}h", created_at=now - timedelta(hours=age, minutes=10))
    tickets = registry.get("tickets")
    compare = {
        "gte": lambda a, b: a >= b,
        "gt": lambda a, b: a > b,
        "lte": lambda a, b: a <= b,
        "lt": lambda a, b: a < b,
        "exact": lambda a, b: a == b,
    }[lookup]
    with time_machine.travel(now, tick=False):
        by_query = {
            t.subject
            for t in Ticket.objects.filter(tickets.computed["hours_open"].to_q(lookup, hours))
        }
        by_instance = {
            t.subject
            for t in Ticket.objects.all()
            if compare(tickets.computed["hours_open"].compute(t), hours)
        }
    assert by_query == by_instance
    assert by_query  # every case here matches something
