"""The record registry: lookups, strictness, registering a model of your own, the JSON form
of a record, paths and the write whitelist."""

import functools
import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth.models import Group, User

from crm.models import Contact, Customer, Invoice, Payment, Project, Ticket
from workflows.records import RecordRegistryError, registry, to_json_value

MORNING = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@pytest.fixture
def customer_factory(customer_factory):
    """The shared factory, with the phone and Stripe ids a record's JSON shows."""
    return functools.partial(
        customer_factory,
        phone="+14155550100",
        stripe_customer_id="cus_123",
        stripe_payment_method_id="pm_456",
    )


@pytest.fixture
def invoice_factory(invoice_factory):
    """The shared factory, but every field pinned: the record JSON the tests compare with."""

    def make(**fields):
        values = {
            "number": "INV-0042",
            "amount": Decimal("1250.00"),
            "issue_date": date(2026, 10, 11),
            "due_date": date(2026, 11, 10),
            "reminder_count": 1,
            "sent_at": datetime(2026, 10, 11, 9, 30, tzinfo=UTC),
        }
        return invoice_factory(**{**values, **fields})

    return make


@pytest.fixture
def groups():
    """django.contrib.auth's Group, registered as a record type for one test."""
    record_type = registry.register(Group, entity="groups", fields=["id", "name"])
    try:
        yield record_type
    finally:
        registry.unregister(Group)


# -- lookups ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("invoices", Invoice),  # entity name
        ("invoice", Invoice),  # record name
        ("customers", Customer),
        ("customer", Customer),
        ("payments", Payment),
        ("tickets", Ticket),
        ("projects", Project),
        ("contacts", Contact),
    ],
)
def test_lookup_by_entity_or_record_name(name, model):
    assert registry.get(name).model is model
    assert registry.for_model(model) is registry.get(name)


def test_every_business_record_is_registered():
    assert set(registry.by_name()) >= {
        "customer",
        "invoice",
        "payment",
        "contact",
        "project",
        "ticket",
        "lead",
        "contract",
    }


def test_an_unknown_entity_names_the_known_ones():
    with pytest.raises(RecordRegistryError) as excinfo:
        registry.get("widgets")
    message = str(excinfo.value)
    assert "unknown entity 'widgets'" in message
    for known in ("contracts", "customers", "invoices", "leads", "payments", "tickets"):
        assert known in message


def test_an_unregistered_model_is_an_error():
    assert not registry.is_registered(User)
    with pytest.raises(RecordRegistryError, match="User is not a registered record type"):
        registry.for_model(User)


# -- registration is strict -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "options", "message"),
    [
        (Invoice, {"entity": "bills", "fields": ["id"]}, "Invoice is already registered"),
        (
            Group,
            {"entity": "invoices", "fields": ["id"]},
            "the entity name 'invoices' is already used by Invoice",
        ),
        (
            Group,
            {"entity": "teams", "fields": ["id"], "name": "invoice"},
            "a record type named 'invoice' is already registered",
        ),
        (Group, {"entity": "teams", "fields": ["id", "title"]}, "Group has no field(s) title"),
        (Group, {"entity": "teams", "fields": ["id"], "relations": ["owner"]}, "no field(s) owner"),
    ],
    ids=["same model", "same entity", "same record name", "unknown field", "unknown relation"],
)
def test_a_clashing_or_wrong_registration_is_refused(model, options, message):
    with pytest.raises(RecordRegistryError, match=re.escape(message)):
        registry.register(model, **options)
    assert not registry.is_registered(Group)


@pytest.mark.django_db
def test_registering_a_model_takes_a_few_lines(groups):
    group = Group.objects.create(name="collections")
    assert registry.get("groups") is groups
    assert registry.get("group") is groups
    assert groups.label == "Groups"
    assert groups.to_json(group) == {"id": group.pk, "name": "collections"}  # no permissions
    assert groups.field_types() == {"id": "integer", "name": "string"}
    assert groups.writable == ("name",)
    assert groups.events == ("created", "updated", "deleted")


def test_unregistering_removes_both_names(groups):
    registry.unregister(Group)
    with pytest.raises(RecordRegistryError, match="unknown entity 'groups'"):
        registry.get("groups")
    registry.register(Group, entity="groups", fields=["id", "name"])  # for the fixture's finally


# -- the JSON form of a record ----------------------------------------------------------------


@pytest.mark.django_db
def test_an_invoice_as_json(invoice_factory):
    invoice = invoice_factory()
    with time_machine.travel(MORNING, tick=False):
        data = registry.get("invoices").to_json(invoice)
    customer = invoice.customer
    assert data == {
        "id": invoice.pk,
        "number": "INV-0042",
        "amount": "1250.00",  # a decimal is a string
        "currency": "USD",
        "issue_date": "2026-10-11",  # dates in ISO 8601
        "due_date": "2026-11-10",
        "status": "overdue",
        "reminder_count": 1,
        "sent_at": "2026-10-11T09:30:00+00:00",
        "paid_at": None,
        "quickbooks_id": "",
        "days_overdue": 16,  # computed, by the application clock
        "customer": {
            "id": customer.pk,
            "name": "Acme Corp",
            "email": "billing@acme.example",
            "phone": "+14155550100",
            "type": "enterprise",
            "stripe_customer_id": "cus_123",
            # The saved payment method is not whitelisted: it never reaches a workflow.
            "quickbooks_id": "",
            "created_at": customer.created_at.isoformat(),
        },
    }


