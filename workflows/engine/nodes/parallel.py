"""Parallel fan-out: the runner starts one path per branch and joins them."""

from ..outcome import Outcome
from .base import NodeHandler


class ParallelNode(NodeHandler):
    type = "parallel"
    pure = True

    def execute(self, step):
        branches = step.run.graph.branch_entries(step.node_id)
        return Outcome(output={"branches": branches}, branches=branches)
