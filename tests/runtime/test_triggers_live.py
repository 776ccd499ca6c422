"""Triggers against the running product, in both modes: events start exactly the matching
workflows once, a rolled-back save starts nothing, a schedule fires on time, a signed
webhook starts a run and bad ones are refused, and a self-triggering chain stops at 8."""

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests
from django.db import transaction
from standardwebhooks.webhooks import Webhook

from crm.models import Customer, Invoice, Lead
from tests.support.definitions import chain, definition
from triggers.models import Event
from triggers.webhooks import endpoint_of, rotate_secret
from workflows.models import Execution

from .harness import wait_for
from .test_runtime import create_lead

pytestmark = pytest.mark.slow


def executions_of(workflow):
    return Execution.objects.filter(workflow=workflow)


def active(make_workflow, trigger, nodes=None, edges=None):
    nodes = nodes if nodes is not None else [create_lead("note", "seen", "seen@example.com")]
    workflow = make_workflow(definition(nodes, edges or chain(nodes[0]["id"]), trigger=trigger))
    workflow.change_status("active")
    return workflow


def test_an_invoice_starts_the_matching_workflows_exactly_once(product, make_workflow):
    end = [{"id": "done", "type": "end"}]
    big_only = {"field": "invoice.amount", "operator": "greater_than", "value": 1000}
    on_invoice = active(make_workflow, {"type": "event", "event": "invoice.created"}, end)
    on_big = active(
        make_workflow, {"type": "event", "event": "invoice.created", "filter": big_only}, end
    )
    on_small = active(
        make_workflow,
        {"type": "event", "event": "invoice.created", "filter": {**big_only, "value": 99999}},
        end,
    )
    on_customer = active(make_workflow, {"type": "event", "event": "customer.created"}, end)
    customer = Customer.objects.create(name="Acme", email="billing@acme.example")
    Invoice.objects.create(
        number="INV-LIVE", customer=customer, amount=Decimal("1250.00"), due_date="2026-12-01"
    )

    wait_for(
        lambda: all(
            executions_of(w).filter(status="completed").count() == 1
            for w in (on_invoice, on_big, on_customer)
        ),
        40,
        message="the matching workflows to run",
    )
    time.sleep(2)  # long enough for a duplicate to show up, if one were coming
    assert executions_of(on_invoice).count() == 1
    assert executions_of(on_big).count() == 1
    assert executions_of(on_customer).count() == 1
    assert executions_of(on_small).count() == 0
    run = executions_of(on_invoice).get()
    assert run.trigger_data["invoice"]["number"] == "INV-LIVE"
    assert run.trigger_data["customer"]["email"] == "billing@acme.example"


def failing_business_transaction():
    with transaction.atomic():
        Customer.objects.create(name="Ghost", email="ghost@example.com")
        raise RuntimeError("the business transaction fails")


def test_a_rolled_back_save_starts_nothing(product, make_workflow):
    workflow = active(make_workflow, {"type": "event", "event": "customer.created"})
    with pytest.raises(RuntimeError):
        failing_business_transaction()
    time.sleep(8)  # past the outbox sweep's grace and interval
    assert not Event.objects.exists()
    assert not executions_of(workflow).exists()


def test_a_schedule_fires_on_time(product, make_workflow):
    at = (datetime.now(UTC) + timedelta(seconds=5)).replace(microsecond=0)
    workflow = active(
        make_workflow, {"type": "schedule", "config": {"once": {"at": at.isoformat()}}}
    )
    run = wait_for(lambda: executions_of(workflow).first(), 30, message="the schedule to fire")
    scheduled = datetime.fromisoformat(run.trigger_data["scheduled_at"])
    assert scheduled == at
    lateness = (run.created_at - at).total_seconds()
    assert 0 <= lateness < 2, f"fired {lateness:.2f}s after its time"
    wait_for(lambda: executions_of(workflow).filter(status="completed").exists(), 20)


def post(product, token, body, headers):
    return requests.post(f"{product.url}/hooks/{token}", data=body, headers=headers, timeout=20)


def test_a_signed_webhook_starts_a_run_and_bad_requests_are_refused(product, make_workflow):
    workflow = active(
        make_workflow,
        {"type": "webhook", "config": {"respond": "accepted"}},
        [create_lead("note", "{{ body.name }}", "{{ body.email }}")],
    )
    secret = rotate_secret(workflow)
    token = endpoint_of(workflow).token
    body = json.dumps({"name": "Webhook Lead", "email": "hook@example.com"})
    now = datetime.now(UTC)

    def signed(msg_id, when=now, key=secret):
        return {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(when.timestamp())),
            "webhook-signature": Webhook(key).sign(msg_id, when, body),
        }

    refused = {
        "unsigned": {"content-type": "application/json"},
        "wrong secret": signed("msg_2", key="whsec_" + "A" * 43 + "="),
        "tampered": {**signed("msg_3"), "webhook-id": "msg_other"},
        "too old": signed("msg_4", when=now - timedelta(minutes=6)),
    }
    for reason, headers in refused.items():
        answer = post(product, token, body, headers)
        assert answer.status_code == 401, reason
    assert not executions_of(workflow).exists()

    answer = post(product, token, body, signed("msg_1"))
    assert answer.status_code == 202, answer.text
    execution_id = answer.json()["execution_id"]
    wait_for(
        lambda: Execution.objects.filter(public_id=execution_id, status="completed").exists(),
        30,
        message="the webhook's run",
    )
    assert Lead.objects.filter(email="hook@example.com").count() == 1
    # The sender retries the same delivery: answered with the first run, nothing new.
    again = post(product, token, body, signed("msg_1"))
    assert again.status_code == 200
    assert again.json()["execution_id"] == execution_id
    assert executions_of(workflow).count() == 1


def test_a_self_triggering_workflow_stops_at_depth_8(product, make_workflow):
    workflow = active(
        make_workflow,
        {"type": "event", "event": "lead.created"},
        [create_lead("again", "Echo", "echo@example.com")],
    )
    Lead.objects.create(name="First", email="first@example.com")
    stopped = wait_for(
        lambda: executions_of(workflow).filter(depth=8).first(), 90, message="depth 8"
    )
    assert stopped.status == "failed"
    assert stopped.error["type"] == "loop_protection"
    time.sleep(3)
    assert executions_of(workflow).count() == 9
    assert sorted(executions_of(workflow).values_list("depth", flat=True)) == list(range(9))
    assert Lead.objects.count() == 1 + 8  # the first lead and one per allowed run
