"""The record and communication actions, called directly: query_records, create_record,
update_record, create_ticket and send_email, each with run() and simulate()."""

from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest
import time_machine

from actions.registry import ActionContext, ActionError, registry
from crm.models import Contact, Customer, Invoice, Project, Ticket

pytestmark = pytest.mark.django_db

MORNING = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
TODAY = MORNING.date()
EXECUTION_ID = "exe_7Hq2test"


@pytest.fixture
def context():
    """context(**overrides) -> an ActionContext of a stand-in execution."""

    def make(**overrides):
        values = {
            "execution": SimpleNamespace(public_id=EXECUTION_ID),
            "node_id": "node_4",
            "path": "node_2[0].node_4",
            "attempt": 1,
            "timezone": UTC,
            "now": MORNING,
        }
        return ActionContext(**{**values, **overrides})

    return make


@pytest.fixture
def run(context):
    """run(key, config) / run(key, config, simulate=True): the action's result."""

    def call(key, config, *, simulate=False):
        action = registry.get(key)
        with time_machine.travel(MORNING, tick=False):
            method = action.simulate if simulate else action.run
            return method(config, context(is_test=simulate))

    return call


def refused(run, key, config, *, simulate=False):
    with pytest.raises(ActionError) as excinfo:
        run(key, config, simulate=simulate)
    return excinfo.value


@pytest.fixture
def invoice_factory(invoice_factory):
    """The shared factory, but invoices are of 1250.00 and ten days late by default."""

    def make(number, *, days_late=10, **fields):
        return invoice_factory(
            number, days_late=days_late, **{"amount": Decimal("1250.00"), **fields}
        )

    return make


@pytest.fixture
def invoices(customer_factory, invoice_factory):
    acme = customer_factory()
    bolt = customer_factory(name="Bolt Bikes", email="ap@bolt.example", type="smb")
    return [
        invoice_factory("INV-1", customer=acme, amount=Decimal("300.00"), days_late=12),
        invoice_factory("INV-2", customer=bolt, amount=Decimal("4500.50"), days_late=3),
        invoice_factory(
            "INV-3", customer=acme, amount=Decimal("80.00"), days_late=40, reminder_count=3
        ),
        invoice_factory("INV-4", customer=bolt, amount=Decimal("999.00"), status="paid"),
    ]


# -- query_records ----------------------------------------------------------------------------


def test_query_records_returns_records_as_json(run, invoices):
    records = run("query_records", {"entity": "invoices", "filter": {"number": "INV-1"}})
    assert records == [
        {
            "id": invoices[0].pk,
            "number": "INV-1",
            "amount": "300.00",
            "currency": "USD",
            "issue_date": "2026-10-15",
            "due_date": "2026-11-14",
            "status": "overdue",
            "reminder_count": 0,
            "sent_at": None,
            "paid_at": None,
            "quickbooks_id": "",
            "days_overdue": 12,
            "customer": records[0]["customer"],
        }
    ]
    assert records[0]["customer"]["email"] == "billing@acme.example"


def test_query_records_makes_equal_values_one_object(run, invoices):
    """A 100,000-record result holds each customer and each repeated text once."""
    records = run("query_records", {"entity": "invoices", "order_by": ["number"]})
    acme = [r for r in records if r["customer"]["name"] == "Acme Corp"]
    assert len(acme) >= 2
    assert acme[0]["customer"] is acme[1]["customer"]
    assert records[0]["currency"] is records[1]["currency"]
    # and the result is what reading the records one by one gives
    from workflows.records import registry

    invoices_type = registry.get("invoices")
    with time_machine.travel(MORNING, tick=False):  # days_overdue, as the action saw it
        one_by_one = [invoices_type.to_json(i) for i in invoices_type.queryset().order_by("number")]
    assert records == one_by_one


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({}, ["INV-1", "INV-2", "INV-3", "INV-4"]),  # by id when no order is given
        ({"filter": {"status": "overdue", "days_overdue": {"$gte": 7}}}, ["INV-1", "INV-3"]),
        ({"order_by": ["-amount"]}, ["INV-2", "INV-4", "INV-1", "INV-3"]),
        ({"order_by": ["-amount"], "limit": 2}, ["INV-2", "INV-4"]),
        ({"order_by": ["customer.name", "amount"]}, ["INV-3", "INV-1", "INV-4", "INV-2"]),
        ({"filter": {"customer.type": "smb"}, "order_by": ["due_date"]}, ["INV-4", "INV-2"]),
        ({"filter": {"status": "void"}}, []),
        ({"limit": 1}, ["INV-1"]),
    ],
)
def test_query_records_filters_orders_and_limits(run, invoices, config, expected):
    records = run("query_records", {"entity": "invoices", **config})
    assert [r["number"] for r in records] == expected


