"""Time-based events: the sweep emits each once per record and occasion."""

import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection

from crm.models import Contract, Customer, Invoice
from triggers import time_events
from triggers.models import Event
from triggers.tasks.events import sweep_time_events_task

TODAY = date(2026, 11, 26)
MORNING = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    with time_machine.travel(MORNING, tick=False) as traveller:
        yield traveller


@pytest.fixture
def acme(db):
    return Customer.objects.create(name="Acme", email="billing@acme.example")


def invoice(customer, number, status, due):
    return Invoice.objects.create(
        number=number, customer=customer, amount=Decimal("100.00"), status=status, due_date=due
    )


def contract(customer, status, end):
    return Contract.objects.create(
        customer=customer, start_date=date(2025, 1, 1), end_date=end, status=status, value=1000
    )


def timed_events():
    return sorted(
        (event.name, event.record_id, event.occasion)
        for event in Event.objects.filter(name__in=["invoice.overdue", "contract.expiring"])
    )


def test_the_sweep_emits_what_is_due_once_per_occasion(clock, acme):
    due = [
        invoice(acme, "LATE", "sent", TODAY - timedelta(days=16)),
        invoice(acme, "YESTERDAY", "sent", TODAY - timedelta(days=1)),
    ]
    # not due:
    invoice(acme, "TODAY", "sent", TODAY)  # due today has not passed yet
    invoice(acme, "PAID", "paid", TODAY - timedelta(days=16))
    invoice(acme, "DRAFT", "draft", TODAY - timedelta(days=16))
    invoice(acme, "VOID", "void", TODAY - timedelta(days=16))
    expiring = [
        contract(acme, "active", TODAY + timedelta(days=10)),
        contract(acme, "active", TODAY + timedelta(days=30)),  # the notice period's last day
        contract(acme, "active", TODAY),
    ]
    # not expiring:
    contract(acme, "active", TODAY + timedelta(days=31))
    contract(acme, "active", TODAY - timedelta(days=1))  # already ended
    contract(acme, "cancelled", TODAY + timedelta(days=5))
    contract(acme, "renewed", TODAY + timedelta(days=5))

    first = time_events.sweep()
    second = time_events.sweep()

    assert (first, second) == (len(due) + len(expiring), 0)
    assert timed_events() == sorted(
        [
            *(("invoice.overdue", str(i.pk), f"invoice.overdue:{i.pk}:{i.due_date}") for i in due),
            *(
                ("contract.expiring", str(c.pk), f"contract.expiring:{c.pk}:{c.end_date}")
                for c in expiring
            ),
        ]
    )


def test_the_notice_period_is_a_setting(clock, acme, settings):
    settings.CONTRACT_EXPIRING_DAYS = 7
    soon = contract(acme, "active", TODAY + timedelta(days=7))
    contract(acme, "active", TODAY + timedelta(days=8))

    time_events.sweep()

    assert [record_id for _, record_id, _ in timed_events()] == [str(soon.pk)]


def test_a_new_due_date_is_a_new_occasion(clock, acme):
    late = invoice(acme, "LATE", "sent", TODAY - timedelta(days=3))
    time_events.sweep()

    late.due_date = TODAY + timedelta(days=2)  # the customer was given more time
    late.save()
    time_events.sweep()
    assert len(timed_events()) == 1

    clock.move_to(MORNING + timedelta(days=3))
    time_events.sweep()
    time_events.sweep()

    assert [occasion for *_, occasion in timed_events()] == [
        f"invoice.overdue:{late.pk}:2026-11-23",
        f"invoice.overdue:{late.pk}:2026-11-28",
    ]


@pytest.mark.parametrize("order", ["sweep first", "status first"])
def test_overdue_seen_by_the_sweep_and_by_a_status_change_fires_once(clock, acme, order):
    late = invoice(acme, "LATE", "sent", TODAY - timedelta(days=3))

    def mark_overdue():
        late.status = "overdue"
        late.save()

    steps = [time_events.sweep, mark_overdue]
    for step in steps if order == "sweep first" else reversed(steps):
        step()

    assert len(timed_events()) == 1
    assert Event.objects.filter(name="invoice.updated", record_id=str(late.pk)).count() == 1


def test_the_sweep_starts_listening_workflows_once(
    clock, acme, make_workflow, django_capture_on_commit_callbacks
):
    definition = {
        "trigger": {"type": "event", "event": "invoice.overdue"},
        "nodes": [{"id": "done", "type": "end"}],
        "edges": [{"from": "trigger", "to": "done"}],
    }
    workflow = make_workflow(definition, status="active")
    late = invoice(acme, "LATE", "sent", TODAY - timedelta(days=3))

    with django_capture_on_commit_callbacks(execute=True):
        sweep_time_events_task.delay()
    with django_capture_on_commit_callbacks(execute=True):
        sweep_time_events_task.delay()

    (execution,) = workflow.executions.all()
    assert execution.subject == f"invoice:{late.pk}"
    assert execution.trigger_data["invoice"]["days_overdue"] == 3
    assert execution.trigger_data["customer"]["name"] == "Acme"


def test_concurrent_sweeps_emit_once(transactional_db):
    customer = Customer.objects.create(name="Acme")
    overdue = [invoice(customer, f"LATE-{n}", "sent", TODAY - timedelta(days=n)) for n in (1, 2, 3)]
    start = threading.Barrier(2)
    counts, errors = [], []

    def sweep():
        try:
            start.wait(timeout=10)
            counts.append(time_events.sweep(now=MORNING))
        except Exception as exc:  # reported below, with the thread's own error
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sum(counts) == len(overdue)
    assert Event.objects.filter(name="invoice.overdue").count() == len(overdue)
