"""Condition (if/else) and switch (first matching case) nodes."""

from ...conditions import ConditionError, evaluate
from ...variables import ExpressionError
from ..outcome import Outcome, error_info
from .base import NodeHandler


def _check(step, condition, field):
    try:
        return evaluate(condition, step.variables, tz=step.run.tz, now=step.run.now()), None
    except (ConditionError, ExpressionError) as exc:
        return None, Outcome(
            status="failed", error=error_info("condition", f"{field}: {exc}", step.node_id)
        )


class ConditionNode(NodeHandler):
    type = "condition"
    pure = True

    def execute(self, step):
        holds, failure = _check(step, step.node.get("condition") or {}, "condition")
        if failure:
            return failure
        label = "true" if holds else "false"
        return Outcome(output={"result": holds}, label=label)


class SwitchNode(NodeHandler):
    type = "switch"
    pure = True

    def execute(self, step):
        for index, case in enumerate(step.node.get("cases") or []):
            holds, failure = _check(step, case.get("condition") or {}, f"cases[{index}].condition")
            if failure:
                return failure
            if holds:
                return Outcome(output={"case": case["name"]}, label=case["name"])
        return Outcome(output={"case": "default"}, label="default")
