"""delete_record: by id or by filter with a limit, registered entities only, refused when
other records protect the record, one transaction, and a test mode that deletes nothing."""

from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest
from jsonschema import Draft202012Validator

from actions.registry import ActionContext, ActionError, registry
from crm.models import Contact, Customer, Invoice, Lead, Ticket
from triggers.models import Event
from workflows.validation.action_nodes import ConfigValidator

pytestmark = pytest.mark.django_db


def context(simulate=False):
    return ActionContext(
        execution=SimpleNamespace(public_id="exe_del"),
        node_id="del",
        path="del",
        attempt=1,
        timezone=UTC,
        now=datetime(2026, 11, 26, 9, tzinfo=UTC),
        is_test=simulate,
    )


def delete(config, *, simulate=False):
    action = registry.get("delete_record")
    method = action.simulate if simulate else action.run
    return method(config, context(simulate))


def refused(config, *, simulate=False):
    with pytest.raises(ActionError) as excinfo:
        delete(config, simulate=simulate)
    return excinfo.value


@pytest.fixture
def acme():
    customer = Customer.objects.create(name="Acme", email="ap@acme.example")
    Contact.objects.create(customer=customer, name="Ann")
    Contact.objects.create(customer=customer, name="Bob")
    return customer


@pytest.fixture
def leads():
    return [
        Lead.objects.create(name=name, status=status, score=score)
        for name, status, score in [
            ("A", "disqualified", 1),
            ("B", "disqualified", 2),
            ("C", "qualified", 90),
        ]
    ]


def _invoice(customer):
    return Invoice.objects.create(
        number="INV-1",
        customer=customer,
        amount=Decimal("10.00"),
        due_date=date(2026, 12, 1),
    )


# -- by id ------------------------------------------------------------------------------------


def test_deletes_one_record_by_id_and_returns_it():
    ticket = Ticket.objects.create(subject="Refund", priority="high")
    result = delete({"entity": "tickets", "id": ticket.pk})
    assert not Ticket.objects.filter(pk=ticket.pk).exists()
    assert result["count"] == 1
    assert result["also_deleted"] == {}
    [record] = result["records"]
    assert record["id"] == ticket.pk
    assert record["subject"] == "Refund"


@pytest.mark.parametrize("as_given", [str, lambda pk: {"id": pk, "subject": "x"}])
def test_an_id_given_as_text_or_as_the_record_works(as_given):
    ticket = Ticket.objects.create(subject="x")
    assert delete({"entity": "ticket", "id": as_given(ticket.pk)})["count"] == 1


def test_cascades_are_reported(acme):
    result = delete({"entity": "customers", "id": acme.pk})
    assert result["also_deleted"] == {"contacts": 2}
    assert not Contact.objects.exists()


def test_deleting_emits_the_deleted_event():
    ticket = Ticket.objects.create(subject="x")
    ticket_id = ticket.pk
    delete({"entity": "tickets", "id": ticket_id})
    event = Event.objects.filter(name="ticket.deleted").get()
    assert event.record_id == str(ticket_id)
    assert event.payload["ticket"]["subject"] == "x"


@pytest.mark.parametrize("missing_id", [999_999, "999999", "not-a-number"])
def test_a_missing_id_is_not_found(missing_id):
    error = refused({"entity": "tickets", "id": missing_id})
    assert error.kind == "not_found"
    assert f"no ticket with id {missing_id!r}" in error.message


def test_a_missing_id_may_be_ignored():
    result = delete({"entity": "tickets", "id": 999_999, "if_missing": "ignore"})
    assert result == {"records": [], "count": 0, "also_deleted": {}}


# -- refusals ---------------------------------------------------------------------------------


def test_a_protected_record_is_refused_and_nothing_is_deleted(acme):
    _invoice(acme)
    error = refused({"entity": "customers", "id": acme.pk})
    assert error.kind == "refused"
    assert "cannot delete this customer: 1 invoices still refer to it" in error.message
    assert error.details == {"blocked_by": {"invoices": 1}}
    assert Customer.objects.filter(pk=acme.pk).exists()
    assert Contact.objects.count() == 2  # the cascade did not start either


@pytest.mark.parametrize(
    ("config", "kind", "message"),
    [
        ({"entity": "users", "id": 1}, "invalid_config", "unknown entity 'users'"),
        ({"entity": "tickets"}, "invalid_config", "give either 'id' or a non-empty 'filter'"),
        (
            {"entity": "tickets", "id": 1, "filter": {"status": "open"}, "limit": 1},
            "invalid_config",
            "give either 'id' or a non-empty 'filter'",
        ),
        ({"entity": "tickets", "filter": {}}, "invalid_config", "give either 'id'"),
        (
            {"entity": "leads", "filter": {"status": "new"}},
            "invalid_config",
            "a filter needs a limit",
        ),
        (
            {"entity": "leads", "filter": {"status": "new"}, "limit": 5000},
            "invalid_config",
            "a filter needs a limit from 1 to 1000",
        ),
        (
            {"entity": "customers", "filter": {"user__password": "x"}, "limit": 1},
            "invalid_config",
            "not a whitelisted field",
        ),
        (
            {"entity": "customers", "filter": {"stripe_payment_method_id": "pm_1"}, "limit": 1},
            "invalid_config",
            "not a whitelisted field",
        ),
    ],
)
def test_bad_configs_are_refused(config, kind, message):
    error = refused(config)
    assert error.kind == kind
    assert message in error.message


