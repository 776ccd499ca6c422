"""Mongo-style record filters: every operator, relation paths, $or, the computed days_overdue,
and the errors (each names the field or operator at fault)."""

import functools
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from actions.querying import FilterError, build_q, order_by_fields, resolve_field
from workflows.records import registry

MORNING = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
TODAY = MORNING.date()


@pytest.fixture
def frozen():
    with time_machine.travel(MORNING, tick=False):
        yield


@pytest.fixture
def invoice_factory(invoice_factory):
    """The shared factory, but invoices are sent (their status is filtered on here)."""
    return functools.partial(invoice_factory, status="sent")


@pytest.fixture
def invoices(frozen, customer_factory, invoice_factory):
    """Five invoices of two customers; days_overdue 10, 3, 30, 0 and 0."""
    acme = customer_factory()
    bolt = customer_factory(name="Bolt Bikes", email="ap@bolt.example", type="smb")
    sent_at = MORNING - timedelta(days=40)
    invoice_factory(
        "INV-1",
        customer=acme,
        amount=Decimal("100.00"),
        status="overdue",
        days_late=10,
        sent_at=sent_at,
        quickbooks_id="QB-1",
    )
    invoice_factory(
        "INV-2",
        customer=acme,
        amount=Decimal("2500.00"),
        currency="EUR",
        status="overdue",
        days_late=3,
        reminder_count=3,
        sent_at=sent_at,
    )
    invoice_factory(
        "INV-3",
        customer=bolt,
        amount=Decimal("999.99"),
        status="paid",
        days_late=30,
        sent_at=sent_at,
        paid_at=MORNING,
    )
    invoice_factory(
        "INV-4", customer=bolt, amount=Decimal("1000.00"), days_late=-5, sent_at=sent_at
    )
    invoice_factory(
        "INV-5",
        customer=bolt,
        amount=Decimal("50.00"),
        currency="GBP",
        status="draft",
        days_late=-30,
    )


def _numbers(spec, entity="invoices"):
    record_type = registry.get(entity)
    return set(
        record_type.model.objects.filter(build_q(record_type, spec)).values_list(
            "number", flat=True
        )
    )


def _refused(spec, entity="invoices"):
    with pytest.raises(FilterError) as excinfo:
        build_q(registry.get(entity), spec)
    return str(excinfo.value)


