"""The engine, node type by node type: what runs, in which order, with which data."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.support.definitions import chain, definition, edge, probe, step_table
from workflows.models import Execution, ExecutionVariable, StepRun
from workflows.services import cancel_execution, resume_due, retry_execution

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _probes(probe_actions):
    return probe_actions


def tags(probe_actions):
    return [call["tag"] for call in probe_actions.calls]


# -- action and variables -----------------------------------------------------------------


def test_actions_run_in_order_and_pass_outputs(run_workflow, probe_actions):
    execution = run_workflow(
        definition(
            [
                probe("a", value="{{ amount }}", outputs=["first"]),
                probe("b", value="{{ first.value }} and {{ nodes.a.output.tag }}"),
            ],
            chain("a", "b"),
        ),
        {"amount": 1250},
    )
    assert execution.status == "completed"
    assert [c["config"]["value"] for c in probe_actions.calls] == [1250, "1250 and a"]
    assert step_table(execution) == [("a", "succeeded", 1), ("b", "succeeded", 1)]
    assert (execution.steps_total, execution.steps_completed) == (2, 2)


def test_several_output_names_bind_declared_outputs_in_order(run_workflow, probe_actions):
    execution = run_workflow(
        definition(
            [probe("a", value=7, outputs=["v", "t"]), probe("b", value="{{ v }}-{{ t }}")],
            chain("a", "b"),
        )
    )
    assert execution.status == "completed"
    assert probe_actions.calls[1]["config"]["value"] == "7-a"


def test_trigger_data_that_looks_like_an_expression_stays_literal(run_workflow, probe_actions):
    hostile = "{{ this.constructor.constructor('return process')() }}"
    run_workflow(definition([probe("a", value="{{ comment }}")], chain("a")), {"comment": hostile})
    assert probe_actions.calls[0]["config"]["value"] == hostile


def test_unknown_variable_fails_the_step_with_a_clear_error(run_workflow):
    execution = run_workflow(definition([probe("a", value="{{ missing.key }}")], chain("a")))
    assert execution.status == "failed"
    assert execution.error["node"] == "a"
    assert execution.error["type"] == "expression"
    assert "missing" in execution.error["message"]


def test_builtins_are_available(run_workflow, probe_actions):
    with time_machine.travel(datetime(2026, 3, 1, 23, 30, tzinfo=UTC), tick=False):
        run_workflow(
            definition(
                [probe("a", value="{{ today }}|{{ workflow.name }}|{{ execution.id }}")],
                chain("a"),
                timezone="Europe/Berlin",
            )
        )
    today, name, exec_id = probe_actions.calls[0]["config"]["value"].split("|")
    assert today == "2026-03-02"  # 23:30 UTC is already the 2nd in Berlin
    assert name == "Test"
    assert exec_id.startswith("exec_")


# -- condition and switch -----------------------------------------------------------------

CONDITION = definition(
    [
        {
            "id": "check",
            "type": "condition",
            "condition": {"field": "amount", "operator": "greater_than", "value": 1000},
            "true_branch": ["big"],
            "false_branch": ["small"],
        },
        probe("big"),
        probe("small"),
    ],
    [*chain("check"), edge("check", "big", "true"), edge("check", "small", "false")],
)


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        (1500, ["big"]),
        ("1500.00", ["big"]),  # numeric strings compare as numbers
        (1000, ["small"]),
        (None, ["small"]),  # a missing/null field is an answer, not a crash
    ],
)
def test_condition_follows_one_branch(run_workflow, probe_actions, amount, expected):
    execution = run_workflow(CONDITION, {"amount": amount})
    assert execution.status == "completed"
    assert tags(probe_actions) == expected
    assert execution.steps.get(node_id="check").output == {"result": expected == ["big"]}


SWITCH = definition(
    [
        {
            "id": "route",
            "type": "switch",
            "cases": [
                {
                    "name": "hot",
                    "condition": {
                        "field": "lead.score",
                        "operator": "greater_than_or_equal",
                        "value": 80,
                    },
                },
                {
                    "name": "warm",
                    "condition": {
                        "field": "lead.score",
                        "operator": "greater_than_or_equal",
                        "value": 50,
                    },
                },
            ],
        },
        probe("sales"),
        probe("nurture"),
        probe("archive"),
    ],
    [
        *chain("route"),
        edge("route", "sales", "hot"),
        edge("route", "nurture", "warm"),
        edge("route", "archive", "default"),
    ],
)


@pytest.mark.parametrize(
    ("score", "expected"),
    [(95, ["sales"]), (80, ["sales"]), (60, ["nurture"]), (10, ["archive"]), (None, ["archive"])],
)
def test_switch_takes_the_first_matching_case_or_default(
    run_workflow, probe_actions, score, expected
):
    execution = run_workflow(SWITCH, {"lead": {"score": score}})
    assert execution.status == "completed"
    assert tags(probe_actions) == expected


# -- loops --------------------------------------------------------------------------------


def loop_node(node_id, collection, body, item="item", **extra):
    return {
        "id": node_id,
        "type": "loop",
        "collection": collection,
        "item_variable": item,
        "body": body,
        **extra,
    }


def test_loop_visits_its_body_once_per_item_then_continues(run_workflow, probe_actions):
    execution = run_workflow(
        definition(
            [
                loop_node("each", "{{ items }}", ["work"]),
                probe("work", value="{{ item.name }}#{{ loop.index }}"),
                probe("after", value="{{ nodes.each.output.count }}"),
            ],
            [*chain("each"), edge("each", "work"), edge("each", "after")],
        ),
        {"items": [{"name": "x"}, {"name": "y"}, {"name": "z"}]},
    )
    assert execution.status == "completed"
    values = [c["config"]["value"] for c in probe_actions.calls]
    assert values == ["x#0", "y#1", "z#2", 3]
    assert [p for p, *_ in step_table(execution)] == [
        "each",
        "each[0]/work",
        "each[1]/work",
        "each[2]/work",
        "after",
    ]
    # The collection lived only as long as the loop.
    assert not ExecutionVariable.objects.filter(execution=execution, name__startswith="__").exists()


def test_nested_loops(run_workflow, probe_actions):
    execution = run_workflow(
        definition(
            [
                loop_node("rows", "{{ matrix }}", ["cols"], item="row"),
                loop_node("cols", "{{ row }}", ["cell"], item="value"),
                probe("cell", value="{{ value }}"),
            ],
            [*chain("rows"), edge("rows", "cols"), edge("cols", "cell")],
        ),
        {"matrix": [[1, 2], [3], []]},
    )
    assert execution.status == "completed"
    assert [c["config"]["value"] for c in probe_actions.calls] == [1, 2, 3]
    assert [c["path"] for c in probe_actions.calls] == [
        "rows[0]/cols[0]/cell",
        "rows[0]/cols[1]/cell",
        "rows[1]/cols[0]/cell",
    ]


def test_loop_body_branches_per_item(run_workflow, probe_actions):
    """The seed's shape: only the branch the condition picks runs, once per item."""
    execution = run_workflow(
        definition(
            [
                loop_node("each", "{{ items }}", ["check", "yes"]),
                {
                    "id": "check",
                    "type": "condition",
                    "condition": {"field": "{{item}}", "operator": "less_than", "value": 3},
                    "true_branch": ["yes"],
                    "false_branch": ["no"],
                },
                probe("yes", value="{{ item }}"),
                probe("no", value="{{ item }}"),
            ],
            [
                *chain("each"),
                edge("each", "check"),
                edge("check", "yes", "true"),
                edge("check", "no", "false"),
            ],
        ),
        {"items": [1, 5, 2]},
    )
    assert execution.status == "completed"
    assert [(c["tag"], c["config"]["value"]) for c in probe_actions.calls] == [
        ("yes", 1),
        ("no", 5),
        ("yes", 2),
    ]


