"""The event outbox: what each write emits, the envelope of DEFINITION.md exactly, the API
for bulk writes, and the business write and its events committing together."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from crm.models import Customer, Invoice, Lead, Payment, Ticket
from triggers import outbox
from triggers.catalog import Change, UnknownEvent
from triggers.models import Event, new_event_id
from workflows.records import registry

MORNING = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@pytest.fixture
def acme(db):
    return Customer.objects.create(name="Acme", email="billing@acme.example", type="enterprise")


@pytest.fixture
def invoice(acme):
    return Invoice.objects.create(
        number="INV-0042",
        customer=acme,
        amount=Decimal("1250.00"),
        issue_date=date(2026, 10, 11),
        due_date=date(2026, 11, 10),
        status="sent",
        reminder_count=1,
    )


def new_events(since_pk, **filters):
    return list(Event.objects.filter(pk__gt=since_pk, **filters).order_by("pk"))


def last_pk():
    return Event.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


# -- the envelope ----------------------------------------------------------------------------


@pytest.fixture
def morning():
    with time_machine.travel(MORNING, tick=False):
        yield MORNING


def test_invoice_updated_payload_is_the_envelope_of_the_definition(morning, invoice, acme):
    loaded = Invoice.objects.get(pk=invoice.pk)
    loaded.status = "overdue"
    loaded.save()

    event = Event.objects.get(name="invoice.updated")

    customer = {
        "id": acme.pk,
        "name": "Acme",
        "email": "billing@acme.example",
        "phone": "",
        "type": "enterprise",
        "stripe_customer_id": "",
        "quickbooks_id": "",
        "created_at": "2026-11-26T09:00:00+00:00",
    }
    assert event.payload == {
        "event": "invoice.updated",
        "event_id": event.public_id,
        "occurred_at": "2026-11-26T09:00:00+00:00",
        "invoice": {
            "id": invoice.pk,
            "number": "INV-0042",
            "amount": "1250.00",
            "currency": "USD",
            "issue_date": "2026-10-11",
            "due_date": "2026-11-10",
            "status": "overdue",
            "reminder_count": 1,
            "sent_at": None,
            "paid_at": None,
            "quickbooks_id": "",
            "days_overdue": 16,
            "customer": customer,
        },
        "customer": customer,
        "changes": {"status": {"old": "sent", "new": "overdue"}},
    }
    assert (event.record_type, event.record_id) == ("invoice", str(invoice.pk))
    assert event.occurred_at == MORNING
    assert event.caused_by is None


def test_the_named_event_carries_the_same_record_and_changes(invoice):
    since = last_pk()
    invoice.status = "overdue"
    invoice.save()

    updated, overdue = new_events(since)

    assert (updated.name, overdue.name) == ("invoice.updated", "invoice.overdue")
    assert overdue.payload["event"] == "invoice.overdue"
    assert overdue.payload["event_id"] == overdue.public_id != updated.public_id
    assert overdue.payload["invoice"] == updated.payload["invoice"]
    assert overdue.payload["changes"] == {"status": {"old": "sent", "new": "overdue"}}
    # once per invoice and due date, whether seen in a change or by the sweep
    assert overdue.occasion == f"invoice.overdue:{invoice.pk}:2026-11-10"


def test_a_created_record_has_empty_changes(acme):
    lead = Lead.objects.create(name="Ada", email="ada@example.com", score=70)

    event = Event.objects.get(name="lead.created")

    assert event.payload["changes"] == {}
    assert event.payload["lead"]["score"] == 70
    assert event.record_id == str(lead.pk)


def test_a_deleted_record_stands_as_it_was(invoice, acme):
    payment = Payment.objects.create(invoice=invoice, amount=Decimal("100.50"), method="card")
    payment_id = payment.pk
    since = last_pk()

    payment.delete()

    (event,) = new_events(since)
    assert event.name == "payment.deleted"
    assert event.record_id == str(payment_id)
    assert event.payload["payment"]["id"] == payment_id
    assert event.payload["payment"]["amount"] == "100.50"
    assert event.payload["invoice"]["number"] == "INV-0042"
    assert event.payload["changes"]["amount"] == {"old": "100.50", "new": None}
    assert event.payload["changes"]["invoice"] == {"old": invoice.pk, "new": None}


# -- what each write emits ------------------------------------------------------------------


def send(invoice):
    invoice.status = "sent"
    invoice.save()


def draft_then_send(invoice):
    invoice.status = "draft"
    invoice.save()
    send(invoice)


def save_unchanged(invoice):
    Invoice.objects.get(pk=invoice.pk).save()


def change_untracked_field(invoice):
    customer = invoice.customer
    customer.stripe_payment_method_id = "pm_123"  # not whitelisted: invisible to workflows
    customer.save()


def save_with_update_fields(invoice):
    invoice.status = "paid"  # changed in memory, not written
    invoice.reminder_count = 2
    invoice.save(update_fields=["reminder_count"])


def save_twice(invoice):
    invoice.reminder_count = 5
    invoice.save()
    invoice.save()  # the snapshot was taken again: nothing changed since


def refresh_then_save(invoice):
    Invoice.objects.filter(pk=invoice.pk).update(status="paid")  # someone else, no events
    invoice.refresh_from_db()
    invoice.save()  # what was reloaded is no change of this save's


def change_a_deferred_field(invoice):
    loaded = Invoice.objects.only("id").get(pk=invoice.pk)
    assert loaded.status == "sent"  # loaded on first read
    loaded.status = "overdue"
    loaded.save()


def create_draft(invoice):
    Invoice.objects.create(
        number="INV-2", customer=invoice.customer, amount=1, due_date=date(2026, 12, 1)
    )


def create_sent(invoice):
    Invoice.objects.create(
        number="INV-3",
        customer=invoice.customer,
        amount=1,
        due_date=date(2026, 12, 1),
        status="sent",
    )


def receive_payment(invoice):
    Payment.objects.create(invoice=invoice, amount=Decimal("1250.00"))


def raise_ticket_priority(invoice):
    ticket = Ticket.objects.create(subject="Printer on fire", priority="low")
    ticket.priority = "urgent"
    ticket.save()


def delete_leads_by_queryset(invoice):
    Lead.objects.bulk_create([Lead(name="A"), Lead(name="B")])  # emits nothing by itself
    Lead.objects.filter(name__in=["A", "B"]).delete()  # sends signals


@pytest.mark.parametrize(
    ("write", "expected"),
    [
        (send, []),  # already sent: no change
        (draft_then_send, ["invoice.updated", "invoice.updated", "invoice.sent"]),
        (save_unchanged, []),
        (change_untracked_field, []),
        (save_with_update_fields, ["invoice.updated"]),
        (save_twice, ["invoice.updated"]),
        (refresh_then_save, []),
        (change_a_deferred_field, ["invoice.updated", "invoice.overdue"]),
        (create_draft, ["invoice.created"]),
        (create_sent, ["invoice.created", "invoice.sent"]),
        (receive_payment, ["payment.created", "payment.received"]),
        (raise_ticket_priority, ["ticket.created", "ticket.updated", "ticket.escalated"]),
        (delete_leads_by_queryset, ["lead.deleted", "lead.deleted"]),
    ],
)
def test_each_write_emits_its_events(invoice, write, expected):
    since = last_pk()

    write(invoice)

    assert [event.name for event in new_events(since)] == expected


def test_update_fields_reports_only_the_fields_written(invoice):
    since = last_pk()

    save_with_update_fields(invoice)

    (event,) = new_events(since)
    assert event.payload["changes"] == {"reminder_count": {"old": 1, "new": 2}}


# -- writes that skip signals ----------------------------------------------------------------


def test_update_with_events_emits_each_rows_real_changes(acme):
    drafts = [
        Invoice.objects.create(number=f"D-{n}", customer=acme, amount=n, due_date=date(2026, 12, 1))
        for n in (1, 2)
    ]
    since = last_pk()

    with transaction.atomic():
        count = outbox.update_with_events(Invoice.objects.filter(status="draft"), status="sent")

    assert count == 2
    events = new_events(since)
    assert sorted((e.name, e.record_id) for e in events) == sorted(
        (name, str(invoice.pk))
        for invoice in drafts
        for name in ("invoice.updated", "invoice.sent")
    )
    changes = {"status": {"old": "draft", "new": "sent"}}
    assert [e.payload["changes"] for e in events] == [changes] * len(events)
    assert {e.payload["invoice"]["status"] for e in events} == {"sent"}


def test_update_with_events_skips_rows_that_did_not_change(invoice, acme):
    other = Invoice.objects.create(
        number="INV-9", customer=acme, amount=1, due_date=date(2026, 12, 1), reminder_count=3
    )
    since = last_pk()

    outbox.update_with_events(Invoice.objects.all(), reminder_count=3)

    assert [(e.name, e.record_id) for e in new_events(since)] == [
        ("invoice.updated", str(invoice.pk))
    ]
    assert Invoice.objects.get(pk=other.pk).reminder_count == 3


def test_bulk_create_emits_through_emit_for_queryset(db):
    since = last_pk()
    with transaction.atomic():
        leads = Lead.objects.bulk_create([Lead(name="Ada", score=80), Lead(name="Bob", score=20)])
        count = outbox.emit_for_queryset(
            Lead.objects.filter(pk__in=[lead.pk for lead in leads]), "created"
        )

    events = new_events(since)
    assert count == 2
    assert [(e.name, e.payload["lead"]["name"]) for e in events] == [
        ("lead.created", "Ada"),
        ("lead.created", "Bob"),
    ]
    assert [e.payload["changes"] for e in events] == [{}, {}]


def test_queryset_update_emits_the_changes_it_is_given(invoice):
    since = last_pk()
    changes = {"status": {"old": "sent", "new": "overdue"}}
    with transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(status="overdue")
        outbox.emit_for_queryset(Invoice.objects.filter(pk=invoice.pk), "updated", changes)

    names = [(e.name, e.payload["changes"]) for e in new_events(since)]
    assert names == [("invoice.updated", changes), ("invoice.overdue", changes)]


def test_emit_for_queryset_refuses_deletes(db):
    with pytest.raises(ValueError, match=r"QuerySet\.delete"):
        outbox.emit_for_queryset(Lead.objects.all(), "deleted")


@pytest.mark.parametrize(
    ("name", "error"),
    [("ticket.escalated", "of ticket records"), ("invoice.paid_late", "unknown event")],
)
def test_emit_refuses_an_event_that_is_not_the_records(invoice, name, error):
    with pytest.raises(UnknownEvent, match=error):
        outbox.emit(name, invoice)


def test_emit_writes_one_event_and_an_occasion_only_once(invoice):
    sent = outbox.emit("invoice.sent", invoice, {"status": {"old": "draft", "new": "sent"}})
    first = outbox.emit("invoice.overdue", invoice)
    again = outbox.emit("invoice.overdue", invoice)

    assert sent.payload["changes"] == {"status": {"old": "draft", "new": "sent"}}
    assert first.occasion == f"invoice.overdue:{invoice.pk}:2026-11-10"
    assert again is None
    assert Event.objects.filter(name="invoice.overdue").count() == 1


def test_the_database_refuses_a_second_event_for_an_occasion_and_not_events_without_one(db):
    """What a concurrent writer meets: the unique index (partial: only rows with an
    occasion) decides, not the exists() check before the insert."""

    def event(occasion):
        return Event(
            name="invoice.overdue",
            record_type="invoice",
            record_id="1",
            payload={},
            occasion=occasion,
        )

    Event.objects.bulk_create([event(None), event(None), event("invoice.overdue:1:2026-11-10")])
    with pytest.raises(IntegrityError), transaction.atomic():
        event("invoice.overdue:1:2026-11-10").save()
    assert Event.objects.filter(occasion__isnull=True).count() == 2
    assert Event.objects.filter(occasion="invoice.overdue:1:2026-11-10").count() == 1


def test_the_event_table_has_the_sweeps_index_and_none_on_the_record(db):
    """Every save of a registered record inserts an event row and pays for each index of
    the table; nothing asks for a record's events, so there is no index for that."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Event._meta.db_table)
    indexed = {
        tuple(details["columns"])
        for details in constraints.values()
        if details["index"] or details["unique"]
    }
    assert ("occurred_at",) in indexed  # the outbox sweep's, partial
    assert not [columns for columns in indexed if {"record_type", "record_id"} & set(columns)]


