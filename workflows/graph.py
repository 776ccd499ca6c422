"""A definition's graph: nodes, labelled edges, loop iterations and parallel branches.

Both the validator and the engine read the graph through this module, so "which nodes
belong to this loop's iteration" has one answer. It tolerates broken definitions (unknown
ids, missing keys) so the validator can report them; the engine only ever sees valid ones.
"""

from functools import cached_property

TRIGGER = "trigger"
# Edge labels with a meaning of their own; a switch's case names are labels too.
ERROR = "error"


def edge_label(edge):
    label = edge.get("condition")
    if label is None:
        return None
    if isinstance(label, bool):
        return "true" if label else "false"
    return str(label)


class Graph:
    def __init__(self, definition):
        nodes = definition.get("nodes") if isinstance(definition, dict) else None
        edges = definition.get("edges") if isinstance(definition, dict) else None
        self.node_list = [n for n in (nodes or []) if isinstance(n, dict)]
        self.nodes = {}
        for node in self.node_list:
            if isinstance(node.get("id"), str):
                self.nodes.setdefault(node["id"], node)
        self.edges = [e for e in (edges or []) if isinstance(e, dict)]
        self._out = {}
        for edge in self.edges:
            source, target = edge.get("from"), edge.get("to")
            if isinstance(source, str) and isinstance(target, str):
                self._out.setdefault(source, []).append((edge_label(edge), target))
        # A condition's true_branch/false_branch say the same as its labelled edges; taking
        # the union means a file that gives only one of the two still runs as written.
        for node in self.node_list:
            for key, label in (("true_branch", "true"), ("false_branch", "false")):
                for target in node.get(key) or []:
                    pair = (label, target)
                    if isinstance(target, str) and pair not in self._out.get(node.get("id"), []):
                        self._out.setdefault(node.get("id"), []).append(pair)

    # -- edges ------------------------------------------------------------------------------

    def successors(self, node_id, label=None):
        """Targets of the edges leaving node_id with this label (None: unlabelled)."""
        return [target for lab, target in self._out.get(node_id, []) if lab == label]

    def all_successors(self, node_id):
        return [target for _, target in self._out.get(node_id, [])]

    def labels(self, node_id):
        return {lab for lab, _ in self._out.get(node_id, [])}

    @property
    def entry_nodes(self):
        return self.all_successors(TRIGGER)

    # -- loops ------------------------------------------------------------------------------

    def loop_entry(self, loop_id):
        """The first node of an iteration: the body's first node."""
        body = self.nodes.get(loop_id, {}).get("body") or []
        return body[0] if body and isinstance(body[0], str) else None

    def loop_exits(self, loop_id):
        """Edges leaving the loop to nodes outside its iteration run after the last item."""
        inside = self.iteration_nodes(loop_id)
        entry = self.loop_entry(loop_id)
        return [t for t in self.successors(loop_id) if t != entry and t not in inside]

    def iteration_nodes(self, loop_id):
        """The nodes of one iteration: reachable from the body's first node by edges,
        without passing through the loop node itself."""
        return self._iteration_nodes.get(loop_id, frozenset())

    @cached_property
    def _iteration_nodes(self):
        result = {}
        for node_id, node in self.nodes.items():
            if node.get("type") == "loop":
                entry = self.loop_entry(node_id)
                result[node_id] = (
                    frozenset(self.reachable([entry], stop={node_id})) if entry else frozenset()
                )
        return result

    def enclosing_loops(self, node_id):
        """Loops whose iteration contains node_id, innermost last."""
        loops = [lid for lid, members in self._iteration_nodes.items() if node_id in members]
        return sorted(loops, key=lambda lid: -len(self._iteration_nodes[lid]))

    # -- parallel ---------------------------------------------------------------------------

    def branch_entries(self, parallel_id):
        branches = self.nodes.get(parallel_id, {}).get("branches") or []
        return [b for b in branches if isinstance(b, str)]

    def join_of(self, parallel_id):
        join = self.nodes.get(parallel_id, {}).get("join")
        return join if isinstance(join, str) else None

    def branch_nodes(self, parallel_id, entry):
        join = self.join_of(parallel_id)
        return frozenset(self.reachable([entry], stop={parallel_id, join} - {None}))

    # -- walking ----------------------------------------------------------------------------

    def reachable(self, starts, stop=frozenset()):
        """Every node reachable from `starts` along edges (loop bodies and parallel branches
        included), not entering nodes in `stop`."""
        seen, stack = set(), [s for s in starts if s not in stop]
        while stack:
            node_id = stack.pop()
            if node_id in seen or node_id not in self.nodes:
                continue
            seen.add(node_id)
            stack.extend(n for n in self._nexts(node_id) if n not in seen and n not in stop)
        return seen

    def ancestors(self, node_id):
        """Nodes from which node_id can be reached: the steps that may run before it."""
        # Walking the edges backwards visits only the ancestors, so asking this for every
        # node of a long definition stays far cheaper than a forward walk from each node.
        seen, stack = set(), list(self._predecessors.get(node_id, ()))
        while stack:
            other = stack.pop()
            if other not in seen:
                seen.add(other)
                stack.extend(self._predecessors.get(other, ()))
        seen.discard(node_id)
        return seen

    @cached_property
    def _predecessors(self):
        result = {}
        for node_id in self.nodes:
            for target in self._nexts(node_id):
                if target in self.nodes:
                    result.setdefault(target, set()).add(node_id)
        return result

    def _nexts(self, node_id):
        node = self.nodes[node_id]
        nexts = list(self.all_successors(node_id))
        if node.get("type") == "loop" and self.loop_entry(node_id):
            nexts.append(self.loop_entry(node_id))
        if node.get("type") == "parallel":
            nexts.extend(self.branch_entries(node_id))
            if self.join_of(node_id):
                nexts.append(self.join_of(node_id))
        return nexts
