"""Ticket escalation: every 15 minutes, open tickets without a first response for 4 hours or
more get their priority raised one step, once, and the support team hears of each."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User

from actions.models import Notification
from crm.models import Ticket
from triggers.models import Event
from workflows.models import Execution

from .conftest import START

RAISED = {"low": "normal", "normal": "high", "high": "urgent"}
TEAM = "support-team@example.com"


@pytest.fixture
def support(db):
    group = Group.objects.create(name="Support")
    agents = [User.objects.create_user(name) for name in ("amara", "lukas")]
    group.user_set.add(*agents)
    User.objects.create_user("someone_else")
    return agents


def breaching(now):
    """Independently of the workflow: open, unanswered, never escalated, not urgent, and
    opened 4 hours or more before `now`."""
    return {
        ticket.pk: ticket
        for ticket in Ticket.objects.filter(
            status="open",
            first_response_at__isnull=True,
            escalated_at__isnull=True,
            created_at__lte=now - timedelta(hours=4),
        )
        .exclude(priority="urgent")
        .select_related("customer")
    }


def test_tickets_past_the_sla_are_raised_once_and_the_team_is_told(
    demo, support, activate, fire, mailoutbox
):
    fresh = Ticket.objects.create(subject="Invoice PDF shows the wrong VAT", priority="low")
    workflow = activate("ticket_escalation")
    first_instant = START + timedelta(minutes=15)
    due = breaching(first_instant)
    assert due, "the demo data must have tickets past the SLA"
    assert {t.priority for t in due.values()} >= {"low", "normal"}
    untouched = {t.pk: (t.priority, t.escalated_at) for t in Ticket.objects.exclude(pk__in=due)}

    run = fire(workflow)

    assert run.status == Execution.Status.COMPLETED, run.error
    assert run.trigger_data["scheduled_at"].startswith(first_instant.isoformat()[:19])
    for pk, before in due.items():
        after = Ticket.objects.get(pk=pk)
        assert after.priority == RAISED[before.priority], before.subject
        assert after.escalated_at == first_instant
    assert {
        t.pk: (t.priority, t.escalated_at) for t in Ticket.objects.exclude(pk__in=due)
    } == untouched
    escalated_events = Event.objects.filter(name="ticket.escalated").values_list(
        "record_id", flat=True
    )
    assert sorted(escalated_events) == sorted(str(pk) for pk in due)

    assert sorted(m.subject for m in mailoutbox) == sorted(
        f"Escalated to {RAISED[t.priority]}: {t.subject}" for t in due.values()
    )
    assert {tuple(m.to) for m in mailoutbox} == {(TEAM,)}
    some = next(iter(due.values()))
    (message,) = [m for m in mailoutbox if m.subject.endswith(f": {some.subject}")]
    hours = int((first_instant - some.created_at).total_seconds() // 3600)
    assert f"no first response for {hours} hours" in message.body
    assert f"raised from {some.priority} to {RAISED[some.priority]}" in message.body
    customer = some.customer.name if some.customer else "no customer on file"
    assert f"Customer: {customer}" in message.body

    for agent in support:
        titles = sorted(n.title for n in Notification.objects.filter(recipient=agent))
        assert titles == sorted(
            f"Escalated to {RAISED[t.priority]}: {t.subject}" for t in due.values()
        )
    assert not Notification.objects.filter(recipient__username="someone_else").exists()
    note = Notification.objects.filter(recipient=support[0], data__ticket=some.pk).get()
    assert (note.level, note.link) == ("warning", f"/admin/crm/ticket/{some.pk}/change/")

    # 15 minutes later nothing is escalated twice; 4 hours after it opened, the new ticket is.
    mailoutbox.clear()
    second = fire(workflow)
    assert second.status == Execution.Status.COMPLETED, second.error
    assert mailoutbox == []
    assert second.steps.get(node_id="each_ticket").output == {"count": 0}

    while Ticket.objects.get(pk=fresh.pk).escalated_at is None:
        run = fire(workflow)
        assert run.status == Execution.Status.COMPLETED, run.error
    fresh.refresh_from_db()
    assert fresh.priority == "normal"
    assert fresh.escalated_at - fresh.created_at == timedelta(hours=4)
    assert [m.subject for m in mailoutbox] == [
        "Escalated to normal: Invoice PDF shows the wrong VAT"
    ]


def test_without_the_support_group_tickets_are_still_escalated_and_emailed(
    demo, activate, fire, mailoutbox
):
    workflow = activate("ticket_escalation")
    due = breaching(START + timedelta(minutes=15))

    run = fire(workflow)

    assert run.status == Execution.Status.COMPLETED, run.error
    assert len(mailoutbox) == len(due)
    assert all(Ticket.objects.get(pk=pk).escalated_at for pk in due)
    failed = run.steps.filter(node_id="notify_team", status="failed")
    assert failed.count() == len(due)
    assert failed.first().error["message"] == "no such recipient: group Support"
    assert not Notification.objects.exists()
