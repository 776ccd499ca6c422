"""One module per node type; each handler turns a node visit into an Outcome."""

from .action import ActionNode
from .condition import ConditionNode, SwitchNode
from .delay import DelayNode
from .loop import LoopNode
from .parallel import ParallelNode
from .stop import EndNode, StopNode

HANDLERS = {
    handler.type: handler()
    for handler in (
        ActionNode,
        ConditionNode,
        SwitchNode,
        LoopNode,
        DelayNode,
        ParallelNode,
        StopNode,
        EndNode,
    )
}

__all__ = ["HANDLERS"]
