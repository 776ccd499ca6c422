"""One action step in tests: its context, running it, its refusal, and a workflow of just it.

The messaging actions' tests (push, Slack, SMS) each run their action the same way; the step's
id names the execution (`exe_<id>`), and the clock stands at 2026-11-26 09:00 UTC.
"""

import time
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from actions.registry import ActionContext, ActionError, registry


def step_context(node_id, **extra):
    return ActionContext(
        execution=SimpleNamespace(public_id=f"exe_{node_id}"),
        node_id=node_id,
        path=node_id,
        attempt=1,
        timezone=UTC,
        now=datetime(2026, 11, 26, 9, tzinfo=UTC),
        extra=extra,
    )


def run_step(action, node_id, config, **extra):
    return registry.get(action).run(config, step_context(node_id, **extra))


def step_failure(action, node_id, config, **extra):
    """The ActionError that running the step raises."""
    with pytest.raises(ActionError) as excinfo:
        run_step(action, node_id, config, **extra)
    return excinfo.value


def one_step_workflow(name, node_id, action, config, **node):
    """A manual workflow of one action node, `node` adding to it (retry, on_error, ...)."""
    return {
        "name": name,
        "trigger": {"type": "manual"},
        "nodes": [{"id": node_id, "type": "action", "action": action, "config": config, **node}],
        "edges": [{"from": "trigger", "to": node_id}],
    }


def wait_for(condition, seconds=5):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)