# -- operators --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        # a plain value means equals
        ({"status": "overdue"}, {"INV-1", "INV-2"}),
        ({"reminder_count": 3}, {"INV-2"}),
        ({}, {"INV-1", "INV-2", "INV-3", "INV-4", "INV-5"}),
        # comparison
        ({"status": {"$eq": "paid"}}, {"INV-3"}),
        ({"status": {"$ne": "overdue"}}, {"INV-3", "INV-4", "INV-5"}),
        ({"amount": {"$gt": 999.99}}, {"INV-2", "INV-4"}),
        ({"amount": {"$gt": "999.99"}}, {"INV-2", "INV-4"}),  # a decimal as a string
        ({"amount": {"$gte": 1000}}, {"INV-2", "INV-4"}),
        ({"amount": {"$lt": 100}}, {"INV-5"}),
        ({"amount": {"$lte": 100}}, {"INV-1", "INV-5"}),
        ({"amount": {"$gte": 100, "$lt": 1000}}, {"INV-1", "INV-3"}),  # both must hold
        ({"due_date": {"$lt": "2026-11-26"}}, {"INV-1", "INV-2", "INV-3"}),  # ISO dates
        # membership
        ({"status": {"$in": ["paid", "draft"]}}, {"INV-3", "INV-5"}),
        ({"status": {"$nin": ["paid", "draft"]}}, {"INV-1", "INV-2", "INV-4"}),
        ({"status": {"$in": []}}, set()),
        # text
        ({"currency": {"$contains": "US"}}, {"INV-1", "INV-3", "INV-4"}),
        ({"currency": {"$icontains": "gb"}}, {"INV-5"}),
        ({"number": {"$startswith": "INV-"}}, {"INV-1", "INV-2", "INV-3", "INV-4", "INV-5"}),
        ({"quickbooks_id": {"$startswith": "QB"}}, {"INV-1"}),
        # existence (a null column does not exist)
        ({"paid_at": {"$exists": True}}, {"INV-3"}),
        ({"sent_at": {"$exists": False}}, {"INV-5"}),
        # one whitelisted relation
        ({"customer.type": "enterprise"}, {"INV-1", "INV-2"}),
        ({"customer.type": {"$in": ["smb", "individual"]}}, {"INV-3", "INV-4", "INV-5"}),
        ({"customer.name": {"$startswith": "Bolt"}, "status": "paid"}, {"INV-3"}),
        ({"customer.email": {"$icontains": "ACME"}}, {"INV-1", "INV-2"}),
        # combinators
        ({"$or": [{"status": "paid"}, {"amount": {"$gte": 2000}}]}, {"INV-2", "INV-3"}),
        ({"$or": [{"status": "draft"}], "currency": "GBP"}, {"INV-5"}),
        ({"$and": [{"status": "overdue"}, {"currency": "USD"}]}, {"INV-1"}),
        (
            {"$or": [{"$and": [{"status": "overdue"}, {"currency": "EUR"}]}, {"status": "draft"}]},
            {"INV-2", "INV-5"},
        ),
        # the computed days_overdue
        ({"days_overdue": {"$gte": 7}}, {"INV-1", "INV-3"}),
        ({"days_overdue": {"$gt": 10}}, {"INV-3"}),
        ({"days_overdue": {"$lte": 3}}, {"INV-2", "INV-4", "INV-5"}),  # not yet due counts as 0
        ({"days_overdue": {"$lt": 3}}, {"INV-4", "INV-5"}),
        ({"days_overdue": {"$eq": 10}}, {"INV-1"}),
        ({"days_overdue": 30}, {"INV-3"}),
        ({"days_overdue": {"$gte": "7"}}, {"INV-1", "INV-3"}),  # a number in a string
        ({"days_overdue": {"$ne": 10}}, {"INV-2", "INV-3", "INV-4", "INV-5"}),
        ({"status": "overdue", "days_overdue": {"$gte": 7}}, {"INV-1"}),  # the seed's filter
        (
            {"$or": [{"days_overdue": {"$gte": 20}}, {"reminder_count": {"$gte": 3}}]},
            {"INV-2", "INV-3"},
        ),
        ({"days_overdue": {"$eq": 0}}, {"INV-4", "INV-5"}),
    ],
)
def test_filter(invoices, spec, expected):
    assert _numbers(spec) == expected


def test_days_overdue_moves_with_the_clock(invoices):
    spec = {"days_overdue": {"$gte": 7}}
    assert _numbers(spec) == {"INV-1", "INV-3"}
    with time_machine.travel(MORNING + timedelta(days=4), tick=False):
        assert _numbers(spec) == {"INV-1", "INV-2", "INV-3"}


