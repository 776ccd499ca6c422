"""The engine's prepared multi-row INSERT: the rows bulk_create would write, keys in order."""

import datetime

import pytest
from django.db import connection

from triggers.models import WebhookEndpoint
from workflows.models import Execution, StepRun, prepared

pytestmark = pytest.mark.django_db


STARTED = datetime.datetime(2026, 11, 27, 9, 30, 15, 123456, tzinfo=datetime.UTC)


def _steps(execution, count, tag, started=STARTED):
    return [
        StepRun(
            execution=execution,
            node_id=f"n{i}",
            node_type="action",
            path=f"{tag}/n{i}",
            attempt=1 + i % 2,
            status="succeeded" if i % 3 else "failed",
            input={"i": i, "text": "ünïcode ✓"},
            output=[i, {"nested": None}] if i % 2 else None,
            error={"message": "boom"} if i % 3 == 0 else None,
            started_at=started,
            finished_at=started + datetime.timedelta(milliseconds=i),
            duration_ms=i * 1.5,
        )
        for i in range(count)
    ]


COLUMNS = [
    "node_id",
    "node_type",
    "path",
    "attempt",
    "status",
    "input",
    "output",
    "error",
    "started_at",
    "finished_at",
    "duration_ms",
]


def _stored(execution, tag):
    rows = StepRun.objects.filter(execution=execution, path__startswith=f"{tag}/")
    return [tuple(row) for row in rows.order_by("node_id").values_list(*COLUMNS)]


@pytest.mark.parametrize("count", [1, 7, prepared.MAX_ROWS + 3])
def test_the_rows_are_those_bulk_create_writes(execution, count):
    steps = _steps(execution, count, "prepared")
    assert prepared.insert(StepRun, steps, "default") is True
    StepRun.objects.bulk_create(_steps(execution, count, "orm"))

    def without_tag(rows):
        return [(row[0], row[1], row[2].split("/", 1)[1], *row[3:]) for row in rows]

    assert without_tag(_stored(execution, "prepared")) == without_tag(_stored(execution, "orm"))


def test_each_object_gets_its_own_key_in_order(execution):
    steps = _steps(execution, prepared.MAX_ROWS + 3, "keys")
    prepared.insert(StepRun, steps, "default")
    assert all(not step._state.adding and step._state.db == "default" for step in steps)
    by_key = StepRun.objects.in_bulk([step.pk for step in steps])
    assert [by_key[step.pk].path for step in steps] == [step.path for step in steps]


def test_a_model_whose_fields_compute_on_save_is_left_to_bulk_create():
    has_auto_now = any(
        getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
        for f in WebhookEndpoint._meta.concrete_fields
    )
    assert has_auto_now, "the example needs a model with an auto_now field"
    assert prepared.insert(WebhookEndpoint, [WebhookEndpoint()], "default") is False
    assert not WebhookEndpoint.objects.exists()


def test_the_statement_is_made_once_per_number_of_rows(execution):
    prepared.insert(StepRun, _steps(execution, 2, "a"), "default")
    key = (StepRun, connection.vendor, 2)
    statement = prepared._statements[key]
    prepared.insert(StepRun, _steps(execution, 2, "b"), "default")
    assert prepared._statements[key] is statement
    assert statement.count("(%s") == 2


def test_an_update_changes_the_row_as_queryset_update_would(execution):
    twin = Execution.objects.create(
        workflow=execution.workflow, version=execution.version, trigger_type="manual"
    )
    values = {
        "state": {"tokens": [{"id": "t1"}], "seq": 1},
        "steps_total": 4,
        "error": None,
        "resume_at": STARTED,
        "lease_owner": "host:1:2",
    }
    where = {"id": execution.pk, "status": "pending"}
    changed = prepared.update(Execution, "default", where, values)
    Execution.objects.filter(pk=twin.pk, status="pending").update(**values)
    assert changed == 1
    names = [*values, "status", "trigger_data"]
    mine = Execution.objects.filter(pk=execution.pk).values(*names).get()
    theirs = Execution.objects.filter(pk=twin.pk).values(*names).get()
    assert mine == theirs
    assert mine["error"] is None
    assert mine["resume_at"] == STARTED


def test_an_update_whose_condition_no_longer_holds_changes_nothing(execution):
    where = {"id": execution.pk, "status": "running", "lease_owner": "someone"}
    assert prepared.update(Execution, "default", where, {"steps_total": 9}) == 0
    assert Execution.objects.get(pk=execution.pk).steps_total == 0
