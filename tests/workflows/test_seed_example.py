"""The seed's own example, verbatim, against demo invoices: exactly the emails and tickets
the data calls for, and nothing else."""

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.management import call_command

from crm.models import Customer, Invoice, Ticket
from workflows.services import start_execution

pytestmark = pytest.mark.django_db

TODAY = date(2026, 11, 26)


@pytest.fixture
def invoices():
    """One invoice per case the workflow must tell apart."""
    customer = Customer.objects.create(name="Acme", email="billing@acme.example", type="enterprise")
    other = Customer.objects.create(name="Bolt", email="ap@bolt.example", type="smb")

    def invoice(number, status, days_late, reminders, who=customer):
        return Invoice.objects.create(
            number=number,
            customer=who,
            amount=Decimal("1250.00"),
            issue_date=TODAY - timedelta(days=days_late + 30),
            due_date=TODAY - timedelta(days=days_late),
            status=status,
            reminder_count=reminders,
        )

    return {
        "remind": invoice("INV-1", "overdue", 7, 0),  # exactly 7 days: reminded
        "remind_2": invoice("INV-2", "overdue", 30, 2, other),  # 2 reminders: still an email
        "escalate": invoice("INV-3", "overdue", 10, 3),  # 3 reminders: a ticket
        "escalate_5": invoice("INV-4", "overdue", 60, 5, other),
        "too_recent": invoice("INV-5", "overdue", 6, 0),  # 6 days: nothing
        "sent_late": invoice("INV-6", "sent", 20, 0),  # not marked overdue: nothing
        "paid": invoice("INV-7", "paid", 40, 4),
    }


def test_seed_example_runs_verbatim(make_workflow, seed_definition, invoices, mailoutbox):
    workflow = make_workflow(seed_definition)
    with time_machine.travel(TODAY, tick=False):
        execution = start_execution(workflow, inline=True)
    assert execution.status == "completed", execution.error

    recipients = sorted(m.to[0] for m in mailoutbox)
    assert recipients == ["ap@bolt.example", "billing@acme.example"]
    subjects = sorted(m.subject for m in mailoutbox)
    assert subjects == [
        "Reminder: invoice INV-1 is overdue",
        "Reminder: invoice INV-2 is overdue",
    ]
    assert "1250.00" in mailoutbox[0].body

    tickets = Ticket.objects.order_by("subject")
    assert [(t.subject, t.priority, t.assigned_to) for t in tickets] == [
        ("Escalate: Invoice INV-3 severely overdue", "high", "collections_team"),
        ("Escalate: Invoice INV-4 severely overdue", "high", "collections_team"),
    ]
    # Every visit is recorded: query, loop, and per invoice the condition and one action.
    paths = [s.path for s in execution.steps.order_by("id")]
    assert paths[:2] == ["node_1", "node_2"]
    assert len(paths) == 2 + 4 * 2
    assert execution.steps.filter(status="succeeded").count() == len(paths)


def test_seed_example_over_the_demo_data(make_workflow, seed_definition, mailoutbox):
    """After seed_demo, each overdue invoice 7+ days late gets one email (< 3 reminders) or
    one ticket (3+), computed independently from the data."""
    with time_machine.travel(TODAY, tick=False):
        call_command("seed_demo", "--quiet")
        due = Invoice.objects.filter(status="overdue", due_date__lte=TODAY - timedelta(days=7))
        expected_emails = sorted(i.number for i in due if i.reminder_count < 3)
        expected_tickets = sorted(i.number for i in due if i.reminder_count >= 3)
        assert expected_emails, "the demo data must have invoices to remind"
        assert expected_tickets, "the demo data must have invoices to escalate"
        tickets_before = set(Ticket.objects.values_list("pk", flat=True))
        execution = start_execution(make_workflow(seed_definition), inline=True)
    assert execution.status == "completed", execution.error
    emailed = sorted(m.subject.split()[2] for m in mailoutbox)
    assert emailed == expected_emails
    new_tickets = Ticket.objects.exclude(pk__in=tickets_before)
    assert sorted(t.subject.split()[2] for t in new_tickets) == expected_tickets
    assert {(t.priority, t.assigned_to) for t in new_tickets} == {("high", "collections_team")}


def test_cli_runs_the_seed_example_and_prints_every_step(
    seed_definition, invoices, capsys, tmp_path
):
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(seed_definition))
    with time_machine.travel(TODAY, tick=False):
        call_command("workflow", "run", str(path))
    output = json.loads(capsys.readouterr().out)
    assert output["status"] == "completed"
    assert output["workflow"] == "wf_001"
    assert len(output["steps"]) == output["steps_total"] == 10
    first = output["steps"][0]
    assert first["node"] == "node_1"
    assert len(first["output"]) == 4  # the invoices overdue by 7 days or more
    assert {s["status"] for s in output["steps"]} == {"succeeded"}
