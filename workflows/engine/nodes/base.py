"""The contract of a node handler and what it is given."""

from dataclasses import dataclass
from typing import Any

from ...variables import ExpressionError, render
from ..outcome import Outcome, error_info


@dataclass
class Step:
    """One visit of one node: the node, its token, and the variables it can read."""

    run: Any  # the Runner
    node: dict
    token: dict
    variables: Any  # a Mapping (ChainMap of the run's scopes)

    @property
    def node_id(self):
        return self.node["id"]

    @property
    def path(self):
        return self.token["prefix"] + self.node["id"]

    def render(self, value):
        return render(value, self.variables)


class NodeHandler:
    type: str = ""
    # Only moves tokens or computes from the run's data: its step record can wait for the
    # next checkpoint, since a crash before then just makes it run again.
    pure: bool = False

    def is_pure(self, node, *, is_test) -> bool:
        return self.pure

    def execute(self, step: Step) -> Outcome:  # pragma: no cover - the contract
        raise NotImplementedError


def expression_failure(step, exc, field, input=None):
    """A config that cannot be resolved is the step's failure, never a crash of the run."""
    return Outcome(
        status="failed",
        input=input,
        error=error_info("expression", f"{field}: {exc}", step.node_id),
    )


__all__ = ["ExpressionError", "NodeHandler", "Outcome", "Step", "expression_failure"]