@pytest.mark.django_db
def test_related_records_are_nested_one_level_with_whitelisted_fields_only(invoice_factory):
    invoice = invoice_factory()
    payment = Payment.objects.create(invoice=invoice, amount=Decimal("100.50"))
    data = registry.get("payments").to_json(payment)
    assert data["amount"] == "100.50"
    assert set(data["invoice"]) == set(registry.get("invoices").fields) | {"days_overdue"}
    assert "customer" not in data["invoice"]  # two levels deep: not nested


@pytest.mark.django_db
def test_a_many_relation_is_a_list_and_a_missing_one_is_null(customer_factory):
    customer = customer_factory()
    anna = Contact.objects.create(customer=customer, name="Anna", email="anna@acme.example")
    ben = Contact.objects.create(customer=customer, name="Ben", email="ben@acme.example")
    project = Project.objects.create(name="ERP migration", customer=customer)
    project.stakeholders.set([anna, ben])
    data = registry.get("projects").to_json(registry.get("projects").queryset().get())
    assert [c["name"] for c in data["stakeholders"]] == ["Anna", "Ben"]
    assert all(set(c) == {"id", "name", "email", "phone"} for c in data["stakeholders"])
    ticket = Ticket.objects.create(subject="No customer")
    assert registry.get("tickets").to_json(ticket)["customer"] is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("0.10"), "0.10"),
        (date(2026, 2, 28), "2026-02-28"),
        (datetime(2026, 3, 29, 1, 30, tzinfo=UTC), "2026-03-29T01:30:00+00:00"),
        (None, None),
        (True, True),
        (7, 7),
        ("text", "text"),
    ],
)
def test_values_become_json(value, expected):
    assert to_json_value(value) == expected


# -- paths and types --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entity", "path", "expected"),
    [
        ("invoices", [], True),
        ("invoices", ["amount"], True),
        ("invoices", ["days_overdue"], True),  # computed
        ("invoices", ["customer"], True),
        ("invoices", ["customer", "email"], True),
        ("invoices", ["customer", "password"], False),  # not a field of customers
        ("invoices", ["customer", "invoices"], False),  # not whitelisted on customers
        ("invoices", ["amount", "currency"], False),  # a plain field has no keys
        ("invoices", ["payments"], False),  # a reverse relation that is not whitelisted
        ("invoices", ["nope"], False),
        ("payments", ["invoice", "days_overdue"], True),
        ("payments", ["invoice", "customer", "email"], False),  # one level only
        ("projects", ["stakeholders", 0, "email"], True),  # a list, by index
        ("projects", ["stakeholders", "email"], True),
    ],
)
def test_has_path(entity, path, expected):
    assert registry.get(entity).has_path(path) is expected


def test_field_types_for_the_builder():
    types = registry.get("invoices").field_types()
    assert types["amount"] == "decimal"
    assert types["due_date"] == "date"
    assert types["sent_at"] == "datetime"
    assert types["reminder_count"] == "integer"
    assert types["days_overdue"] == "integer"
    assert types["status"] == "string"
    assert types["customer"] == "object"
    assert registry.get("projects").field_types()["stakeholders"] == "list"


# -- writes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entity", "values", "refused"),
    [
        ("invoices", {"id": 5}, "id"),
        ("invoices", {"days_overdue": 3}, "days_overdue"),
        ("invoices", {"status": "paid", "password": "x"}, "password"),
        ("customers", {"invoices": []}, "invoices"),
        ("projects", {"stakeholders": [1]}, "stakeholders"),  # many relations are read-only
    ],
)
def test_check_writable_names_the_refused_fields(entity, values, refused):
    record_type = registry.get(entity)
    with pytest.raises(RecordRegistryError) as excinfo:
        record_type.check_writable(values)
    message = str(excinfo.value)
    assert message.startswith(f"{entity}: field(s) {refused} cannot be written")
    assert "(writable: " in message


@pytest.mark.parametrize(
    ("entity", "values"),
    [
        ("invoices", {"status": "paid", "reminder_count": 2, "customer": 1}),
        ("tickets", {"priority": "high", "assigned_to": "collections_team"}),
        ("customers", {}),
    ],
)
def test_whitelisted_fields_can_be_written(entity, values):
    registry.get(entity).check_writable(values)


@pytest.mark.django_db
def test_a_record_created_from_strings_has_typed_json():
    """Django lets a creator pass a date or a decimal as text; the JSON must not care."""
    from crm.models import Customer, Invoice

    customer = Customer.objects.create(name="Acme")
    invoice = Invoice.objects.create(
        number="INV-STR", customer=customer, amount="12.5", due_date="2026-11-20"
    )
    with time_machine.travel(MORNING, tick=False):
        data = registry.get("invoices").to_json(invoice)
    assert data["due_date"] == "2026-11-20"
    assert data["amount"] == "12.50"  # as the database gives it back
    assert data["days_overdue"] == 6
