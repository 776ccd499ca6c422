"""Small builders for definitions in tests: the graph reads at a glance."""

import itertools


def probe(node_id, **config):
    node = {"id": node_id, "type": "action", "action": "probe", "config": config}
    for key in ("outputs", "retry", "on_error"):
        if key in config:
            node[key] = config.pop(key)
    return node


def echo(node_id, value, fields):
    """A transform step whose output shows `fields` of `value` as the run saw it there (a
    finished run keeps no variables: a later step's record is where a binding shows)."""
    operation = {"op": "pick", "value": value, "fields": fields, "as": node_id}
    return {
        "id": node_id,
        "type": "action",
        "action": "transform",
        "config": {"operations": [operation]},
    }


def edge(source, target, condition=None):
    data = {"from": source, "to": target}
    if condition is not None:
        data["condition"] = condition
    return data


def chain(*node_ids):
    """Edges trigger -> a -> b -> ..."""
    ids = ["trigger", *node_ids]
    return [edge(a, b) for a, b in itertools.pairwise(ids)]


def definition(nodes, edges, **extra):
    return {"name": "Test", "trigger": {"type": "manual"}, "nodes": nodes, "edges": edges, **extra}


def step_table(execution):
    """[(path, status, attempt)] in the order the steps were recorded."""
    return [(s.path, s.status, s.attempt) for s in execution.steps.order_by("id")]
