"""Event triggers end to end: a business write starts the workflows listening for its events,
exactly once each, only after commit; crashes lose nothing; chains of workflows stop."""

import logging
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection, transaction

from automation.celery import app
from crm.models import Customer, Invoice, Lead, Ticket
from triggers import dispatch, outbox
from triggers.models import Event
from triggers.tasks.events import dispatch_pending_events_task
from workflows.models import Execution

MORNING = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
END = {"nodes": [{"id": "done", "type": "end"}], "edges": [{"from": "trigger", "to": "done"}]}


@pytest.fixture
def listening(make_workflow):
    """listening(event, filter=None, status="active") -> a workflow triggered by the event."""

    def make(event, *, filter=None, status="active", name=None):
        trigger = {"type": "event", "event": event}
        if filter is not None:
            trigger["filter"] = filter
        workflow = make_workflow({**END, "trigger": trigger}, name=name or event)
        if status:
            workflow.change_status("active")  # a paused workflow was active once
            workflow.change_status(status)
        return workflow

    return make


@pytest.fixture
def acme(db):
    return Customer.objects.create(name="Acme", email="billing@acme.example", type="enterprise")


def new_invoice(customer, **values):
    values = {
        "number": "INV-0042",
        "amount": Decimal("1250.00"),
        "due_date": date(2026, 11, 10),
        **values,
    }
    return Invoice.objects.create(customer=customer, **values)


def runs(workflow):
    return list(workflow.executions.order_by("created_at", "pk"))


# -- matching -----------------------------------------------------------------------------


def test_creating_an_invoice_starts_each_matching_workflow_once_and_no_other(
    acme, listening, django_capture_on_commit_callbacks
):
    matching = [
        listening("invoice.created", name="every new invoice"),
        listening(
            "invoice.created",
            filter={"field": "invoice.amount", "operator": "greater_than", "value": 1000},
            name="big invoices",
        ),
    ]
    others = [
        listening(
            "invoice.created",
            filter={"field": "invoice.amount", "operator": "less_than", "value": 100},
            name="small invoices",
        ),
        listening("invoice.created", status=None, name="a draft"),
        listening("invoice.created", status="paused", name="a paused one"),
        listening("invoice.updated"),
        listening("invoice.sent"),  # the invoice is created as a draft
        listening("customer.created"),  # the customer existed before
    ]

    with django_capture_on_commit_callbacks(execute=True):
        invoice = new_invoice(acme)

    event = Event.objects.get(name="invoice.created", record_id=str(invoice.pk))
    for workflow in matching:
        (execution,) = runs(workflow)
        assert execution.status == Execution.Status.COMPLETED  # it ran, eagerly
        assert execution.trigger_type == "event"
        assert execution.trigger_key == event.public_id
        assert execution.subject == f"invoice:{invoice.pk}"
        assert execution.trigger_data == event.payload
        assert execution.trigger_data["customer"]["type"] == "enterprise"
    for workflow in others:
        assert runs(workflow) == [], workflow.name
    event.refresh_from_db()
    assert event.dispatched_at is not None


@pytest.mark.parametrize(
    ("condition", "fires"),
    [
        ({"field": "invoice.amount", "operator": "greater_than", "value": 1000}, True),
        ({"field": "invoice.amount", "operator": "greater_than", "value": "1250.00"}, False),
        ({"field": "customer.type", "operator": "equals", "value": "enterprise"}, True),
        ({"field": "{{ invoice.customer.type }}", "operator": "equals", "value": "smb"}, False),
        (
            {
                "type": "and",
                "conditions": [
                    {"field": "invoice.amount", "operator": "between", "value": [1000, 2000]},
                    {"field": "invoice.number", "operator": "starts_with", "value": "INV-"},
                ],
            },
            True,
        ),
        (
            {"type": "not", "conditions": [{"field": "changes", "operator": "is_empty"}]},
            False,  # a created record has no changes
        ),
    ],
)
def test_the_trigger_filter_decides_before_any_execution_exists(
    acme, listening, django_capture_on_commit_callbacks, condition, fires
):
    workflow = listening("invoice.created", filter=condition)

    with django_capture_on_commit_callbacks(execute=True):
        new_invoice(acme)

    assert len(runs(workflow)) == (1 if fires else 0)