def test_query_records_simulates_by_reading_for_real(run, invoices):
    config = {"entity": "invoices", "filter": {"days_overdue": {"$gte": 7}}}
    assert run("query_records", config, simulate=True) == run("query_records", config)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"entity": "widgets"}, "unknown entity 'widgets' (known: contacts, contracts,"),
        ({"entity": "invoices", "filter": {"customer.password": "x"}}, "'customer.password'"),
        ({"entity": "invoices", "filter": {"amount": {"$regex": "1"}}}, "'$regex'"),
        ({"entity": "invoices", "order_by": ["days_overdue"]}, "computed field 'days_overdue'"),
        ({"entity": "invoices", "filter": {"amount": {"$gt": "lots"}}}, "'amount'"),
    ],
)
def test_query_records_refuses_a_bad_config(run, invoices, config, message):
    error = refused(run, "query_records", config)
    assert error.kind == "invalid_config"
    assert message in error.message


def test_query_records_across_a_many_relation_returns_each_record_once(run, customer_factory):
    customer = customer_factory()
    project = Project.objects.create(name="ERP migration", customer=customer)
    project.stakeholders.set(
        [
            Contact.objects.create(customer=customer, name="Anna", email="anna@acme.example"),
            Contact.objects.create(customer=customer, name="Ben", email="ben@acme.example"),
        ]
    )
    config = {"entity": "projects", "filter": {"stakeholders.email": {"$contains": "@acme"}}}
    assert len(run("query_records", config)) == 1


# -- create_record ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "customer_ref",
    [
        "id",  # an id
        "record",  # a record as it appears in data: {"id": ...}
    ],
)
def test_create_record_creates_and_returns_json(run, customer_factory, customer_ref):
    customer = customer_factory()
    ref = customer.pk if customer_ref == "id" else {"id": customer.pk, "name": "ignored"}
    config = {
        "entity": "invoices",
        "values": {"number": "INV-9", "customer": ref, "amount": "12.50", "due_date": "2026-12-01"},
    }
    record = run("create_record", config)
    invoice = Invoice.objects.get(number="INV-9")
    assert record["id"] == invoice.pk
    assert record["amount"] == "12.50"
    assert record["due_date"] == "2026-12-01"
    assert record["customer"]["id"] == customer.pk
    assert invoice.amount == Decimal("12.50")


def test_create_record_simulate_writes_nothing(run, customer_factory):
    customer = customer_factory()
    config = {"entity": "customers", "values": {"name": "Zeta Labs", "email": "ap@zeta.example"}}
    before = Customer.objects.count()
    result = run("create_record", config, simulate=True)
    assert Customer.objects.count() == before
    assert result == {
        "simulated": True,
        "would_create": {"entity": "customers", "name": "Zeta Labs", "email": "ap@zeta.example"},
    }
    assert Customer.objects.filter(pk=customer.pk).exists()


@pytest.mark.parametrize(
    ("values", "kind", "message"),
    [
        ({"id": 99, "name": "X"}, "invalid_config", "customers: field(s) id cannot be written"),
        ({"password": "x"}, "invalid_config", "field(s) password cannot be written (writable:"),
        ({"invoices": [1]}, "invalid_config", "field(s) invoices cannot be written"),
        ("Acme", "invalid_config", "'values' must be an object"),
        ({"name": "X", "type": "galactic"}, "invalid_config", "customer is not valid: type:"),
        ({"name": "X", "email": "not-an-email"}, "invalid_config", "email: Enter a valid email"),
    ],
)
def test_create_record_refuses(run, values, kind, message):
    before = Customer.objects.count()
    for simulate in (False, True):
        if simulate and "is not valid" in message:
            continue  # simulate checks the whitelist, not the values
        if simulate and "Enter a valid" in message:
            continue
        error = refused(
            run, "create_record", {"entity": "customers", "values": values}, simulate=simulate
        )
        assert (error.kind, message in error.message) == (kind, True), error.message
    assert Customer.objects.count() == before


