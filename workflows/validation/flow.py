"""Graph checks: does control flow the way the definition says?

The schema vouches for each node alone; these checks look at nodes together through
`workflows.graph` (the module the engine walks with, so both agree on what a loop's
iteration or a parallel branch is): ids, edges, reachability, cycles, and whether each
flow-control node's own keys (true_branch, cases, body, branches, join, on_error) agree
with its edges.
"""

from collections import deque

from ..graph import TRIGGER

_CONDITION_LABELS = ("true", "false", "error")
_ENDS = {"end": "an end node ends the path it is on", "stop": "a stop node ends the whole run"}


def check(context):
    _node_ids(context)
    _edges(context)
    _reachability(context)
    _cycles(context)
    _conditions(context)
    _switches(context)
    _loops(context)
    _parallels(context)
    _error_branches(context)
    _dead_ends(context)


def _names(ids):
    return ", ".join(f"'{node_id}'" for node_id in ids) or "nothing"


def _found(label):
    return "this one has none" if label is None else f"not '{label}'"


def _node_ids(context):
    first_seen = {}
    for index, _node, node_id in context.node_entries():
        if node_id is None:
            continue
        if node_id == TRIGGER:
            context.error(
                ("nodes", index, "id"), "'trigger' is reserved for the start of the workflow"
            )
        if node_id in first_seen:
            context.error(
                ("nodes", index, "id"),
                f"duplicate node id '{node_id}' (nodes {first_seen[node_id]} and {index})",
            )
        first_seen.setdefault(node_id, index)


def _edges(context):
    nodes = context.graph.nodes
    for index, source, _label, target in context.edge_entries():
        if isinstance(source, str) and source != TRIGGER and source not in nodes:
            context.error(("edges", index, "from"), f"edge from unknown node '{source}'")
        if target == TRIGGER:
            context.error(("edges", index, "to"), "no edge can lead back to the trigger")
        elif isinstance(target, str) and target not in nodes:
            context.error(("edges", index, "to"), f"edge to unknown node '{target}'")
    if not nodes:
        context.warning(("nodes",), "the workflow has no nodes yet: a run would do nothing")
    elif not context.graph.entry_nodes:
        context.error(
            ("edges",),
            'nothing follows the trigger: add an edge from "trigger" to the first node',
        )


def _reachability(context):
    graph = context.graph
    if not graph.entry_nodes:
        return  # already reported once, rather than once per node
    reached = graph.reachable(graph.entry_nodes)
    for index, _node, node_id in context.node_entries():
        if node_id not in (None, TRIGGER) and node_id in graph.nodes and node_id not in reached:
            context.error(
                ("nodes", index), "not reachable from the trigger: no path of edges leads here"
            )


# -- cycles ---------------------------------------------------------------------------------


def _cycles(context):
    graph = context.graph
    adjacency = {}
    for node_id in graph.nodes:
        # An edge from inside a loop's iteration back to that loop node ends the path
        # there (the engine's next item starts afresh): it is the loop, not a cycle.
        loops = graph.enclosing_loops(node_id)
        closing = loops[-1] if loops else None
        adjacency[node_id] = [
            target
            for target in dict.fromkeys(graph.all_successors(node_id))
            if target in graph.nodes and target != closing
        ]
    first_index = {}
    for index, _node, node_id in context.node_entries():
        first_index.setdefault(node_id, index)
    for component in _strongly_connected(adjacency):
        start = component[0]
        if len(component) == 1 and start not in adjacency[start]:
            continue
        route = " -> ".join(_cycle_through(start, set(component), adjacency))
        context.error(
            ("nodes", first_index[start]),
            f"cycle outside a loop: {route} (use a loop node to repeat steps)",
        )


def _cycle_through(start, members, adjacency):
    """The shortest route from start back to itself inside one strongly connected set."""
    came_from = {}
    queue = deque([start])
    while queue:
        current = queue.popleft()
        for target in adjacency[current]:
            if target not in members:
                continue
            if target == start:
                route = [current]
                while route[-1] != start:
                    route.append(came_from[route[-1]])
                return [*reversed(route), start]
            if target not in came_from:
                came_from[target] = current
                queue.append(target)
    return [start, start]


def _strongly_connected(adjacency):
    """Tarjan's algorithm without recursion (a definition may be long); each component's
    members come in the order of `adjacency`."""
    order = {node: i for i, node in enumerate(adjacency)}
    index, low, on_stack, stack, components = {}, {}, set(), [], []
    counter = 0
    for root in adjacency:
        if root in index:
            continue
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(adjacency[root]))]
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = counter
                    counter += 1
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(adjacency[successor])))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(sorted(component, key=order.__getitem__))
    return components


# -- flow-control nodes ---------------------------------------------------------------------


def _unknown_ids(context, index, key, ids):
    unknown = [i for i in ids if isinstance(i, str) and i not in context.graph.nodes]
    if unknown:
        context.error(("nodes", index, key), f"unknown node(s) {_names(unknown)}")


