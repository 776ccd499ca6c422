"""The variables a step can read, in DEFINITION.md's order of precedence.

Loop item and `loop.index` first, then named outputs, `nodes.<id>.output`, the trigger
data's top-level keys, `trigger` and `error`, and the built-ins. A ChainMap keeps this a
view: nothing is copied per step.
"""

from collections import ChainMap
from collections.abc import Mapping

NODE_PREFIX = "nodes."


class NodeOutputs(Mapping):
    """`nodes.<id>.output` over the run's stored variables."""

    def __init__(self, variables):
        self._variables = variables

    def __getitem__(self, node_id):
        key = NODE_PREFIX + str(node_id)
        if key not in self._variables:
            raise KeyError(node_id)
        return {"output": self._variables[key]}

    def __iter__(self):
        return (k[len(NODE_PREFIX) :] for k in self._variables if k.startswith(NODE_PREFIX))

    def __len__(self):
        return sum(1 for _ in self)


def build_scope(*, loop_layer, variables, trigger_data, error, builtins):
    special = {"trigger": trigger_data}
    if error is not None:
        special["error"] = error
    return ChainMap(
        loop_layer,
        variables,
        {"nodes": NodeOutputs(variables)},
        trigger_data if isinstance(trigger_data, Mapping) else {},
        special,
        builtins,
    )
