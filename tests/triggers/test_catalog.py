"""The event catalog: which events exist, what their payload looks like, and which events a
change to a record fires."""

import json
from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group

from crm.models import Invoice, Payment, Project, Ticket
from triggers import catalog
from triggers.catalog import Change, UnknownEvent
from workflows.records import registry

# -- which events exist -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "record"),
    [
        # the seed's eight
        ("invoice.created", "invoice"),
        ("invoice.sent", "invoice"),
        ("invoice.overdue", "invoice"),
        ("payment.received", "payment"),
        ("customer.created", "customer"),
        ("project.status_changed", "project"),
        ("ticket.created", "ticket"),
        ("ticket.escalated", "ticket"),
        # and the two more
        ("lead.created", "lead"),
        ("contract.expiring", "contract"),
    ],
)
def test_named_events_belong_to_their_record_type(name, record):
    event = catalog.get_event(name)

    assert (event.name, event.record) == (name, record)
    assert event.description


def test_every_registered_record_type_has_created_updated_deleted():
    names = catalog.all_events()

    for record_type in registry:
        for verb in ("created", "updated", "deleted"):
            assert names[f"{record_type.name}.{verb}"].verb == verb


@pytest.mark.parametrize("name", ["invoice.paid_late", "invoices.created", "", None, 42])
def test_an_unknown_event_is_a_domain_error(name):
    with pytest.raises(UnknownEvent):
        catalog.get_event(name)


@pytest.mark.parametrize(
    ("name", "timed", "once_per_occasion"),
    [
        ("invoice.overdue", True, True),
        ("contract.expiring", True, True),
        ("invoice.sent", False, False),
        ("invoice.created", False, False),
    ],
)
def test_time_based_events_fire_once_per_occasion(name, timed, once_per_occasion):
    event = catalog.get_event(name)

    assert event.timed is timed
    assert (event.occasion is not None) is once_per_occasion


def test_a_model_registered_later_gets_its_events_and_loses_them_when_unregistered():
    assert "group.created" not in catalog.all_events()
    registry.register(Group, entity="groups", fields=["id", "name"])
    try:
        assert catalog.get_event("group.created").record == "group"
    finally:
        registry.unregister(Group)
    assert "group.created" not in catalog.all_events()


def test_the_catalog_is_built_once_while_the_registry_stays_the_same():
    assert catalog.get_event("invoice.sent") is catalog.get_event("invoice.sent")
    assert catalog.get_event("invoice.updated") is catalog.get_event("invoice.updated")


# -- payload keys, shape and sample ------------------------------------------------------

ENVELOPE = {"event", "event_id", "occurred_at", "changes"}


@pytest.mark.parametrize(
    ("name", "keys"),
    [
        ("invoice.updated", ENVELOPE | {"invoice", "customer"}),
        ("payment.received", ENVELOPE | {"payment", "invoice"}),
        ("project.status_changed", ENVELOPE | {"project", "customer"}),  # not stakeholders
        ("lead.created", ENVELOPE | {"lead"}),
        ("customer.deleted", ENVELOPE | {"customer"}),
    ],
)
def test_payload_keys_are_the_envelope_the_record_and_its_single_relations(name, keys):
    assert catalog.payload_keys(name) == keys


@pytest.mark.parametrize("name", sorted(catalog.all_events()))
def test_every_sample_payload_is_json_in_the_envelope(name):
    event = catalog.get_event(name)
    record_type = registry.get(event.record)

    sample = catalog.sample_payload(name)

    assert json.loads(json.dumps(sample)) == sample
    assert set(sample) == catalog.payload_keys(name)
    assert sample["event"] == name
    assert set(sample[record_type.name]) == set(record_type.field_types())
    for relation in catalog.single_relations(record_type):
        assert sample[relation] == sample[record_type.name][relation]


@pytest.mark.parametrize("name", sorted(catalog.all_events()))
def test_every_payload_shape_types_the_records_fields(name):
    record_type = registry.get(catalog.get_event(name).record)

    shape = catalog.payload_shape(name)

    assert set(shape) == catalog.payload_keys(name)
    fields = shape[record_type.name]["fields"]
    assert set(fields) == set(record_type.field_types())
    flat = {k: v for k, v in fields.items() if k not in record_type.relations}
    assert flat == {
        k: v for k, v in record_type.field_types().items() if k not in record_type.relations
    }


@pytest.mark.parametrize(
    ("name", "path", "expected"),
    [
        ("invoice.updated", ("invoice", "amount"), "1250.00"),  # decimals as strings
        ("invoice.sent", ("invoice", "status"), "sent"),  # the record after the change
        ("invoice.sent", ("changes",), {"status": {"old": "draft", "new": "sent"}}),
        ("ticket.escalated", ("changes", "priority", "new"), "urgent"),
        ("invoice.created", ("changes",), {}),  # empty for created
        ("project.deleted", ("changes", "status", "new"), None),  # the record as it was
        ("invoice.updated", ("invoice", "due_date"), "2026-11-10"),  # dates in ISO 8601
    ],
)
def test_sample_payload_values(name, path, expected):
    value = catalog.sample_payload(name)
    for key in path:
        value = value[key]

    assert value == expected