def test_empty_collection_goes_straight_to_after_the_loop(run_workflow, probe_actions):
    execution = run_workflow(
        definition(
            [loop_node("each", "{{ items }}", ["work"]), probe("work"), probe("after")],
            [*chain("each"), edge("each", "work"), edge("each", "after")],
        ),
        {"items": []},
    )
    assert execution.status == "completed"
    assert tags(probe_actions) == ["after"]


@pytest.mark.parametrize(
    ("collection", "extra", "message"),
    [
        ("not a list", {}, "expected a list"),
        ([1, 2, 3], {"max_items": 2}, "more than the limit of 2"),
    ],
)
def test_loop_collection_errors(run_workflow, collection, extra, message):
    execution = run_workflow(
        definition(
            [loop_node("each", "{{ items }}", ["work"], **extra), probe("work")],
            [*chain("each"), edge("each", "work")],
        ),
        {"items": collection},
    )
    assert execution.status == "failed"
    assert execution.error["node"] == "each"
    assert message in execution.error["message"]


def test_large_collection_is_stored_once_not_at_every_checkpoint(run_workflow, settings):
    settings.WORKFLOW_CHECKPOINT_STEPS = 10  # some 30 checkpoints during the loop
    items = [{"n": i, "padding": "x" * 50} for i in range(300)]
    with CaptureQueriesContext(connection) as queries:
        execution = run_workflow(
            definition(
                [
                    loop_node("each", "{{ items }}", ["work"]),
                    {"id": "work", "type": "end"},
                ],
                [*chain("each"), edge("each", "work")],
            ),
            {"items": items},
        )
    assert execution.status == "completed"
    big_writes = [
        q
        for q in queries.captured_queries
        if "executionvariable" in q["sql"].lower() and len(q["sql"]) > 10_000
    ]
    assert len(big_writes) == 1, "the 300-item collection must be written exactly once"


