"""seed_demo: every status is there, the reminder scenario is there, and a second run is a
no-op that keeps every id."""

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db.models import Count, Sum

from crm.management.commands.seed_demo import DemoPlan
from crm.models import Contact, Contract, Customer, Invoice, Lead, Payment, Project, Ticket

pytestmark = pytest.mark.django_db

MORNING = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
TODAY = MORNING.date()
MODELS = [Customer, Contact, Invoice, Payment, Project, Ticket, Lead, Contract]
E164 = re.compile(r"^\+[1-9]\d{6,14}$")


class TTY(io.StringIO):
    """A stream that says it is a terminal, so the progress display would show."""

    def isatty(self):
        return True


@pytest.fixture
def seed():
    """seed(*args, at=MORNING) -> the command's stdout; run at a frozen moment."""

    def run(*args, at=MORNING, stderr=None):
        out = io.StringIO()
        with time_machine.travel(at, tick=False):
            call_command("seed_demo", *args, stdout=out, stderr=stderr or io.StringIO())
        return out.getvalue()

    return run


def _ids():
    return {model.__name__: sorted(model.objects.values_list("pk", flat=True)) for model in MODELS}


def _statuses(model, *fields):
    return set(model.objects.values_list(*fields).distinct())


# -- what is there ----------------------------------------------------------------------------


def test_default_size(seed):
    seed("--quiet")
    assert Customer.objects.count() == 40
    assert Invoice.objects.count() == 400
    assert Contact.objects.count() >= Customer.objects.count()  # every customer has one
    assert Payment.objects.count() == Invoice.objects.filter(status="paid").count()
    assert Lead.objects.count() == 80


@pytest.mark.parametrize(
    ("model", "fields", "expected"),
    [
        (Customer, ("type",), {(t,) for t in Customer.Type.values}),
        (Invoice, ("status",), {(s,) for s in Invoice.Status.values}),
        (Project, ("status",), {(s,) for s in Project.Status.values}),
        (
            Ticket,
            ("priority", "status"),
            {(p, s) for p in Ticket.Priority.values for s in Ticket.Status.values},
        ),
        (Contract, ("status",), {(s,) for s in Contract.Status.values}),
    ],
    ids=["customer types", "invoice statuses", "project statuses", "ticket kinds", "contracts"],
)
def test_every_status_is_represented(seed, model, fields, expected):
    seed("--quiet")
    assert _statuses(model, *fields) == expected


def test_records_look_real(seed):
    seed("--quiet")
    for email in [
        *Customer.objects.values_list("email", flat=True),
        *Contact.objects.values_list("email", flat=True),
        *Lead.objects.values_list("email", flat=True),
    ]:
        assert email.endswith(".example"), email
    for phone in [
        *Customer.objects.values_list("phone", flat=True),
        *Contact.objects.values_list("phone", flat=True),
    ]:
        assert E164.match(phone), phone
    names = set(Customer.objects.values_list("name", flat=True))
    assert len(names) == 40  # unique, no "Customer 1"
    assert {"support_team", "collections_team"} <= set(
        Ticket.objects.values_list("assigned_to", flat=True)
    )
    scores = list(Lead.objects.values_list("score", flat=True))
    assert min(scores) >= 0
    assert max(scores) <= 100
    assert len(set(Lead.objects.values_list("source", flat=True))) >= 4
    assert all(p.stakeholders.exists() for p in Project.objects.all())


def test_dates_are_spread_around_today(seed):
    seed("--quiet")
    overdue = Invoice.objects.filter(status="overdue")
    with time_machine.travel(MORNING, tick=False):
        lateness = [i.days_overdue for i in overdue]
        assert min(lateness) >= 1
        assert max(lateness) <= 90
        assert all(i.days_overdue == 0 for i in Invoice.objects.filter(status="sent"))
    assert set(overdue.values_list("reminder_count", flat=True)) <= set(range(6))
    assert Invoice.objects.filter(due_date__gt=TODAY).exists()
    for invoice in Invoice.objects.all():
        assert invoice.issue_date <= invoice.due_date
        assert invoice.issue_date <= TODAY
        assert invoice.sent_at is None or invoice.sent_at <= MORNING
        assert (invoice.paid_at is not None) == (invoice.status == "paid")
    ending_soon = Contract.objects.filter(
        status="active", end_date__gte=TODAY, end_date__lte=TODAY + timedelta(days=30)
    )
    assert ending_soon.count() >= 3


def test_paid_invoices_have_their_payment(seed):
    seed("--quiet")
    paid = Invoice.objects.filter(status="paid").annotate(
        n=Count("payments"), received=Sum("payments__amount")
    )
    assert paid.exists()
    for invoice in paid:
        assert (invoice.n, invoice.received) == (1, invoice.amount)
    assert not Payment.objects.exclude(invoice__status="paid").exists()


