"""query_records' compiled plans: the same records as the ORM, values never baked in, and
every shape a plan cannot serve left to the ORM."""

import dataclasses
import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from actions import query_plans
from actions.querying import FilterError, order_by_fields
from actions.records import QueryRecords
from crm.models import Contact, Project
from workflows.records import registry

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_plans_from_other_tests():
    query_plans._plans.clear()
    yield
    query_plans._plans.clear()


def through_plan(entity, spec, order_by=(), limit=10):
    record_type = registry.get(entity)
    rows = query_plans.fetch(record_type, spec, order_by_fields(record_type, order_by), limit)
    return None if rows is None else [record_type.to_json(row) for row in rows]


def through_orm(entity, spec, order_by=(), limit=10):
    record_type = registry.get(entity)
    rows = QueryRecords._rows(record_type, spec, order_by_fields(record_type, order_by), limit)
    return [record_type.to_json(row) for row in rows]


@pytest.fixture
def invoices(customer_factory, invoice_factory):
    acme, globex = customer_factory(name="Acme"), customer_factory(name="Globex")
    made = []
    for i in range(6):
        made.append(
            invoice_factory(
                customer=acme if i % 2 else globex,
                amount=Decimal(f"{100 + i * 10}.50"),
                days_late=i,
                status="overdue" if i < 4 else "paid",
            )
        )
    return acme, globex, made


SHAPES = [
    ("invoices", {"customer.id": "{acme}"}, ["due_date"], 10),
    ("invoices", {"customer.id": {"$eq": "{globex}"}, "status": "overdue"}, ["-amount"], 2),
    ("invoices", {"status": "paid"}, [], 10),
    ("invoices", {"amount": "120.50"}, [], 10),
    ("invoices", {"due_date": "{due}"}, [], 10),
    ("invoices", {"customer.name": "Acme"}, ["-due_date", "number"], 5),
    ("customers", {"id": "{acme}"}, [], 1),
    ("invoices", {}, ["number"], 4),
]


def _filled(spec, values):
    def fill(value):
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value.format(**values) if isinstance(value, str) else value

    return fill(spec)


@pytest.mark.parametrize(("entity", "spec", "order_by", "limit"), SHAPES)
def test_a_plan_reads_what_the_orm_reads(invoices, entity, spec, order_by, limit):
    acme, globex, made = invoices
    values = {"acme": acme.pk, "globex": globex.pk, "due": made[2].due_date.isoformat()}
    spec = _filled(spec, values)
    planned = through_plan(entity, spec, order_by, limit)
    assert planned is not None, "this shape has a plan"
    assert planned == through_orm(entity, spec, order_by, limit)
    assert planned, "the shape selects something, so the comparison means something"


def test_the_values_are_parameters_of_the_plan_not_part_of_it(invoices):
    acme, globex, _ = invoices
    first = through_plan("invoices", {"customer.id": acme.pk}, ["number"])
    second = through_plan("invoices", {"customer.id": globex.pk}, ["number"])
    assert len(query_plans._plans) == 1
    assert {row["customer"]["name"] for row in first} == {"Acme"}
    assert {row["customer"]["name"] for row in second} == {"Globex"}
    assert first == through_orm("invoices", {"customer.id": acme.pk}, ["number"])


def test_a_second_read_compiles_nothing(invoices, monkeypatch):
    acme, _, _ = invoices
    through_plan("invoices", {"customer.id": acme.pk})

    def no_compiling(*args, **kwargs):
        raise AssertionError("the plan's SQL was compiled again")

    monkeypatch.setattr(query_plans, "build_q", no_compiling)
    with CaptureQueriesContext(connection) as queries:
        rows = through_plan("invoices", {"customer.id": acme.pk})
    assert len(rows) == 3
    assert len(queries) == 1  # the customer comes with its invoice (select_related)


@pytest.mark.parametrize(
    "spec",
    [
        {"amount": {"$gt": 100}},
        {"$or": [{"status": "paid"}, {"status": "overdue"}]},
        {"days_overdue": 3},
        {"status": None},
        {"status": ["paid"]},
    ],
)
def test_shapes_without_a_plan_go_to_the_orm(invoices, spec):
    assert through_plan("invoices", spec) is None


def test_a_large_read_goes_to_the_orm(invoices):
    assert through_plan("invoices", {"status": "paid"}, limit=query_plans.MAX_ROWS + 1) is None


def test_a_to_many_relation_goes_to_the_orm_and_a_plan_still_prefetches_it(customer_factory):
    acme = customer_factory(name="Acme")
    project = Project.objects.create(name="Rollout", customer=acme)
    project.stakeholders.add(Contact.objects.create(name="Ann", email="a@x.io", customer=acme))
    assert through_plan("projects", {"stakeholders.name": "Ann"}) is None
    planned = through_plan("projects", {"customer.id": acme.pk})
    assert planned == through_orm("projects", {"customer.id": acme.pk})
    assert [s["name"] for s in planned[0]["stakeholders"]] == ["Ann"]


def test_bad_filters_are_refused_as_through_the_orm(invoices):
    with pytest.raises(FilterError, match="not a whitelisted field"):
        through_plan("invoices", {"customer.password": "x"})
    with pytest.raises(FilterError, match="is not a valid date"):
        through_plan("invoices", {"due_date": "soon"})


def test_a_record_type_registered_anew_gets_a_plan_of_its_own(invoices, monkeypatch):
    acme, _, _ = invoices
    through_plan("invoices", {"customer.id": acme.pk})
    old = registry.get("invoices")
    narrower = dataclasses.replace(old, fields=("id", "number"))
    monkeypatch.setitem(registry._by_entity, "invoices", narrower)
    rows = query_plans.fetch(narrower, {"customer.id": acme.pk}, [], 10)
    assert all(row.__class__ is old.model for row in rows)
    assert query_plans._plans[next(reversed(query_plans._plans))].record_type is narrower


def test_dates_and_datetimes_bind_as_their_fields_store_them(invoices):
    _, _, made = invoices
    due = made[3].due_date
    assert isinstance(due, datetime.date)
    planned = through_plan("invoices", {"due_date": due.isoformat()})
    assert [row["number"] for row in planned] == [made[3].number]


def test_a_datetime_and_a_nullable_relation_read_as_through_the_orm(customer_factory):
    from crm.models import Ticket

    moment = datetime.datetime(2026, 11, 20, 8, 30, tzinfo=datetime.UTC)
    Ticket.objects.create(subject="with", customer=customer_factory(), created_at=moment)
    Ticket.objects.create(subject="without", customer=None, created_at=moment)
    Ticket.objects.create(subject="later", created_at=moment + datetime.timedelta(hours=1))
    spec = {"created_at": "2026-11-20T09:30:00+01:00"}  # the same instant, another offset
    planned = through_plan("tickets", spec, ["subject"])
    assert planned == through_orm("tickets", spec, ["subject"])
    assert [(row["subject"], row["customer"] is None) for row in planned] == [
        ("with", False),
        ("without", True),
    ]


def test_the_action_gives_each_record_as_its_record_type_does(invoices):
    """query_records skips coercing values read from the database (they have their types):
    the records are the same as fully coerced ones, decimals at their stored scale."""
    acme, _, _ = invoices
    for spec in ({"customer.id": acme.pk}, {"amount": {"$gte": 0}}):
        config = {"entity": "invoices", "filter": spec, "order_by": ["number"]}
        output = QueryRecords().run(config, context=None)
        assert output == through_orm("invoices", spec, ["number"], limit=10_000)
        assert all(row["amount"].endswith(".50") for row in output)