# -- delay --------------------------------------------------------------------------------

DELAY = definition(
    [probe("before"), {"id": "wait", "type": "delay", "duration": {"days": 3}}, probe("after")],
    chain("before", "wait", "after"),
)


def test_delay_parks_the_run_and_the_resume_task_completes_it(run_workflow, probe_actions):
    start = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        execution = run_workflow(DELAY)
        assert execution.status == "waiting"
        assert execution.resume_at == start + timedelta(days=3)
        assert tags(probe_actions) == ["before"]
        assert resume_due() == 0  # not due yet
    with time_machine.travel(start + timedelta(days=2, hours=23), tick=False):
        assert resume_due() == 0
    with time_machine.travel(start + timedelta(days=3, seconds=1), tick=False):
        assert resume_due() == 1
    execution.refresh_from_db()
    assert execution.status == "completed"
    assert tags(probe_actions) == ["before", "after"]
    wait = execution.steps.get(node_id="wait")
    assert wait.status == "succeeded"
    assert wait.duration_ms == pytest.approx(timedelta(days=3, seconds=1).total_seconds() * 1000)


@pytest.mark.parametrize(
    ("until", "timezone", "expected"),
    [
        # A date alone is the start of that day in the workflow's timezone.
        ("2026-12-24", "Europe/Berlin", datetime(2026, 12, 23, 23, 0, tzinfo=UTC)),
        ("2026-12-24", "UTC", datetime(2026, 12, 24, 0, 0, tzinfo=UTC)),
        ("2026-12-24T17:00:00+01:00", "UTC", datetime(2026, 12, 24, 16, 0, tzinfo=UTC)),
    ],
)
def test_delay_until_a_moment(run_workflow, until, timezone, expected):
    with time_machine.travel(datetime(2026, 11, 26, tzinfo=UTC), tick=False):
        execution = run_workflow(
            definition(
                [{"id": "wait", "type": "delay", "until": "{{ when }}"}, probe("after")],
                chain("wait", "after"),
                timezone=timezone,
            ),
            {"when": until},
        )
    assert execution.status == "waiting"
    assert execution.resume_at == expected