def test_a_computed_field_across_a_relation(invoices):
    payment_type = registry.get("payments")
    q = build_q(payment_type, {"invoice.days_overdue": {"$gte": 7}})
    assert "invoice__due_date__lte" in str(q)


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"nope": 1}, "'nope' is not a whitelisted field of invoices (fields: id, number,"),
        (
            {"customer__password": "x"},
            "'customer__password' is not a whitelisted field of invoices",
        ),
        ({"customer.password": "x"}, "'customer.password' is not a whitelisted field of customers"),
        ({"user.password": "x"}, "'user' is not a whitelisted relation of invoices"),
        ({"payments.amount": 1}, "'payments' is not a whitelisted relation of invoices"),
        ({"customer": 1}, "'customer' is not a whitelisted field of invoices"),
        (
            {"customer.invoices.amount": 1},
            "'customer.invoices.amount': a filter follows at most one relation",
        ),
        ({"amount": {"$regex": "^1"}}, "'amount': unknown operator '$regex' (known: $eq, $ne,"),
        ({"amount": {"$where": "1"}}, "'amount': unknown operator '$where'"),
        ({"$nor": [{"status": "paid"}]}, "unknown filter operator '$nor'"),
        ({"status": {"$in": "paid"}}, "'status': $in takes a list"),
        ({"status": {"$nin": "paid"}}, "'status': $nin takes a list"),
        ({"paid_at": {"$exists": "yes"}}, "'paid_at': $exists takes true or false"),
        ({"paid_at": {"$exists": 1}}, "'paid_at': $exists takes true or false"),
        ({"status": {}}, "'status': an empty operator object"),
        ({"$or": {"status": "paid"}}, "$or takes a non-empty list of filters"),
        ({"$or": []}, "$or takes a non-empty list of filters"),
        ({"$or": [{"nope": 1}]}, "'nope' is not a whitelisted field"),  # nested parts are checked
        ({"days_overdue": {"$in": [1, 2]}}, "'days_overdue' cannot be filtered with $in"),
        ({"days_overdue": {"$contains": 1}}, "'days_overdue' cannot be filtered with $contains"),
        ({"days_overdue": {"$gte": "soon"}}, "'days_overdue' compares with a number, not 'soon'"),
        ({"days_overdue": {"$gte": True}}, "'days_overdue' compares with a number, not True"),
        (["status", "paid"], "a filter must be an object, not list"),
        ({"days_overdue": {"$gte": "7.5"}}, "'days_overdue'"),
    ],
)
def test_a_refused_filter_names_the_field_or_operator(spec, message):
    assert message in _refused(spec)


@pytest.mark.parametrize(
    ("entity", "spec", "message"),
    [
        ("payments", {"invoice.customer.email": "x"}, "follows at most one relation"),
        ("tickets", {"customer.stripe_payment_method_id.x": 1}, "at most one relation"),
        ("leads", {"customer.type": "smb"}, "'customer' is not a whitelisted relation of leads"),
    ],
)
def test_relations_are_followed_one_level_and_only_when_whitelisted(entity, spec, message):
    assert message in _refused(spec, entity)


# -- resolve_field and order_by ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "entity", "column"),
    [
        ("amount", "invoices", "amount"),
        ("days_overdue", "invoices", "days_overdue"),
        ("customer.email", "customers", "email"),
    ],
)
def test_resolve_field(path, entity, column):
    target, name = resolve_field(registry.get("invoices"), path)
    assert (target.entity, name) == (entity, column)


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        (["due_date"], ["due_date"]),
        (["-amount", "number"], ["-amount", "number"]),
        (["customer.name"], ["customer__name"]),
        (["-customer.type"], ["-customer__type"]),
        ([], []),
        (None, []),
    ],
)
def test_order_by_fields(order_by, expected):
    assert order_by_fields(registry.get("invoices"), order_by) == expected


@pytest.mark.parametrize(
    ("order_by", "message"),
    [
        (["days_overdue"], "cannot order by the computed field 'days_overdue'"),
        (["customer.password"], "'customer.password' is not a whitelisted field of customers"),
        (["?"], "'?' is not a whitelisted field"),
        (["customer__password"], "'customer__password' is not a whitelisted field"),
    ],
)
def test_order_by_refuses_what_it_cannot_sort_by(order_by, message):
    with pytest.raises(FilterError, match=re.escape(message)):
        order_by_fields(registry.get("invoices"), order_by)


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        # 23:30 UTC on the 18th is already the 19th in Berlin, still the 18th in New York.
        ("Europe/Berlin", {"INV-LATE"}),
        ("America/New_York", set()),
        ("UTC", set()),
    ],
)
def test_a_date_alone_for_a_datetime_means_midnight_in_the_current_timezone(
    invoice_factory, zone, expected
):
    from django.utils import timezone

    invoice_factory("INV-LATE", paid_at=datetime(2026, 11, 18, 23, 30, tzinfo=UTC))
    with timezone.override(zone):
        assert _numbers({"paid_at": {"$gte": "2026-11-19"}}) == expected
