"""`stop` ends the whole run; `end` ends the path it is on."""

from ..outcome import Outcome
from .base import NodeHandler


class StopNode(NodeHandler):
    type = "stop"

    def execute(self, step):
        status = step.node.get("status") or "completed"
        reason = step.node.get("reason") or ""
        return Outcome(output={"status": status, "reason": reason}, stop=(status, reason))


class EndNode(NodeHandler):
    type = "end"
    pure = True

    def execute(self, step):
        return Outcome(follow=False)
