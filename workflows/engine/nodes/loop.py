"""For-each loops: the runner iterates; this node resolves and checks the collection."""

from ...variables import ExpressionError
from ..outcome import Outcome, error_info
from .base import NodeHandler, expression_failure


class LoopNode(NodeHandler):
    type = "loop"
    pure = True

    def execute(self, step):
        try:
            items = step.render(step.node.get("collection"))
        except ExpressionError as exc:
            return expression_failure(step, exc, "collection")
        if isinstance(items, dict):
            items = [{"key": key, "value": value} for key, value in items.items()]
        if items is None:
            items = []
        if not isinstance(items, list):
            return Outcome(
                status="failed",
                error=error_info(
                    "loop",
                    f"collection: expected a list, got {type(items).__name__}",
                    step.node_id,
                ),
            )
        limit = step.run.limits["max_loop_items"]
        if step.node.get("max_items"):
            limit = min(limit, int(step.node["max_items"]))
        if len(items) > limit:
            return Outcome(
                status="failed",
                error=error_info(
                    "limit",
                    f"collection has {len(items)} items, more than the limit of {limit} "
                    "(max_items / max_loop_items)",
                    step.node_id,
                ),
            )
        return Outcome(output={"count": len(items)}, loop_items=items)