def test_delay_until_a_past_moment_continues_at_once(run_workflow, probe_actions):
    execution = run_workflow(
        definition(
            [{"id": "wait", "type": "delay", "until": "2020-01-01"}, probe("after")],
            chain("wait", "after"),
        )
    )
    assert execution.status == "completed"
    assert tags(probe_actions) == ["after"]


def test_test_mode_does_not_wait(run_workflow):
    execution = run_workflow(DELAY, test=True)
    assert execution.status == "completed"
    assert "would_wait_until" in execution.steps.get(node_id="wait").output


# -- parallel -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_parallel_branches_overlap_in_time_and_join_once(run_workflow, probe_actions):
    execution = run_workflow(
        definition(
            [
                {"id": "fan", "type": "parallel", "branches": ["left", "right"], "join": "done"},
                probe("left", sleep=0.3),
                probe("left2"),
                probe("right", sleep=0.3),
                probe("done"),
            ],
            [
                *chain("fan"),
                edge("fan", "left"),
                edge("fan", "right"),
                edge("left", "left2"),
                edge("left2", "done"),
                edge("right", "done"),
            ],
        )
    )
    assert execution.status == "completed"
    calls = {c["tag"]: c for c in probe_actions.calls}
    left, right = calls["left"], calls["right"]
    assert left["started"] < right["ended"], "the branches did not overlap"
    assert right["started"] < left["ended"], "the branches did not overlap"
    assert tags(probe_actions).count("done") == 1
    assert calls["done"]["started"] >= max(calls["left2"]["ended"], right["ended"])
    assert {c["path"] for c in probe_actions.calls} == {
        "fan.0/left",
        "fan.0/left2",
        "fan.1/right",
        "done",
    }


def test_parallel_without_join_ends_when_every_branch_ends(run_workflow, probe_actions):
    execution = run_workflow(
        definition(
            [
                {"id": "fan", "type": "parallel", "branches": ["a", "b"]},
                probe("a"),
                probe("b"),
            ],
            [*chain("fan"), edge("fan", "a"), edge("fan", "b")],
        )
    )
    assert execution.status == "completed"
    assert sorted(tags(probe_actions)) == ["a", "b"]


# -- stop and end -------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "expected"), [("completed", "completed"), ("failed", "failed")])
def test_stop_ends_the_whole_run(run_workflow, probe_actions, status, expected):
    execution = run_workflow(
        definition(
            [
                {"id": "halt", "type": "stop", "status": status, "reason": "nothing to do"},
                probe("never"),
            ],
            chain("halt", "never"),
        )
    )
    assert execution.status == expected
    assert tags(probe_actions) == []
    if expected == "failed":
        assert execution.error["message"] == "nothing to do"
        assert execution.error["node"] == "halt"


def test_end_ends_only_its_path(run_workflow, probe_actions):
    execution = run_workflow(
        definition(
            [
                {"id": "fan", "type": "parallel", "branches": ["stop_here", "go_on"]},
                {"id": "stop_here", "type": "end"},
                probe("go_on"),
            ],
            [*chain("fan"), edge("fan", "stop_here"), edge("fan", "go_on")],
        )
    )
    assert execution.status == "completed"
    assert tags(probe_actions) == ["go_on"]


# -- retries and errors -------------------------------------------------------------------

FAST_RETRY = {"max_attempts": 3, "backoff_seconds": 0.01, "jitter": False}


def test_retryable_errors_are_retried_with_backoff(run_workflow, probe_actions):
    probe_actions.failures["a"] = 2
    execution = run_workflow(definition([probe("a", retry=FAST_RETRY)], chain("a")))
    assert execution.status == "completed"
    assert step_table(execution) == [
        ("a", "retrying", 1),
        ("a", "retrying", 2),
        ("a", "succeeded", 3),
    ]
    assert execution.steps_total == 1  # one visit, three attempts
    # Every attempt of a step carries the same idempotency key.
    assert len({c["key"] for c in probe_actions.calls}) == 1


