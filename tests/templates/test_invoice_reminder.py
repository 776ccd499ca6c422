"""Invoice reminder (the seed's own example): every morning at 09:00, an email for each
invoice 7 or more days overdue with fewer than 3 reminders, a collections ticket for the rest."""

import json
from datetime import timedelta
from pathlib import Path

from crm.models import Invoice, Ticket
from workflows import starters
from workflows.models import Execution

SEED = Path(__file__).resolve().parents[1] / "fixtures" / "seed_invoice_reminder.json"


def test_the_template_is_the_seed_example_with_a_fresh_id():
    seed = json.loads(SEED.read_text())
    definition = starters.get_template("invoice_reminder")["definition"]
    for node in definition["nodes"]:
        node.pop("ui")  # the builder's layout, added for drawing
    expected = {k: v for k, v in seed.items() if k not in ("id", "version", "status")}
    assert definition == expected


def test_each_morning_at_nine_it_reminds_or_escalates_every_late_invoice(
    demo, activate, fire, mailoutbox
):
    workflow = activate("invoice_reminder")
    tickets_before = set(Ticket.objects.values_list("pk", flat=True))

    execution = fire(workflow)

    assert execution.status == Execution.Status.COMPLETED, execution.error
    assert execution.trigger_type == "schedule"
    scheduled = execution.trigger_data["scheduled_at"]
    assert scheduled.startswith("2026-11-23T09:00:00")
    today = execution.created_at.date()
    late = Invoice.objects.filter(
        status="overdue", due_date__lte=today - timedelta(days=7)
    ).select_related("customer")
    to_remind = {(i.customer.email, i.number, str(i.amount)) for i in late if i.reminder_count < 3}
    to_escalate = {i.number for i in late if i.reminder_count >= 3}
    assert to_remind, "the demo data must have invoices to remind"
    assert to_escalate, "the demo data must have invoices to escalate"

    sent = {(m.to[0], m.subject.split()[2], m.body) for m in mailoutbox}
    assert {(to, number) for to, number, _ in sent} == {(to, n) for to, n, _ in to_remind}
    assert len(mailoutbox) == len(to_remind)
    amounts = {number: amount for _, number, amount in to_remind}
    for _, number, body in sent:
        assert amounts[number] in body
    assert {m.subject for m in mailoutbox} == {
        f"Reminder: invoice {number} is overdue" for number in amounts
    }

    new_tickets = Ticket.objects.exclude(pk__in=tickets_before)
    assert sorted(t.subject for t in new_tickets) == sorted(
        f"Escalate: Invoice {number} severely overdue" for number in to_escalate
    )
    assert {(t.priority, t.assigned_to, t.status) for t in new_tickets} == {
        ("high", "collections_team", "open")
    }


def test_the_next_morning_is_the_next_run(demo, activate, fire):
    workflow = activate("invoice_reminder")
    first = fire(workflow)
    second = fire(workflow)
    assert first.trigger_data["scheduled_at"].startswith("2026-11-23T09:00:00")
    assert second.trigger_data["scheduled_at"].startswith("2026-11-24T09:00:00")
    assert second.status == Execution.Status.COMPLETED, second.error
