"""Shared fixtures: services that may be absent, record and workflow factories, test-only
actions."""

import itertools
import json
import os
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection

FIXTURES = Path(__file__).parent / "fixtures"
# The day the record tests freeze time on: invoice_factory dates invoices from it.
TODAY = date(2026, 11, 26)


def require(available, what):
    """Skip a test whose service is absent, except in CI (REQUIRE_SERVICES=1), where an
    absent service is a failure: a skipped test must never pass for a run."""
    if available:
        return
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"{what} is required (REQUIRE_SERVICES=1) but not available")
    pytest.skip(f"{what} is not available")


_skipped = []


def pytest_runtest_logreport(report):
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    """In CI nothing may pass by being skipped: a skip there fails the run."""
    if os.environ.get("REQUIRE_SERVICES") == "1" and _skipped and exitstatus == 0:
        session.exitstatus = 1
        session.config.get_terminal_writer().line(
            f"REQUIRE_SERVICES=1: {len(_skipped)} skipped test(s) fail the run: "
            + ", ".join(_skipped[:10]),
            red=True,
        )


@pytest.fixture(scope="session", autouse=True)
def _expected_database(django_db_setup, django_db_blocker):
    """CI runs the suite once per database; EXPECT_DATABASE makes a silent fallback to the
    wrong one (an unset DATABASE_URL) fail instead of passing on SQLite."""
    expected = os.environ.get("EXPECT_DATABASE")
    if expected and connection.vendor != expected:
        pytest.exit(f"expected the {expected} database, got {connection.vendor}", returncode=3)


@pytest.fixture(autouse=True)
def _celery_eager():
    """Tests without a worker run tasks in place when they are sent (after commit)."""
    from automation.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture
def customer_factory(db):
    """customer_factory(**fields) -> a saved Customer: Acme Corp, an enterprise, unless the
    fields say otherwise."""
    from crm.models import Customer

    def make(**fields):
        values = {"name": "Acme Corp", "email": "billing@acme.example", "type": "enterprise"}
        return Customer.objects.create(**{**values, **fields})

    return make


@pytest.fixture
def invoice_factory(customer_factory):
    """invoice_factory(number=None, *, days_late=0, **fields) -> a saved Invoice of 100.00,
    overdue, due `days_late` days before TODAY and issued 30 days before that; numbered
    INV-0001, INV-0002, ... and billed to a new customer_factory() customer unless given."""
    from crm.models import Invoice

    counter = itertools.count(1)

    def make(number=None, *, days_late=0, customer=None, **fields):
        values = {
            "number": f"INV-{next(counter):04d}",
            "amount": Decimal("100.00"),
            "issue_date": TODAY - timedelta(days=days_late + 30),
            "due_date": TODAY - timedelta(days=days_late),
            "status": "overdue",
        }
        if number is not None:
            values["number"] = number
        values.update(fields)
        return Invoice.objects.create(customer=customer or customer_factory(), **values)

    return make


@pytest.fixture
def seed_definition():
    return json.loads((FIXTURES / "seed_invoice_reminder.json").read_text())


@pytest.fixture
def make_workflow(db):
    """make_workflow(definition, status="draft") -> a saved Workflow with that definition."""
    from workflows.models import Workflow

    def make(definition, *, status=None, name=None):
        definition = dict(definition)
        definition.setdefault("name", name or "Test workflow")
        definition.setdefault("trigger", {"type": "manual"})
        definition.setdefault("edges", [])
        workflow = Workflow(name=definition["name"])
        if definition.get("id"):
            workflow.public_id = definition["id"]
        workflow.save()
        workflow.save_definition(definition)
        if status:
            workflow.change_status(status)
        return workflow

    return make


@pytest.fixture
def run_workflow(make_workflow):
    """run_workflow(definition, input=None, test=False) -> the finished (or parked) run."""
    from workflows.services import start_execution

    def run(definition, input=None, *, test=False):
        workflow = make_workflow(definition)
        execution = start_execution(workflow, trigger_data=input or {}, test=test, inline=True)
        execution.refresh_from_db()
        return execution

    return run


@pytest.fixture
def probe_actions():
    """Registers the test-only actions of tests.support.actions for one test."""
    from actions.registry import registry
    from tests.support import actions as probe

    probe.reset()
    for action_class in probe.ALL:
        registry.register(action_class)
    yield probe
    for action_class in probe.ALL:
        registry.unregister(action_class.key)


@pytest.fixture
def subprocess_env(transactional_db):
    """Environment for a `manage.py` subprocess that uses this test's database."""
    settings_dict = connection.settings_dict
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SQLITE_PATH")}
    if connection.vendor == "sqlite":
        env["SQLITE_PATH"] = str(settings_dict["NAME"])
    else:
        user = settings_dict.get("USER") or ""
        password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
        auth = f"{user}{password}@" if user else ""
        host = settings_dict.get("HOST") or "127.0.0.1"
        port = settings_dict.get("PORT") or 5432
        env["DATABASE_URL"] = f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"
    return env