def test_errors_not_in_retry_on_fail_at_once(run_workflow, probe_actions):
    probe_actions.failures["a"] = 1
    execution = run_workflow(
        definition([probe("a", kind="client_error", retry=FAST_RETRY)], chain("a"))
    )
    assert execution.status == "failed"
    assert step_table(execution) == [("a", "failed", 1)]
    assert execution.error["type"] == "client_error"


def test_retries_give_up_after_max_attempts(run_workflow, probe_actions):
    probe_actions.failures["a"] = 5
    execution = run_workflow(definition([probe("a", retry=FAST_RETRY)], chain("a")))
    assert execution.status == "failed"
    assert [s for _, s, _ in step_table(execution)] == ["retrying", "retrying", "failed"]


def test_long_backoff_parks_the_run(run_workflow, probe_actions):
    probe_actions.failures["a"] = 1
    start = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        execution = run_workflow(
            definition(
                [probe("a", retry={"max_attempts": 2, "backoff_seconds": 60, "jitter": False})],
                chain("a"),
            )
        )
    assert execution.status == "waiting"
    assert execution.resume_at == start + timedelta(seconds=60)
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        resume_due()
    execution.refresh_from_db()
    assert execution.status == "completed"


def test_on_error_continue_marks_the_step_failed_and_goes_on(run_workflow, probe_actions):
    probe_actions.failures["a"] = 1
    execution = run_workflow(
        definition(
            [probe("a", on_error="continue", kind="client_error"), probe("b")], chain("a", "b")
        )
    )
    assert execution.status == "completed"
    assert step_table(execution) == [("a", "failed", 1), ("b", "succeeded", 1)]


def test_error_branch_runs_the_fallback_with_the_error(run_workflow, probe_actions):
    probe_actions.failures["charge"] = 1
    execution = run_workflow(
        definition(
            [
                probe("charge", on_error="error_branch", kind="client_error"),
                probe("receipt"),
                probe("notify", value="{{ error.node }}: {{ error.message }}"),
            ],
            [*chain("charge", "receipt"), edge("charge", "notify", "error")],
        )
    )
    assert execution.status == "completed"
    assert tags(probe_actions) == ["charge", "notify"]
    assert probe_actions.calls[1]["config"]["value"] == "charge: probe charge failing on purpose"


def test_an_unexpected_exception_keeps_its_traceback(run_workflow):
    execution = run_workflow(definition([probe("a", crash=True)], chain("a")))
    assert execution.status == "failed"
    step = execution.steps.get()
    assert step.error["type"] == "internal"
    assert "RuntimeError: an unexpected bug" in step.error["message"]
    assert "Traceback" in step.error["traceback"]


def test_retrying_a_failed_execution_resumes_at_the_failed_step(run_workflow, probe_actions):
    probe_actions.failures["b"] = 1
    execution = run_workflow(
        definition(
            [probe("a", value="{{ order }}"), probe("b", kind="client_error", value="{{ order }}")],
            chain("a", "b"),
        ),
        {"order": 42},
    )
    assert execution.status == "failed"
    retried = retry_execution(execution, inline=True)
    assert retried.status == "completed"
    # a ran once; b failed once and succeeded on the retry, with the original data.
    assert tags(probe_actions) == ["a", "b", "b"]
    assert probe_actions.calls[-1]["config"]["value"] == 42
    assert step_table(retried) == [("a", "succeeded", 1), ("b", "failed", 1), ("b", "succeeded", 2)]


def test_retry_refuses_an_execution_that_did_not_fail(run_workflow):
    from workflows.services import ExecutionRefused

    execution = run_workflow(definition([probe("a")], chain("a")))
    with pytest.raises(ExecutionRefused, match="only a failed execution"):
        retry_execution(execution)


# -- limits -------------------------------------------------------------------------------


