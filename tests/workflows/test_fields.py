"""The engine's JSON fields: orjson in and out, the values Django's JSONField would store."""

import datetime
import json

import pytest
from django.db import connection, transaction
from django.utils import timezone

from triggers.models import Event
from workflows.models import Execution, ExecutionVariable, StepRun
from workflows.models.fields import BulkJSONField, dumps, loads

pytestmark = pytest.mark.django_db


VALUES = [
    {"a": 1, "nested": {"list": [1, 2.5, "three", None, True]}, "é": "ünïcode ✓"},
    [1, "two", {"3": [4]}],
    "just text",
    0,
    False,
    [],
    {},
]


@pytest.mark.parametrize("value", VALUES)
def test_a_variable_comes_back_as_it_went_in(execution, value):
    ExecutionVariable.objects.create(execution=execution, name="v", value=value)
    assert ExecutionVariable.objects.get(execution=execution, name="v").value == value


def test_step_records_bulk_insert_and_read_back(execution):
    rows = [
        StepRun(
            execution=execution,
            node_id=f"n{i}",
            node_type="action",
            path=f"n{i}",
            status="succeeded",
            started_at=timezone.now(),
            input={"i": i},
            output=VALUES[i % len(VALUES)],
        )
        for i in range(10)
    ]
    StepRun.objects.bulk_create(rows)
    stored = StepRun.objects.filter(execution=execution).order_by("node_id")
    assert [(s.input, s.output) for s in stored] == [(r.input, r.output) for r in rows]


def test_json_lookups_work_as_on_djangos_field(execution):
    ExecutionVariable.objects.create(execution=execution, name="v", value={"status": "paid"})
    assert ExecutionVariable.objects.filter(value__status="paid").count() == 1
    assert ExecutionVariable.objects.filter(value__status="void").count() == 0
    assert list(ExecutionVariable.objects.values_list("value__status", flat=True)) == ["paid"]


def test_the_event_payload_and_run_state_use_it(execution):
    event = Event.objects.create(
        name="invoice.created",
        record_type="invoice",
        record_id="1",
        payload={"invoice": {"amount": "10.00"}},
    )
    assert Event.objects.get(pk=event.pk).payload == {"invoice": {"amount": "10.00"}}
    Execution.objects.filter(pk=execution.pk).update(state={"tokens": [{"node": "x"}]})
    assert Execution.objects.get(pk=execution.pk).state == {"tokens": [{"node": "x"}]}


def test_what_orjson_cannot_take_goes_through_json():
    huge = 2**70  # over 64 bits
    assert loads(dumps({"n": huge})) == {"n": huge}
    assert loads(dumps({1: "a"})) == {"1": "a"}  # keys become text, as json.dumps makes them


def test_a_value_json_refuses_is_refused_the_same_way(execution):
    with pytest.raises(TypeError, match="not JSON serializable"), transaction.atomic():
        ExecutionVariable.objects.create(
            execution=execution, name="when", value={"at": datetime.datetime(2026, 1, 1)}
        )
    assert not ExecutionVariable.objects.filter(name="when").exists()


def test_older_rows_with_nan_still_read():
    assert json.dumps(loads('{"x": NaN}')) == '{"x": NaN}'


def test_sqlite_does_not_parse_the_engines_large_json_on_every_write():
    """Django's JSONField has a JSON_VALID CHECK on SQLite, which parses the whole text on
    every write; the step records' and variables' columns hold orjson's output only.
    (PostgreSQL has no such check: jsonb parses on the server.)"""
    assert BulkJSONField().db_check(connection) is None
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
        tables = dict(cursor.fetchall())
    assert "JSON_VALID" not in tables["workflows_steprun"]
    assert "JSON_VALID" not in tables["workflows_executionvariable"]
    assert "JSON_VALID" in tables["workflows_execution"]  # small: Django's field as it is