def test_the_seed_reminder_workflow_finds_both_kinds_of_work(seed):
    seed("--quiet")
    with time_machine.travel(MORNING, tick=False):
        overdue = Invoice.objects.filter(status="overdue")
        late = overdue.overdue_by(7)
        assert late.filter(reminder_count__lt=3).exists()  # an email each
        assert late.filter(reminder_count__gte=3).exists()  # a ticket each
        assert overdue.exclude(pk__in=late).exists()  # less than a week: left alone


# -- scale ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("customers", "invoices"),
    [
        (3, 7),  # the smallest set that still has every customer type and invoice status
        (10, 50),
    ],
)
def test_the_size_options_scale_the_data(seed, customers, invoices):
    seed("--customers", str(customers), "--invoices", str(invoices), "--quiet")
    assert Customer.objects.count() == customers
    assert Invoice.objects.count() == invoices
    assert _statuses(Invoice, "status") == {(s,) for s in Invoice.Status.values}
    assert _statuses(Customer, "type") == {(t,) for t in Customer.Type.values}
    with time_machine.travel(MORNING, tick=False):
        late = Invoice.objects.filter(status="overdue").overdue_by(7)
        assert late.filter(reminder_count__lt=3).exists()
        assert late.filter(reminder_count__gte=3).exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--customers", "0"], "--customers must be at least 1"),
        (["--invoices", "-1"], "--invoices must not be negative"),
    ],
)
def test_nonsense_sizes_are_refused(seed, args, message):
    with pytest.raises(CommandError, match=message):
        seed(*args)


# -- determinism and idempotency --------------------------------------------------------------


def test_the_plan_is_deterministic_for_a_seed():
    def plan(seed):
        with time_machine.travel(MORNING, tick=False):
            return DemoPlan(seed=seed, today=TODAY, customers=12, invoices=60).build()

    assert plan(42) == plan(42)
    assert plan(42) != plan(7)


def test_a_second_run_creates_and_changes_nothing(seed):
    first = seed()
    counts, ids = {m.__name__: m.objects.count() for m in MODELS}, _ids()
    second = seed()
    assert {m.__name__: m.objects.count() for m in MODELS} == counts
    assert _ids() == ids
    assert "0 created" not in first
    assert "0 created, 0 updated" in second


def test_a_run_on_a_later_day_moves_the_dates_and_keeps_the_ids(seed):
    seed("--quiet")
    ids = _ids()
    due_dates = dict(Invoice.objects.values_list("number", "due_date"))
    later = seed(at=MORNING + timedelta(days=3))
    assert _ids() == ids
    assert "0 created" in later
    for number, due in Invoice.objects.values_list("number", "due_date"):
        assert due == due_dates[number] + timedelta(days=3)


def test_a_run_repairs_a_changed_record(seed):
    seed("--quiet")
    invoice = Invoice.objects.get(number="INV-0001")
    original = (invoice.status, invoice.reminder_count)
    Invoice.objects.filter(pk=invoice.pk).update(status="void", reminder_count=5)
    output = seed()
    invoice.refresh_from_db()
    assert (invoice.status, invoice.reminder_count) == original
    assert "0 created, 1 updated" in output


def test_everything_is_written_in_one_transaction(seed, monkeypatch):
    def broken_leads(self):
        raise RuntimeError("disk full")

    monkeypatch.setattr(DemoPlan, "_leads", broken_leads)
    with pytest.raises(RuntimeError, match="disk full"):
        seed("--quiet")
    assert Customer.objects.count() == 0
    monkeypatch.undo()

    from crm.management.commands import seed_demo

    original_write = seed_demo.Writer.write

    def write_then_fail(self, model, rows):
        original_write(self, model, rows)
        if model is Lead:
            raise RuntimeError("connection lost")

    monkeypatch.setattr(seed_demo.Writer, "write", write_then_fail)
    with pytest.raises(RuntimeError, match="connection lost"):
        seed("--quiet")
    assert [m.objects.count() for m in MODELS] == [0] * len(MODELS)


# -- output -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "stream", "shows_progress"),
    [
        ([], TTY, True),
        (["--quiet"], TTY, False),
        ([], io.StringIO, False),  # not a terminal: no progress bar in logs
    ],
)
def test_progress_shows_only_on_a_terminal_without_quiet(seed, args, stream, shows_progress):
    stderr = stream()
    output = seed("--customers", "5", "--invoices", "20", *args, stderr=stderr)
    assert ("rec/s" in stderr.getvalue() or "%" in stderr.getvalue()) is shows_progress
    assert "created" in output  # the summary line is there either way


def test_the_summary_line_counts_per_record_type(seed):
    output = seed("--customers", "5", "--invoices", "20")
    assert output.count("\n") == 1
    assert "(seed 42, 2026-11-26)" in output
    assert "customers 5/0" in output
    assert "invoices 20/0" in output


def test_verbosity_zero_prints_nothing(seed):
    assert seed("--quiet", "--verbosity", "0") == ""