def test_create_record_refuses_a_negative_amount_and_an_unknown_customer(run, customer_factory):
    customer = customer_factory()
    values = {"number": "INV-9", "customer": customer.pk, "amount": "-1", "due_date": "2026-12-01"}
    error = refused(run, "create_record", {"entity": "invoices", "values": values})
    assert "invoice is not valid: amount:" in error.message
    values = {**values, "amount": "1", "customer": 424242}
    error = refused(run, "create_record", {"entity": "invoices", "values": values})
    assert (error.kind, error.message) == ("not_found", "customer: no customer with id 424242")
    assert not Invoice.objects.exists()


# -- update_record ----------------------------------------------------------------------------


def test_update_record_changes_whitelisted_fields(run, invoices):
    invoice = invoices[0]
    config = {"entity": "invoices", "id": invoice.pk, "values": {"reminder_count": 1}}
    record = run("update_record", config)
    invoice.refresh_from_db()
    assert invoice.reminder_count == record["reminder_count"] == 1
    assert record["days_overdue"] == 12


def test_update_record_simulate_writes_nothing(run, invoices):
    invoice = invoices[0]
    config = {"entity": "invoices", "id": invoice.pk, "values": {"status": "paid"}}
    result = run("update_record", config, simulate=True)
    invoice.refresh_from_db()
    assert invoice.status == "overdue"
    assert result["simulated"] is True
    assert result["would_update"]["status"] == "overdue"
    assert result["values"] == {"status": "paid"}


@pytest.mark.parametrize(
    ("target", "values", "kind", "message"),
    [
        ("INV-1", {"days_overdue": 0}, "invalid_config", "field(s) days_overdue cannot be written"),
        ("INV-1", {"id": 1}, "invalid_config", "invoices: field(s) id cannot be written"),
        ("INV-1", {"status": "lost"}, "invalid_config", "invoice is not valid: status:"),
        (424242, {"status": "paid"}, "not_found", "no invoice with id 424242"),
        ("abc", {"status": "paid"}, "not_found", "no invoice with id 'abc'"),
    ],
)
def test_update_record_refuses(run, invoices, target, values, kind, message):
    pk = Invoice.objects.get(number=target).pk if str(target).startswith("INV") else target
    error = refused(run, "update_record", {"entity": "invoices", "id": pk, "values": values})
    assert error.kind == kind
    assert message in error.message
    assert set(Invoice.objects.values_list("status", flat=True)) == {"overdue", "paid"}


# -- create_ticket ----------------------------------------------------------------------------


def test_create_ticket_opens_a_ticket(run, customer_factory):
    customer = customer_factory()
    config = {
        "subject": "Escalate: Invoice INV-3 severely overdue",
        "priority": "high",
        "assign_to": "collections_team",
        "customer": {"id": customer.pk, "name": "Acme Corp"},
    }
    record = run("create_ticket", config)
    ticket = Ticket.objects.get()
    assert record["id"] == ticket.pk
    assert (ticket.subject, ticket.priority, ticket.assigned_to, ticket.customer) == (
        "Escalate: Invoice INV-3 severely overdue",
        "high",
        "collections_team",
        customer,
    )
    assert record["customer"]["id"] == customer.pk
    assert record["status"] == "open"


def test_create_ticket_simulate_writes_nothing(run):
    result = run("create_ticket", {"subject": "Check", "priority": "urgent"}, simulate=True)
    assert not Ticket.objects.exists()
    assert result["simulated"] is True
    assert result["would_create"]["priority"] == "urgent"


@pytest.mark.parametrize(
    ("config", "kind", "message"),
    [
        (
            {"subject": "x", "priority": "critical"},
            "invalid_config",
            "priority: 'critical' is not one of low, normal, high, urgent",
        ),
        ({"subject": "x", "priority": "HIGH"}, "invalid_config", "priority: 'HIGH' is not one of"),
        ({"subject": "   "}, "invalid_config", "subject: a ticket needs a subject"),
        ({}, "invalid_config", "subject: a ticket needs a subject"),
        ({"subject": "x", "customer": 424242}, "not_found", "customer: no customer with id 424242"),
    ],
)
def test_create_ticket_validates(run, config, kind, message):
    for simulate in (False, True):
        error = refused(run, "create_ticket", config, simulate=simulate)
        assert (error.kind, error.message.startswith(message)) == (kind, True), error.message
    assert not Ticket.objects.exists()