def test_a_filter_that_fails_is_no_match_and_is_logged(
    db, listening, django_capture_on_commit_callbacks, caplog
):
    # Valid for the validator; at run time a ticket without a customer has `customer: null`.
    workflow = listening(
        "ticket.created",
        filter={"field": "ticket.subject", "operator": "contains", "value": "{{ customer.name }}"},
    )
    catch_all = listening("ticket.created")

    with (
        caplog.at_level(logging.WARNING, logger="triggers.dispatch"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        Ticket.objects.create(subject="Printer on fire")

    assert runs(workflow) == []
    assert len(runs(catch_all)) == 1
    assert workflow.public_id in caplog.text


# -- exactly once, and only for what committed ------------------------------------------------


def test_a_rolled_back_save_writes_no_event_and_starts_nothing(
    acme, listening, django_capture_on_commit_callbacks
):
    workflow = listening("invoice.created")
    events_before = Event.objects.count()

    def save_then_fail():
        with transaction.atomic():
            new_invoice(acme)
            raise RuntimeError("the business write fails after the save")

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
    ):
        save_then_fail()

    assert not Invoice.objects.exists()
    assert Event.objects.count() == events_before
    assert callbacks == []
    assert runs(workflow) == []


def test_dispatching_an_event_twice_starts_nothing_new(
    acme, listening, django_capture_on_commit_callbacks
):
    workflow = listening("invoice.created")
    with django_capture_on_commit_callbacks(execute=True):
        invoice = new_invoice(acme)
    event = Event.objects.get(name="invoice.created", record_id=str(invoice.pk))

    again = dispatch.dispatch_event(event.pk)
    # A dispatcher that read the event before the first one marked it: the trigger key holds.
    Event.objects.filter(pk=event.pk).update(dispatched_at=None)
    with django_capture_on_commit_callbacks(execute=True):
        racing = dispatch.dispatch_event(event.pk)

    assert again == []
    assert [execution.pk for execution in racing] == [execution.pk for execution in runs(workflow)]
    assert len(runs(workflow)) == 1


def test_concurrent_dispatchers_of_one_event_start_one_execution(
    transactional_db, listening, monkeypatch
):
    workflows = [listening("lead.created", name=f"listener {n}") for n in range(2)]
    monkeypatch.setattr(outbox, "_dispatch_soon", lambda event_pk: None)  # left to the race
    lead = Lead.objects.create(name="Ada")
    event = Event.objects.get(name="lead.created", record_id=str(lead.pk))
    start = threading.Barrier(3)
    errors = []

    def dispatcher():
        try:
            start.wait(timeout=10)
            dispatch.dispatch_event(event.pk)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatcher) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert [len(runs(workflow)) for workflow in workflows] == [1, 1]