# -- by filter, with a limit ------------------------------------------------------------------


def test_deletes_what_a_filter_matches_within_the_limit(leads):
    result = delete({"entity": "leads", "filter": {"status": "disqualified"}, "limit": 2})
    assert result["count"] == 2
    assert [r["name"] for r in result["records"]] == ["A", "B"]
    assert list(Lead.objects.values_list("name", flat=True)) == ["C"]


def test_more_matches_than_the_limit_deletes_nothing(leads):
    error = refused({"entity": "leads", "filter": {"score": {"$lt": 100}}, "limit": 2})
    assert error.kind == "refused"
    assert "more than 2 leads match the filter (the limit); nothing was deleted" in error.message
    assert Lead.objects.count() == 3


def test_a_filter_matching_nothing_deletes_nothing(leads):
    result = delete({"entity": "leads", "filter": {"status": "converted"}, "limit": 10})
    assert result["count"] == 0
    assert Lead.objects.count() == 3


def test_a_filter_through_a_relation(acme):
    other = Customer.objects.create(name="Other")
    Contact.objects.create(customer=other, name="Zed")
    result = delete({"entity": "contacts", "filter": {"customer.name": "Acme"}, "limit": 5})
    assert sorted(r["name"] for r in result["records"]) == ["Ann", "Bob"]
    assert list(Contact.objects.values_list("name", flat=True)) == ["Zed"]


def test_several_records_go_in_one_transaction(acme):
    # The second customer is protected by an invoice: neither is deleted.
    blocked = Customer.objects.create(name="Blocked")
    _invoice(blocked)
    error = refused(
        {"entity": "customers", "filter": {"name": {"$in": ["Acme", "Blocked"]}}, "limit": 2}
    )
    assert error.kind == "refused"
    assert Customer.objects.count() == 2
    assert Contact.objects.count() == 2


# -- test mode --------------------------------------------------------------------------------


def test_simulate_shows_what_would_be_deleted_and_deletes_nothing(acme):
    result = delete({"entity": "customers", "id": acme.pk}, simulate=True)
    assert result["simulated"] is True
    assert result["count"] == 1
    assert result["would_delete"][0]["name"] == "Acme"
    assert "stripe_payment_method_id" not in result["would_delete"][0]
    assert result["also_deleted"] == {"contacts": 2}
    assert Customer.objects.filter(pk=acme.pk).exists()
    assert Contact.objects.count() == 2
    assert not Event.objects.filter(name="customer.deleted").exists()


def test_simulate_refuses_what_a_run_would_refuse(acme, leads):
    _invoice(acme)
    assert refused({"entity": "customers", "id": acme.pk}, simulate=True).kind == "refused"
    over = {"entity": "leads", "filter": {"score": {"$lt": 100}}, "limit": 1}
    assert refused(over, simulate=True).kind == "refused"


# -- through the engine -----------------------------------------------------------------------


def one_step(config):
    return {
        "name": "Delete",
        "trigger": {"type": "manual"},
        "nodes": [{"id": "del", "type": "action", "action": "delete_record", "config": config}],
        "edges": [{"from": "trigger", "to": "del"}],
    }


def test_a_run_deletes_the_record_named_by_the_trigger(run_workflow):
    ticket = Ticket.objects.create(subject="Spam")
    execution = run_workflow(
        one_step({"entity": "tickets", "id": "{{ ticket.id }}"}), {"ticket": {"id": ticket.pk}}
    )
    assert execution.status == "completed"
    assert not Ticket.objects.filter(pk=ticket.pk).exists()
    assert execution.steps.get().output["records"][0]["subject"] == "Spam"


def test_a_test_run_deletes_nothing(run_workflow):
    ticket = Ticket.objects.create(subject="Spam")
    execution = run_workflow(one_step({"entity": "tickets", "id": ticket.pk}), test=True)
    assert execution.status == "completed"
    assert Ticket.objects.filter(pk=ticket.pk).exists()
    assert execution.steps.get().output["would_delete"][0]["subject"] == "Spam"


def test_a_refused_delete_fails_the_step_without_retrying(run_workflow, acme):
    _invoice(acme)
    execution = run_workflow(one_step({"entity": "customers", "id": acme.pk}))
    assert execution.status == "failed"
    step = execution.steps.get()
    assert step.error["type"] == "refused"
    assert step.attempt == 1
    assert Customer.objects.filter(pk=acme.pk).exists()


# -- the catalog entry ------------------------------------------------------------------------


def test_the_schema_is_valid_and_accepts_every_example():
    action = registry.get("delete_record")
    Draft202012Validator.check_schema(action.config_schema)
    validator = ConfigValidator(action.config_schema)
    assert action.examples
    for example in action.examples:
        assert list(validator.iter_errors(example)) == []
    # A filter without a limit, or both an id and a filter, do not validate.
    assert list(validator.iter_errors({"entity": "leads", "filter": {"status": "new"}}))
    assert list(validator.iter_errors({"entity": "leads", "id": 1, "filter": {"a": 1}, "limit": 1}))
