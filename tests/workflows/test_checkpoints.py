"""Checkpoints where durability needs them: pure steps are written in batches, before any
side effect, at the end, and at least every WORKFLOW_CHECKPOINT_STEPS steps; a worker that
dies in between loses only pure work, which the resumed run does again."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.support.actions import WorkerDied
from tests.support.definitions import chain, definition, probe, step_table
from workflows.engine import run_execution
from workflows.models import Execution, StepRun
from workflows.services import start_execution
from workflows.signals import step_recorded

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _probes(probe_actions):
    return probe_actions


def pure(node_id, **config):
    node = probe(node_id, **config)
    node["action"] = "pure_probe"
    return node


def pure_chain(count):
    ids = [f"p{index}" for index in range(count)]
    return definition([pure(node_id) for node_id in ids], chain(*ids))


def step_inserts(queries):
    return [
        q
        for q in queries.captured_queries
        if q["sql"].startswith('INSERT INTO "workflows_steprun"')
    ]


@pytest.mark.parametrize("test_mode", [False, True])
def test_a_run_of_pure_steps_is_written_in_one_insert(run_workflow, test_mode):
    with CaptureQueriesContext(connection) as queries:
        execution = run_workflow(pure_chain(6), test=test_mode)
    assert execution.status == "completed"
    assert step_table(execution) == [(f"p{i}", "succeeded", 1) for i in range(6)]
    assert len(step_inserts(queries)) == 1


def test_the_queries_of_a_pure_run_do_not_grow_with_its_steps(run_workflow):
    counts = []
    for steps in (3, 12):
        with CaptureQueriesContext(connection) as queries:
            assert run_workflow(pure_chain(steps)).status == "completed"
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1], counts


def test_a_side_effect_finds_the_steps_before_it_written(run_workflow, probe_actions):
    execution = run_workflow(
        definition([pure("a"), pure("b"), probe("c", count_steps=True)], chain("a", "b", "c"))
    )
    assert execution.status == "completed"
    (side_effect,) = [call for call in probe_actions.calls if call["tag"] == "c"]
    assert side_effect["steps_in_database"] == 2


def test_a_dead_worker_redoes_pure_work_but_not_the_side_effect(make_workflow, probe_actions):
    workflow = make_workflow(
        definition(
            [pure("a"), probe("b"), pure("c"), pure("d", die=True), pure("e")],
            chain("a", "b", "c", "d", "e"),
        )
    )
    probe_actions.failures["die"] = 1
    with pytest.raises(WorkerDied):
        start_execution(workflow, inline=True)
    execution = Execution.objects.get(workflow=workflow)
    assert execution.status == "running"
    # b's checkpoint is the last one: c ran after it and was not written yet.
    assert step_table(execution) == [("a", "succeeded", 1), ("b", "succeeded", 1)]

    run_execution(execution, take_over=True)  # what the sweeper does once the lease expires
    execution.refresh_from_db()
    assert execution.status == "completed"
    assert [path for path, *_ in step_table(execution)] == ["a", "b", "c", "d", "e"]
    calls = [call["tag"] for call in probe_actions.calls]
    assert calls.count("b") == 1  # the side effect happened once
    assert calls.count("c") == 2  # pure work was done again


def test_a_long_pure_run_is_checkpointed_every_n_steps(make_workflow, probe_actions, settings):
    settings.WORKFLOW_CHECKPOINT_STEPS = 3
    ids = [f"p{index}" for index in range(8)]
    nodes = [pure(node_id) for node_id in ids[:-1]] + [pure(ids[-1], die=True)]
    workflow = make_workflow(definition(nodes, chain(*ids)))
    probe_actions.failures["die"] = 1
    with pytest.raises(WorkerDied):
        start_execution(workflow, inline=True)
    execution = Execution.objects.get(workflow=workflow)
    assert [path for path, *_ in step_table(execution)] == ids[:6]
    assert execution.steps_completed == 6  # the counters match what was written


def test_each_batched_step_reaches_the_live_log_once_written(
    run_workflow, django_capture_on_commit_callbacks
):
    seen = []

    def receive(sender, execution, step, **kwargs):
        seen.append((step.pk, StepRun.objects.filter(pk=step.pk).exists()))

    step_recorded.connect(receive, sender=StepRun, dispatch_uid="test-checkpoints")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            execution = run_workflow(pure_chain(4))
    finally:
        step_recorded.disconnect(dispatch_uid="test-checkpoints")
    written = list(execution.steps.order_by("id").values_list("pk", flat=True))
    assert [pk for pk, _ in seen] == written
    assert all(written for _, written in seen)


def test_an_inline_run_is_created_claimed_and_keeps_no_variables_once_completed(run_workflow):
    with CaptureQueriesContext(connection) as queries:
        execution = run_workflow(pure_chain(3))
    updates = [
        q for q in queries.captured_queries if q["sql"].startswith('UPDATE "workflows_execution"')
    ]
    assert len(updates) == 1  # the final checkpoint; no separate claim
    assert execution.status == "completed"
    assert not execution.variables.exists()  # they serve a resume or retry: none to come


def test_a_failed_run_keeps_its_variables_for_a_retry(run_workflow, probe_actions):
    probe_actions.failures["b"] = 1
    execution = run_workflow(
        definition([pure("a", outputs=["first"]), probe("b")], chain("a", "b"))
    )
    assert execution.status == "failed"
    assert set(execution.variables.values_list("name", flat=True)) == {"nodes.a", "first"}


def test_json_data_is_kept_as_it_is_and_anything_else_converted():
    from decimal import Decimal

    from workflows.engine.runner import to_json_data

    plain = {"rows": [{"n": 1, "ok": True, "x": None, "f": 1.5}], "s": "a"}
    assert to_json_data(plain) is plain  # a large query result is not copied
    converted = to_json_data({"amount": Decimal("1.50"), "pair": (1, 2), 3: "key"})
    assert converted == {"amount": "1.50", "pair": [1, 2], "3": "key"}


def test_subclasses_of_json_types_become_the_plain_types():
    import enum

    from django.utils.safestring import mark_safe

    from workflows.engine.runner import to_json_data

    class Level(enum.IntEnum):
        HIGH = 3

    converted = to_json_data({"html": mark_safe("<b>x</b>"), "level": Level.HIGH})
    assert converted == {"html": "<b>x</b>", "level": 3}
    assert type(converted["html"]) is str
    assert type(converted["level"]) is int


def test_large_variables_are_written_one_per_insert():
    from workflows.engine.runner import LARGE_VALUE_ITEMS, _write_groups

    big = list(range(LARGE_VALUE_ITEMS))
    variables = {"a": 1, "b": {"x": 1}, "records": big, "nodes.q": big}
    groups = _write_groups(["a", "records", "b", "nodes.q"], variables)
    assert groups == [["a", "b"], ["records"], ["nodes.q"]]
    assert _write_groups(["records"], variables) == [["records"]]


def test_step_records_are_inserted_as_rows_not_unnested_arrays(run_workflow):
    # On PostgreSQL, Django would UNNEST arrays of JSON documents, whose escaping by psycopg
    # cost three times the INSERT itself.
    with CaptureQueriesContext(connection) as queries:
        run_workflow(pure_chain(3))
    (insert,) = step_inserts(queries)
    assert "UNNEST" not in insert["sql"].upper()
    assert insert["sql"].count("VALUES") == 1
