"""Welcome email sequence: a new customer gets a welcome at once, tips on day 3 and a check-in
on day 7, through durable delays that wait for the clock."""

from datetime import timedelta

import pytest
from django.core.management import call_command

from crm.models import Customer
from workflows.models import Execution

from .conftest import START

WELCOME = "Welcome aboard, {name}!"
TIPS = "{name}, three tips for your first week"
CHECK_IN = "How is your first week going, {name}?"


def emails(mailoutbox):
    return sorted((m.to[0], m.subject) for m in mailoutbox)


def run_of(workflow, customer):
    return Execution.objects.get(workflow=workflow, subject=f"customer:{customer.pk}")


def test_a_new_customer_gets_three_emails_over_a_week(
    demo, activate, committed, resume, mailoutbox
):
    workflow = activate("welcome_email_sequence")
    with committed():
        nadia = Customer.objects.create(name="Nadia Okafor", email="nadia@okafor.example")
        leaving = Customer.objects.create(name="Leaving Ltd", email="ap@leaving.example")
        Customer.objects.create(name="Walk-in customer", email="")  # nobody to write to

    assert emails(mailoutbox) == sorted(
        [
            ("ap@leaving.example", WELCOME.format(name="Leaving Ltd")),
            ("nadia@okafor.example", WELCOME.format(name="Nadia Okafor")),
        ]
    )
    assert "Nadia Okafor" in mailoutbox[0].body or "Nadia Okafor" in mailoutbox[1].body
    assert Execution.objects.filter(workflow=workflow).count() == 2  # the filter held one back
    run = run_of(workflow, nadia)
    assert run.status == Execution.Status.WAITING
    assert run.resume_at == START + timedelta(days=3)

    # Leaving Ltd asks to be removed from mailings before day 3.
    with committed():
        leaving.email = ""
        leaving.save()
    mailoutbox.clear()

    assert resume(START + timedelta(days=3) - timedelta(minutes=1)) == 0
    assert mailoutbox == []

    assert resume(START + timedelta(days=3)) == 2
    assert emails(mailoutbox) == [("nadia@okafor.example", TIPS.format(name="Nadia Okafor"))]
    finished = run_of(workflow, leaving)
    assert finished.status == Execution.Status.COMPLETED
    assert (
        finished.steps.get(node_id="stop_day_3")
        .output["reason"]
        .startswith("the customer was removed")
    )
    run.refresh_from_db()
    assert run.status == Execution.Status.WAITING
    assert run.resume_at == START + timedelta(days=7)
    mailoutbox.clear()

    assert resume(START + timedelta(days=7)) == 1
    assert emails(mailoutbox) == [("nadia@okafor.example", CHECK_IN.format(name="Nadia Okafor"))]
    run.refresh_from_db()
    assert run.status == Execution.Status.COMPLETED, run.error
    assert [
        s.node_id for s in run.steps.filter(node_type="action", node_id__startswith="send")
    ] == [
        "send_welcome",
        "send_tips",
        "send_check_in",
    ]

    mailoutbox.clear()
    assert resume(START + timedelta(days=30)) == 0
    assert mailoutbox == []


@pytest.mark.slow
def test_the_demo_customers_each_get_one_welcome(clock, activate, committed, mailoutbox):
    """The demo data set written while the sequence is active: one welcome per customer with
    an address, and every run parked until its day 3."""
    workflow = activate("welcome_email_sequence")
    with committed():
        call_command("seed_demo", "--quiet")

    customers = Customer.objects.exclude(email="")
    assert customers.exists()
    assert emails(mailoutbox) == sorted((c.email, WELCOME.format(name=c.name)) for c in customers)
    statuses = set(
        Execution.objects.filter(workflow=workflow).values_list("status", flat=True).distinct()
    )
    assert statuses == {Execution.Status.WAITING}
    assert Execution.objects.filter(workflow=workflow).count() == customers.count()