def test_a_sample_cannot_be_changed_by_its_reader():
    catalog.sample_payload("invoice.sent")["invoice"]["status"] = "void"

    assert catalog.sample_payload("invoice.sent")["invoice"]["status"] == "sent"


def test_describe_lists_every_event_for_the_builder():
    entries = catalog.describe()

    assert [entry["name"] for entry in entries] == sorted(catalog.all_events())
    overdue = next(entry for entry in entries if entry["name"] == "invoice.overdue")
    assert overdue["entity"] == "invoices"
    assert overdue["timed"] is True
    assert json.loads(json.dumps(entries)) == entries


# -- which events a change fires -----------------------------------------------------------


def _invoice(**values):
    return Invoice(number="INV-1", amount=Decimal("10.00"), due_date=date(2026, 11, 10), **values)


MODELS = {"invoice": Invoice, "payment": Payment, "project": Project, "ticket": Ticket}


@pytest.mark.parametrize(
    ("record", "verb", "field", "old", "new", "named"),
    [
        ("invoice", "created", "status", None, "draft", set()),
        # created already sent: its status became sent
        ("invoice", "created", "status", None, "sent", {"invoice.sent"}),
        ("invoice", "updated", "status", "draft", "sent", {"invoice.sent"}),
        ("invoice", "updated", "status", "sent", "overdue", {"invoice.overdue"}),
        ("invoice", "updated", "amount", 1, 2, set()),
        ("invoice", "deleted", "status", "sent", None, set()),
        ("payment", "created", "amount", None, 5, {"payment.received"}),
        ("payment", "updated", "amount", 5, 6, set()),
        ("project", "updated", "status", "active", "on_hold", {"project.status_changed"}),
        ("project", "updated", "name", "A", "B", set()),
        ("project", "created", "status", None, "active", set()),
        ("ticket", "updated", "priority", "normal", "urgent", {"ticket.escalated"}),
        ("ticket", "updated", "priority", "low", "normal", {"ticket.escalated"}),
        ("ticket", "updated", "priority", "urgent", "low", set()),  # lowered: not escalated
        ("ticket", "updated", "priority", "normal", "unheard_of", set()),  # no rank: not raised
        ("ticket", "created", "priority", None, "urgent", set()),
    ],
)
def test_events_for_a_change(record, verb, field, old, new, named):
    instance = MODELS[record]()
    change = Change(
        verb,
        instance,
        old={} if verb == "created" else {field: old},
        new={} if verb == "deleted" else {field: new},
    )

    fired = catalog.events_for_change(registry.for_model(type(instance)), change)

    assert {event.name for event in fired} == {f"{record}.{verb}", *named}


AMOUNT = Decimal("1250.00")


@pytest.mark.parametrize(
    ("before", "after", "only", "expected"),
    [
        ({"status": "sent"}, {"status": "overdue"}, None, {"status": ("sent", "overdue")}),
        # a decimal assigned as text is no change
        ({"amount": AMOUNT}, {"amount": "1250.00"}, None, {}),
        ({"amount": AMOUNT}, {"amount": "1300"}, None, {"amount": (AMOUNT, Decimal(1300))}),
        # a single relation is tracked by its id, under its name
        ({"customer_id": 1}, {"customer_id": 2}, None, {"customer": (1, 2)}),
        # save(update_fields=...) wrote only those fields
        ({"status": "a", "number": "x"}, {"status": "b", "number": "y"}, {"number"},
         {"number": ("x", "y")}),
        # a field deferred when loaded has no known old value
        ({}, {"status": "sent"}, None, {}),
    ],
)  # fmt: skip
def test_a_change_between_two_snapshots(before, after, only, expected):
    record_type = registry.for_model(Invoice)
    tracked = catalog.tracked_fields(record_type)

    change = Change.between(_invoice(), tracked, before, after, only=only)

    assert {name: (change.old[name], change.new[name]) for name in change.old} == expected


DUE = date(2026, 11, 10)


@pytest.mark.parametrize(
    ("verb", "old", "new", "expected"),
    [
        ("created", {}, {"status": "draft"}, {}),
        ("updated", {"amount": Decimal("1.50")}, {"amount": Decimal("2.00")},
         {"amount": {"old": "1.50", "new": "2.00"}}),
        # deleted: the record as it was
        ("deleted", {"status": "sent", "due_date": DUE}, {},
         {"status": {"old": "sent", "new": None}, "due_date": {"old": "2026-11-10", "new": None}}),
    ],
)  # fmt: skip
def test_changes_as_the_payload_shows_them(verb, old, new, expected):
    assert Change(verb, _invoice(), old, new).as_json() == expected
