"""Weekly report: Monday at 09:00, the previous seven days' payments and new customers and
this morning's overdue invoices, totalled from the records and emailed."""

from datetime import datetime, time, timedelta
from decimal import Decimal

from django.utils import timezone

from crm.models import Customer, Invoice
from workflows.models import Execution

from .conftest import START

TODAY = START.date()  # Monday 23 November 2026


def at(day, hour, minute=0):
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


def in_last_week(moment):
    return TODAY - timedelta(days=7) <= timezone.localdate(moment) <= TODAY - timedelta(days=1)


def money(amount):
    return f"{amount:,.2f}"


def paid_invoice(customer, number, amount, paid_at, currency="USD"):
    return Invoice.objects.create(
        number=number,
        customer=customer,
        amount=Decimal(amount),
        currency=currency,
        issue_date=TODAY - timedelta(days=40),
        due_date=TODAY - timedelta(days=10),
        status="paid",
        paid_at=paid_at,
    )


def test_monday_morning_brings_last_weeks_numbers(demo, activate, fire, mailoutbox):
    acme = Customer.objects.create(name="Acme Week", email="ap@acme-week.example")
    acme.created_at = at(TODAY - timedelta(days=3), 14)  # joined last Thursday
    acme.save()
    for name, joined in [
        ("Joined Monday a week ago", at(TODAY - timedelta(days=7), 0, 5)),
        ("Joined the Sunday before", at(TODAY - timedelta(days=8), 23, 55)),  # too early
        ("Joined this morning", at(TODAY, 7, 0)),  # this week's report
    ]:
        Customer.objects.create(name=name, email="", created_at=joined)
    paid_invoice(acme, "WK-1", "12500.50", at(TODAY - timedelta(days=7), 0, 30))
    paid_invoice(acme, "WK-2", "980.25", at(TODAY - timedelta(days=1), 23, 59))
    paid_invoice(acme, "WK-3", "300.00", at(TODAY - timedelta(days=8), 23, 59))  # too early
    paid_invoice(acme, "WK-4", "410.00", at(TODAY, 7, 15))  # this morning
    paid_invoice(acme, "WK-5", "5000.00", at(TODAY - timedelta(days=2), 10), currency="EUR")

    workflow = activate("weekly_report")
    run = fire(workflow)

    assert run.status == Execution.Status.COMPLETED, run.error
    assert run.trigger_data["scheduled_at"].startswith("2026-11-23T09:00:00")
    paid = [
        i
        for i in Invoice.objects.filter(status="paid", currency="USD", paid_at__isnull=False)
        if in_last_week(i.paid_at)
    ]
    assert {"WK-1", "WK-2"} <= {i.number for i in paid}
    assert not {"WK-3", "WK-4", "WK-5"} & {i.number for i in paid}
    overdue = list(Invoice.objects.filter(status="overdue", currency="USD"))
    new_customers = [c for c in Customer.objects.all() if in_last_week(c.created_at)]
    assert len(new_customers) == 2

    (message,) = mailoutbox
    assert message.to == ["management@example.com"]
    assert message.subject == "Weekly business summary, Monday 23 November 2026"
    body = message.body
    assert f"Invoices paid: {len(paid)}\n" in body
    assert f"Amount collected: {money(sum(i.amount for i in paid))} USD\n" in body
    assert f"Overdue invoices: {len(overdue)}\n" in body
    assert f"Amount overdue: {money(sum(i.amount for i in overdue))} USD\n" in body
    assert "New customers: 2\n" in body
    assert "seven days before Monday 23 November 2026" in body
    html = message.alternatives[0][0]
    assert f"{money(sum(i.amount for i in overdue))} USD</td>" in html


def test_a_quiet_week_reports_zeros(clock, activate, fire, mailoutbox):
    workflow = activate("weekly_report")
    run = fire(workflow)
    assert run.status == Execution.Status.COMPLETED, run.error
    (message,) = mailoutbox
    for line in (
        "Invoices paid: 0\n",
        "Amount collected: 0.00 USD\n",
        "Overdue invoices: 0\n",
        "Amount overdue: 0.00 USD\n",
        "New customers: 0\n",
    ):
        assert line in message.body


def test_it_runs_every_monday_at_nine(clock, activate, fire):
    workflow = activate("weekly_report")
    instants = [fire(workflow).trigger_data["scheduled_at"][:19] for _ in range(3)]
    assert instants == ["2026-11-23T09:00:00", "2026-11-30T09:00:00", "2026-12-07T09:00:00"]