def test_an_event_left_undispatched_by_a_crash_is_dispatched_by_the_sweep(
    acme, listening, django_capture_on_commit_callbacks
):
    workflow = listening("invoice.created")
    with time_machine.travel(MORNING, tick=False):
        # The process dies after the commit, before its after-commit dispatch ran.
        with django_capture_on_commit_callbacks(execute=False):
            invoice = new_invoice(acme)
        event = Event.objects.get(name="invoice.created", record_id=str(invoice.pk))
        assert event.dispatched_at is None

        # Too young: its own dispatch may still be on its way.
        assert dispatch.dispatch_pending() == 0
        assert runs(workflow) == []

    with (
        time_machine.travel(MORNING + timedelta(seconds=30), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        dispatch_pending_events_task.delay()

    event.refresh_from_db()
    assert event.dispatched_at is not None
    (execution,) = runs(workflow)
    assert execution.trigger_key == event.public_id
    assert execution.status == Execution.Status.COMPLETED


def test_the_sweep_takes_the_oldest_first_in_bounded_batches(acme, listening):
    workflow = listening("lead.created")
    with time_machine.travel(MORNING, tick=True):
        leads = [Lead.objects.create(name=f"Lead {n}") for n in range(5)]  # never dispatched

    later = MORNING + timedelta(minutes=1)
    assert dispatch.dispatch_pending(now=later, limit=2) == 2
    assert dispatch.dispatch_pending(now=later, limit=2) == 2
    assert dispatch.dispatch_pending(now=later, limit=2) == 1
    assert dispatch.dispatch_pending(now=later, limit=2) == 0

    subjects = [execution.subject for execution in runs(workflow)]
    assert sorted(subjects) == sorted(f"lead:{lead.pk}" for lead in leads)
    dispatched = Event.objects.filter(name="lead.created").order_by("dispatched_at", "pk")
    assert [event.record_id for event in dispatched] == [str(lead.pk) for lead in leads]


def test_bulk_writes_start_workflows_through_the_documented_api(
    acme, listening, django_capture_on_commit_callbacks
):
    on_sent = listening("invoice.sent")
    on_created = listening("lead.created")
    drafts = [new_invoice(acme, number=f"INV-{n}") for n in range(3)]

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        outbox.update_with_events(Invoice.objects.filter(status="draft"), status="sent")
        leads = Lead.objects.bulk_create([Lead(name="Ada"), Lead(name="Bob")])
        outbox.emit_for_queryset(Lead.objects.filter(pk__in=[lead.pk for lead in leads]), "created")

    assert sorted(e.subject for e in runs(on_sent)) == sorted(f"invoice:{i.pk}" for i in drafts)
    assert sorted(e.subject for e in runs(on_created)) == sorted(f"lead:{x.pk}" for x in leads)


def test_the_dispatch_tasks_have_explicit_names():
    assert {
        "triggers.dispatch_event",
        "triggers.dispatch_pending_events",
        "triggers.sweep_time_events",
    } <= set(app.tasks)


# -- workflows triggering workflows -------------------------------------------------------------

SELF_TRIGGERING = {
    "trigger": {"type": "event", "event": "lead.created"},
    "nodes": [
        {
            "id": "again",
            "type": "action",
            "action": "create_record",
            "config": {"entity": "leads", "values": {"name": "{{ lead.name }}+"}},
        }
    ],
    "edges": [{"from": "trigger", "to": "again"}],
}


def test_a_record_created_by_a_step_remembers_the_execution_that_caused_it(
    make_workflow, django_capture_on_commit_callbacks
):
    workflow = make_workflow(SELF_TRIGGERING, status="active")

    with django_capture_on_commit_callbacks(execute=True):
        Lead.objects.create(name="Ada")

    first = runs(workflow)[0]
    caused = Event.objects.get(name="lead.created", payload__lead__name="Ada+")
    assert caused.caused_by == first
    (second,) = first.caused.all()
    assert (second.caused_by, second.depth, second.trigger_key) == (first, 1, caused.public_id)


def test_a_self_triggering_workflow_stops_at_the_chain_depth_limit(
    make_workflow, django_capture_on_commit_callbacks, settings
):
    limit = settings.WORKFLOW_MAX_CHAIN_DEPTH
    workflow = make_workflow(SELF_TRIGGERING, status="active")

    with django_capture_on_commit_callbacks(execute=True):
        Lead.objects.create(name="Ada")

    chain = runs(workflow)
    assert [execution.depth for execution in chain] == list(range(limit + 1))
    assert {e.status for e in chain[:limit]} == {Execution.Status.COMPLETED}
    stopped = chain[limit]
    assert stopped.status == Execution.Status.FAILED
    assert stopped.error["type"] == "loop_protection"
    assert stopped.steps.count() == 0  # it never ran
    # nothing after it: the leads are the first one and one per completed run
    assert Lead.objects.count() == 1 + limit
    assert Lead.objects.filter(name="Ada" + "+" * limit).exists()
    assert not Event.objects.undispatched().exists()