# -- one transaction, dispatched after commit ---------------------------------------------------


def test_events_are_dispatched_only_after_commit(acme, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        Lead.objects.create(name="Ada")
    event = Event.objects.get(name="lead.created")
    assert event.dispatched_at is None
    assert callbacks  # the dispatch waits for the commit

    for callback in callbacks:
        callback()
    event.refresh_from_db()
    assert event.dispatched_at is not None


@pytest.mark.parametrize("operation", ["create", "update", "delete"])
def test_a_write_and_its_events_commit_together(transactional_db, monkeypatch, operation):
    """In autocommit too: the wrapped save()/delete() is one transaction."""
    customer = Customer.objects.create(name="Acme")
    events_before = Event.objects.count()

    def fail(*args, **kwargs):
        raise RuntimeError("event table unavailable")

    def update():
        customer.name = "Acme Inc"
        customer.save()

    write = {
        "create": lambda: Customer.objects.create(name="Globex"),
        "update": update,
        "delete": customer.delete,
    }[operation]
    monkeypatch.setattr(outbox, "_write", fail)

    with pytest.raises(RuntimeError):
        write()

    assert sorted(Customer.objects.values_list("name", flat=True)) == ["Acme"]
    assert Event.objects.count() == events_before


def test_a_model_registered_after_startup_emits_too(db):
    registry.register(Group, entity="groups", fields=["id", "name"])
    try:
        Group.objects.create(name="Collections")
    finally:
        registry.unregister(Group)

    event = Event.objects.get(name="group.created")
    assert event.payload["group"]["name"] == "Collections"
    Group.objects.create(name="Not watched any more")
    assert not Event.objects.filter(name="group.created").exclude(pk=event.pk).exists()


def test_the_event_row_holds_exactly_what_the_returned_event_says(invoice):
    """The outbox inserts its rows itself (not through Model.save()): what is read back is
    what was written, on either database."""
    written = outbox.emit("invoice.sent", invoice, {"status": {"old": "draft", "new": "sent"}})
    stored = Event.objects.get(pk=written.pk)

    for field in Event._meta.concrete_fields:
        assert getattr(stored, field.attname) == getattr(written, field.attname), field.name
    assert not written._state.adding
    assert stored.payload["event_id"] == stored.public_id
    assert stored.payload["invoice"]["number"] == "INV-0042"
    assert Event.objects.filter(payload__invoice__number="INV-0042", name="invoice.sent").exists()


@pytest.mark.django_db(transaction=True)
def test_the_event_insert_is_seen_by_whatever_watches_the_queries():
    """The outbox may send its INSERT to the driver itself, but never past a query log
    (DEBUG, a test's capture) or an execute_wrapper."""
    wrapped = []

    def wrapper(execute, sql, params, many, context):
        wrapped.append(sql)
        return execute(sql, params, many, context)

    with CaptureQueriesContext(connection) as captured:
        Lead.objects.create(name="Ada")
    with connection.execute_wrapper(wrapper):
        Lead.objects.create(name="Bob")
    Lead.objects.create(name="Cy")  # nothing watching

    assert sum('INTO "triggers_event"' in query["sql"] for query in captured.captured_queries) == 1
    assert sum('INTO "triggers_event"' in sql for sql in wrapped) == 1
    names = Event.objects.filter(name="lead.created").values_list("payload__lead__name", flat=True)
    assert sorted(names) == ["Ada", "Bob", "Cy"]


@pytest.mark.django_db(transaction=True)
def test_a_failing_event_insert_is_a_django_database_error(monkeypatch):
    """Errors of the event's INSERT reach the caller as Django's, whichever way it went."""
    monkeypatch.setattr(outbox, "new_event_id", lambda: "evt_always_the_same")
    Lead.objects.create(name="Ada")

    with pytest.raises(IntegrityError):
        Lead.objects.create(name="Bob")  # the same public id again

    assert list(Lead.objects.values_list("name", flat=True)) == ["Ada"]  # rolled back with it


def test_count_change_writes_what_record_change_would_and_counts_it(invoice):
    registered = registry.for_model(Invoice)
    change = Change.from_json("updated", invoice, {"status": {"old": "draft", "new": "sent"}})
    since = last_pk()

    assert outbox.count_change(registered, invoice, change) == 2
    (updated, sent) = outbox.record_change(registered, invoice, change)

    first, second = new_events(since)[:2]
    assert (
        (first.name, second.name)
        == (updated.name, sent.name)
        == (
            "invoice.updated",
            "invoice.sent",
        )
    )
    assert first.payload["changes"] == updated.payload["changes"]


def test_event_ids_are_public_ids_and_unique():
    ids = {new_event_id() for _ in range(5000)}

    assert len(ids) == 5000
    for event_id in ids:
        prefix, _, rest = event_id.partition("_")
        assert prefix == "evt"
        assert len(rest) == 16
        assert rest.isascii()
        assert rest.isalnum()
    letters = {letter for event_id in ids for letter in event_id[4:]}
    assert len(letters) == 62  # every letter and digit is used
