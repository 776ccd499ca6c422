"""Contract renewal: as each active contract enters its last 30 days (the time sweep's
contract.expiring event), its customer gets one reminder and the account team a ticket."""

from datetime import date, timedelta
from decimal import Decimal

from crm.models import Contract, Customer, Ticket
from triggers.tasks.events import sweep_time_events_task
from workflows.models import Execution

from .conftest import START

TODAY = START.date()


def long_date(day):
    return day.strftime("%B %d, %Y")


def expiring_on(today):
    """Independently of the event: active contracts that end within 30 days of `today`."""
    return Contract.objects.filter(
        status="active", end_date__gte=today, end_date__lte=today + timedelta(days=30)
    ).select_related("customer")


def new_tickets(before):
    return Ticket.objects.exclude(pk__in=before).select_related("customer")


def test_each_expiring_contract_is_reminded_once(
    demo, activate, committed, clock, mailoutbox, runs
):
    workflow = activate("contract_renewal")
    expiring = list(expiring_on(TODAY))
    assert expiring, "the demo data must have contracts ending within 30 days"
    # Not due today, due tomorrow: its last 30 days start then.
    later = Contract.objects.create(
        customer=expiring[0].customer,
        start_date=TODAY - timedelta(days=300),
        end_date=TODAY + timedelta(days=31),
        value=Decimal("12000.00"),
    )
    tickets_before = set(Ticket.objects.values_list("pk", flat=True))

    with committed():
        sweep_time_events_task.delay()

    assert sorted((m.to[0], m.subject) for m in mailoutbox) == sorted(
        (
            c.customer.email,
            f"Your contract ends on {long_date(c.end_date)}: time to talk about renewal",
        )
        for c in expiring
    )
    for contract in expiring:
        (message,) = [m for m in mailoutbox if f"contract #{contract.pk} " in m.body]
        assert message.to == [contract.customer.email]
        days_left = (contract.end_date - TODAY).days
        assert f"{days_left} days from now" in message.body
        assert f"Hello {contract.customer.name}," in message.body
    tickets = new_tickets(tickets_before)
    assert sorted((t.subject, t.customer_id) for t in tickets) == sorted(
        (
            f"Renewal: contract #{c.pk} with {c.customer.name} ends on {c.end_date.isoformat()}",
            c.customer_id,
        )
        for c in expiring
    )
    assert {(t.priority, t.assigned_to) for t in tickets} == {("normal", "account_team")}
    assert {r.status for r in runs(workflow)} == {Execution.Status.COMPLETED}

    # The next day's sweeps remind only the contract whose last 30 days begin now.
    mailoutbox.clear()
    clock.move_to(START + timedelta(days=1))
    with committed():
        sweep_time_events_task.delay()
        sweep_time_events_task.delay()
    assert [(m.to, m.subject) for m in mailoutbox] == [
        (
            [later.customer.email],
            f"Your contract ends on {long_date(later.end_date)}: time to talk about renewal",
        )
    ]
    assert len(runs(workflow)) == len(expiring) + 1


def test_a_customer_without_an_address_gets_a_call_instead(demo, activate, committed, mailoutbox):
    activate("contract_renewal")
    quiet = Customer.objects.create(name="Quiet Corp", email="", type="enterprise")
    contract = Contract.objects.create(
        customer=quiet,
        start_date=date(2025, 12, 1),
        end_date=TODAY + timedelta(days=10),
        value=Decimal("48000.00"),
    )
    tickets_before = set(Ticket.objects.values_list("pk", flat=True))

    with committed():
        sweep_time_events_task.delay()

    assert quiet.email not in {m.to[0] for m in mailoutbox}
    (ticket,) = new_tickets(tickets_before).filter(customer=quiet)
    assert ticket.subject == (
        f"Renewal: contract #{contract.pk} with Quiet Corp ends on "
        f"{contract.end_date.isoformat()} (no email address on file)"
    )
    assert (ticket.priority, ticket.assigned_to) == ("high", "account_team")