def test_max_steps_stops_a_run_with_a_clear_error(run_workflow):
    execution = run_workflow(
        definition(
            [loop_node("each", "{{ items }}", ["work"]), probe("work")],
            [*chain("each"), edge("each", "work")],
            settings={"max_steps": 5},
        ),
        {"items": list(range(10))},
    )
    assert execution.status == "failed"
    assert execution.error["type"] == "limit"
    assert "max_steps (5)" in execution.error["message"]
    assert execution.steps_total == 5


def test_run_time_limit(run_workflow):
    execution = run_workflow(
        definition(
            [probe("a", sleep=0.2), probe("b")],
            chain("a", "b"),
            settings={"timeout_seconds": 0.1},
        )
    )
    assert execution.status == "failed"
    assert "timeout_seconds" in execution.error["message"]


# -- test mode, cancel --------------------------------------------------------------------


def test_test_mode_simulates_actions(run_workflow, probe_actions):
    execution = run_workflow(definition([probe("a", tag="x")], chain("a")), test=True)
    assert execution.status == "completed"
    assert execution.mode == "test"
    assert probe_actions.calls == []  # run() never called
    assert execution.steps.get().output == {"simulated": True, "tag": "x"}


def test_a_cancelled_run_is_not_overwritten_by_its_runner(make_workflow, probe_actions):
    from workflows.engine import Runner
    from workflows.services import start_execution

    workflow = make_workflow(definition([probe("a"), probe("b")], chain("a", "b")))
    execution = start_execution(workflow)  # pending; a worker would pick it up
    runner = Runner(Execution.objects.get(pk=execution.pk))
    cancel_execution(execution)
    runner.run()
    execution.refresh_from_db()
    assert execution.status == "cancelled"
    assert StepRun.objects.filter(execution=execution).count() == 0


@pytest.mark.django_db(transaction=True)  # frames are sent on commit
def test_live_frames_reach_a_listener_and_cost_nothing_without_one(run_workflow, monkeypatch):
    """In-memory layer: a group with a member gets the frames; without one nothing is sent."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from workflows import live

    layer = get_channel_layer()
    sent = []
    real_send = layer.group_send

    async def counting(group, message):
        sent.append(group)
        await real_send(group, message)

    monkeypatch.setattr(layer, "group_send", counting)
    run_workflow(definition([probe("a")], chain("a")))
    assert sent == []

    channel = async_to_sync(layer.new_channel)()
    execution = run_workflow(definition([probe("b")], chain("b")))
    group = live.execution_group(execution.public_id)
    assert group not in sent  # nobody had joined that execution's group yet
    async_to_sync(layer.group_add)(live.workflow_group(execution.workflow.public_id), channel)
    live.publish(live.execution_message(execution))
    assert live.workflow_group(execution.workflow.public_id) in sent
    frame = async_to_sync(layer.receive)(channel)
    assert frame["execution"] == execution.public_id


def test_a_loops_collection_is_deleted_without_being_read_back(run_workflow, probe_actions):
    """Deleting a variable's row must not load its value: a 100,000-record collection
    read back to be deleted cost the scale benchmark 270 MB at the loop's end."""
    table = ExecutionVariable._meta.db_table
    with CaptureQueriesContext(connection) as queries:
        execution = run_workflow(
            definition(
                [
                    loop_node("each", "{{ items }}", ["work"]),
                    probe("work", value="{{ item }}"),
                    probe("after", value="done"),
                ],
                [*chain("each"), edge("each", "work"), edge("each", "after")],
            ),
            {"items": list(range(5))},
        )
    assert execution.status == "completed"
    touching = [q["sql"] for q in queries.captured_queries if table in q["sql"]]
    assert any(sql.startswith("DELETE") for sql in touching), touching
    reads = [sql for sql in touching if sql.startswith("SELECT")]
    assert reads, "the delete looks the rows up first (delete signals are connected)"
    assert not any('"value"' in sql.split(" FROM ")[0] for sql in reads), reads