def _conditions(context):
    for index, node, node_id in context.node_entries("condition"):
        if node_id is None:
            continue
        edges = context.edges_from(node_id)
        for key, label in (("true_branch", "true"), ("false_branch", "false")):
            listed = node.get(key)
            if not isinstance(listed, list) or context.flagged("nodes", index, key):
                continue
            _unknown_ids(context, index, key, listed)
            # The graph runs the union of the two; they only conflict when both are given.
            targets = [target for _, lab, target in edges if lab == label]
            if targets and set(targets) != set(listed):
                context.error(
                    ("nodes", index, key),
                    f"{key} says {_names(listed)} but the edges labelled '{label}' go to "
                    f"{_names(targets)}",
                )
        for edge_index, label, _target in edges:
            if label not in _CONDITION_LABELS:
                context.error(
                    ("edges", edge_index, "condition"),
                    "an edge leaving a condition needs the label 'true', 'false' or 'error' "
                    f"({_found(label)})",
                )


def _switches(context):
    for index, node, node_id in context.node_entries("switch"):
        cases = node.get("cases") if isinstance(node.get("cases"), list) else []
        names = []
        for case_index, case in enumerate(cases):
            name = case.get("name") if isinstance(case, dict) else None
            if not isinstance(name, str):
                continue
            if name in names:
                context.error(
                    ("nodes", index, "cases", case_index, "name"), f"duplicate case name '{name}'"
                )
            names.append(name)
        if node_id is None:
            continue
        allowed = [*names, "default", "error"]
        for edge_index, label, _target in context.edges_from(node_id):
            if label not in allowed:
                context.error(
                    ("edges", edge_index, "condition"),
                    f"an edge leaving a switch needs a case name, 'default' or 'error' as its "
                    f"label: one of {_names(allowed)} ({_found(label)})",
                )


def _loops(context):
    graph = context.graph
    for index, node, node_id in context.node_entries("loop"):
        body = node.get("body")
        if node_id is None or not isinstance(body, list) or context.flagged("nodes", index, "body"):
            continue
        _unknown_ids(context, index, "body", body)
        entry = graph.loop_entry(node_id)
        iteration = graph.iteration_nodes(node_id)
        stray = [b for b in body[1:] if b in graph.nodes and b not in iteration]
        if stray:
            context.error(
                ("nodes", index, "body"),
                f"{_names(stray)} listed in the body but not reached from its first node "
                f"'{entry}' along edges",
            )
        after = graph.reachable(graph.loop_exits(node_id), stop={node_id}) & iteration
        if after:
            ordered = [n for n in graph.nodes if n in after]
            context.error(
                ("nodes", index, "body"),
                f"{_names(ordered)} run in the loop's iteration and again after the loop",
            )


def _parallels(context):
    graph = context.graph
    for index, _node, node_id in context.node_entries("parallel"):
        if node_id is None or context.flagged("nodes", index, "branches"):
            continue
        branches = graph.branch_entries(node_id)
        _unknown_ids(context, index, "branches", branches)
        targets = [t for _, label, t in context.edges_from(node_id) if label is None and t]
        if targets and set(targets) != set(branches):
            context.error(
                ("nodes", index, "branches"),
                f"branches says {_names(branches)} but the node's edges go to {_names(targets)}",
            )
        known = [b for b in branches if b in graph.nodes]
        join = graph.join_of(node_id)
        if join is not None and not context.flagged("nodes", index, "join"):
            if join not in graph.nodes:
                context.error(("nodes", index, "join"), f"unknown node '{join}'")
            else:
                missed = [b for b in known if join not in graph.reachable([b], stop={node_id})]
                if missed:
                    context.error(
                        ("nodes", index, "join"),
                        f"the join '{join}' is not reached from branch(es) {_names(missed)}",
                    )
        members = {b: graph.branch_nodes(node_id, b) for b in known}
        for i, first in enumerate(known):
            for second in known[i + 1 :]:
                shared = members[first] & members[second]
                if shared:
                    ordered = [n for n in graph.nodes if n in shared]
                    context.error(
                        ("nodes", index, "branches"),
                        f"branches '{first}' and '{second}' share {_names(ordered)}",
                    )


def _error_branches(context):
    for index, node, node_id in context.node_entries():
        if node_id is None:
            continue
        error_edges = [i for i, label, _ in context.edges_from(node_id) if label == "error"]
        is_action = node.get("type") == "action"
        takes_error_edge = is_action and node.get("on_error") == "error_branch"
        if takes_error_edge and not error_edges:
            context.error(
                ("nodes", index, "on_error"),
                "on_error is 'error_branch' but no edge from this node is labelled 'error'",
            )
        elif error_edges and not takes_error_edge:
            # Only an action node follows its error edge, and only with error_branch.
            where = (
                ("nodes", index, "on_error")
                if is_action
                else ("edges", error_edges[0], "condition")
            )
            context.warning(
                where,
                "an edge labelled 'error' leaves this node but is never followed: only an "
                "action node with on_error 'error_branch' takes it",
            )


def _dead_ends(context):
    for index, node, node_id in context.node_entries("end", "stop"):
        if node_id not in (None, TRIGGER) and context.edges_from(node_id):
            context.warning(
                ("nodes", index), f"{_ENDS[node['type']]}: its outgoing edges are never followed"
            )