def test_create_ticket_defaults_to_normal_priority(run):
    assert run("create_ticket", {"subject": "Hello"})["priority"] == "normal"


# -- send_email -------------------------------------------------------------------------------

REMINDER = {
    "to": "billing@acme.example",
    "template": "invoice_reminder",
    "variables": {"invoice_number": "INV-0042", "amount": "1250.00", "due_date": "2026-11-10"},
}


def test_send_email_renders_the_invoice_reminder_template(run, mailoutbox):
    result = run("send_email", REMINDER)
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["billing@acme.example"]
    assert message.subject == "Reminder: invoice INV-0042 is overdue"
    assert "invoice INV-0042 for 1250.00, due on 2026-11-10, has not been paid" in message.body
    html, mime = message.alternatives[0]
    assert mime == "text/html"
    assert "<strong>INV-0042</strong>" in html
    assert result["status"] == "sent"
    assert result["subject"] == message.subject


def test_send_email_escapes_variables_in_the_html_body(run, mailoutbox):
    variables = {**REMINDER["variables"], "invoice_number": '<script>alert("x")</script>&'}
    run("send_email", {**REMINDER, "variables": variables})
    html = mailoutbox[0].alternatives[0][0]
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in html
    assert "<p>Hello,</p>" in html  # the template's own markup stays
    assert '<script>alert("x")</script>&' in mailoutbox[0].body  # plain text is not HTML


def test_send_email_sets_metadata_with_the_execution_id(run, mailoutbox):
    config = {**REMINDER, "metadata": {"invoice_id": 42}, "tags": ["reminder"]}
    result = run("send_email", config)
    message = mailoutbox[0]
    assert message.metadata == {
        "invoice_id": 42,
        "execution_id": EXECUTION_ID,
        "step": "node_2[0].node_4",
    }
    assert message.tags == ["reminder"]
    assert result["metadata"]["execution_id"] == EXECUTION_ID


def test_send_email_simulate_sends_nothing(run, mailoutbox):
    result = run("send_email", REMINDER, simulate=True)
    assert mailoutbox == []
    assert result["status"] == "simulated"
    assert result["subject"] == "Reminder: invoice INV-0042 is overdue"
    assert result["to"] == ["billing@acme.example"]


def test_send_email_without_a_template(run, mailoutbox):
    config = {
        "to": ["a@acme.example", "b@acme.example"],
        "cc": "c@acme.example, d@acme.example",
        "subject": "Hi {{ name }}",
        "body": "Dear {{ name }}",
        "variables": {"name": "Ann"},
    }
    run("send_email", config)
    message = mailoutbox[0]
    assert (message.subject, message.body) == ("Hi Ann", "Dear Ann")
    assert message.cc == ["c@acme.example", "d@acme.example"]
    assert message.alternatives == []


def test_a_newline_in_a_variable_cannot_add_a_header(run, mailoutbox):
    variables = {**REMINDER["variables"], "invoice_number": "1\nBcc: victim@evil.example"}
    run("send_email", {**REMINDER, "variables": variables})
    assert "\n" not in mailoutbox[0].subject
    assert mailoutbox[0].bcc == []


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({**REMINDER, "to": "not-an-email"}, "to: 'not-an-email' is not an email address"),
        ({**REMINDER, "to": ["ok@acme.example", "bad@"]}, "to: 'bad@' is not an email address"),
        ({**REMINDER, "to": "a@acme.example, b"}, "to: 'b' is not an email address"),
        ({**REMINDER, "cc": "x y@acme.example"}, "cc: 'x y@acme.example' is not an email"),
        ({**REMINDER, "bcc": ["@acme.example"]}, "bcc: '@acme.example' is not an email address"),
        ({**REMINDER, "reply_to": "nobody"}, "reply_to: 'nobody' is not an email address"),
        ({**REMINDER, "to": ""}, "to: at least one recipient is needed"),
        ({**REMINDER, "to": [{"email": "a@acme.example"}]}, "is not an email address"),
        ({**REMINDER, "template": "nope"}, "template: no email template 'nope'"),
        ({"to": "a@acme.example", "subject": "Hi"}, "give either a template or a subject"),
        ({**REMINDER, "variables": {}}, "invoice_number"),
    ],
)
def test_send_email_refuses(run, mailoutbox, config, message):
    for simulate in (False, True):
        error = refused(run, "send_email", config, simulate=simulate)
        assert error.kind == "invalid_config"
        assert message in error.message
    assert mailoutbox == []
