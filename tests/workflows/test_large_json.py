"""Large JSON values of step records and variables: written in place on SQLite, read back
as JSON everywhere, and nothing half-written when the insert fails."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from workflows.models import ExecutionVariable, StepRun, large_json

pytestmark = pytest.mark.django_db

LARGE = [{"id": i, "name": f"customer {i}", "status": "overdue"} for i in range(40_000)]


def _step(execution, node_id, output):
    return StepRun(
        execution=execution,
        node_id=node_id,
        node_type="action",
        path=node_id,
        status="succeeded",
        started_at=timezone.now(),
        input={"node": node_id},
        output=output,
    )


def _stored_type(table, column, pk):
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"SELECT typeof({column}) FROM {table} WHERE id = %s", [pk])  # noqa: S608
        else:
            cursor.execute(f"SELECT pg_typeof({column})::text FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


def test_the_value_is_large_enough_to_take_the_in_place_path():
    assert len(large_json.dumps(LARGE)) >= large_json.LARGE_JSON_BYTES


def test_large_and_small_step_outputs_in_one_insert_read_back(execution):
    steps = [_step(execution, "small", {"n": 1}), _step(execution, "big", LARGE)]
    large_json.bulk_create(StepRun, steps)

    stored = {s.node_id: s for s in StepRun.objects.filter(execution=execution)}
    assert stored["big"].output == LARGE
    assert stored["small"].output == {"n": 1}
    assert stored["big"].input == {"node": "big"}
    big_type = _stored_type(StepRun._meta.db_table, "output", stored["big"].pk)
    small_type = _stored_type(StepRun._meta.db_table, "output", stored["small"].pk)
    if connection.vendor == "sqlite":
        assert (big_type, small_type) == ("blob", "text")
    else:
        assert (big_type, small_type) == ("jsonb", "jsonb")


def test_the_objects_keep_their_python_values(execution):
    steps = [_step(execution, "big", LARGE), _step(execution, "small", "text")]
    large_json.bulk_create(StepRun, steps)
    assert steps[0].output is LARGE
    assert steps[1].output == "text"
    assert all(step.pk for step in steps)


@pytest.mark.parametrize(
    ("first", "second"), [("small", LARGE), (LARGE, "small"), (LARGE, LARGE[:30_000])]
)
def test_a_variable_rewritten_in_place_of_another_size(execution, first, second):
    for value in (first, second):
        large_json.bulk_create(
            ExecutionVariable,
            [ExecutionVariable(execution=execution, name="records", value=value)],
            update_conflicts=True,
            unique_fields=["execution", "name"],
            update_fields=["value"],
        )
    assert ExecutionVariable.objects.get(execution=execution, name="records").value == second
    assert ExecutionVariable.objects.filter(execution=execution).count() == 1


def test_a_failed_insert_leaves_no_row_and_the_values_intact(execution):
    steps = [_step(execution, "big", LARGE), _step(execution, "bad", {"n": 1})]
    steps[1].node_id = None  # NOT NULL: the database refuses the INSERT
    with pytest.raises(IntegrityError), transaction.atomic():
        large_json.bulk_create(StepRun, steps)
    assert not StepRun.objects.filter(execution=execution).exists()
    assert steps[0].output is LARGE
    assert steps[1].output == {"n": 1}


@pytest.mark.django_db(transaction=True)
def test_a_value_that_cannot_be_written_in_place_leaves_no_zeroed_row(execution, monkeypatch):
    """In autocommit, outside any transaction of the caller's: the row and its value
    commit together or not at all."""

    def broken(*args):
        raise OSError("disk full")

    monkeypatch.setattr(large_json, "_write_in_place", broken)
    if connection.vendor == "sqlite":
        with pytest.raises(OSError, match="disk full"):
            large_json.bulk_create(StepRun, [_step(execution, "big", LARGE)])
        assert not StepRun.objects.filter(execution=execution).exists()
    else:  # PostgreSQL binds the value whole: nothing is written in place
        large_json.bulk_create(StepRun, [_step(execution, "big", LARGE)])
        assert StepRun.objects.get(execution=execution).output == LARGE


def test_a_run_with_a_large_query_result_resumes_from_its_variables(execution):
    large_json.bulk_create(
        ExecutionVariable,
        [
            ExecutionVariable(execution=execution, name="records", value=LARGE),
            ExecutionVariable(execution=execution, name="count", value=len(LARGE)),
        ],
    )
    loaded = dict(execution.variables.values_list("name", "value"))
    assert loaded == {"records": LARGE, "count": len(LARGE)}
