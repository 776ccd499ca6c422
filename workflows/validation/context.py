"""What the families of checks share: the definition, its graph, and the issues found.

Checks name a problem by its JSON path in the definition (`("nodes", 3, "config", "to")`);
`locate()` turns that into what the builder paints: the node's id and the field inside it.
"""

import ast
import re
from functools import cached_property

from ..graph import Graph, edge_label

# Keys the graph reads as lists or strings; anything else there is a schema error already,
# and dropping it keeps a malformed node from derailing (or crashing) the graph walk.
_LIST_KEYS = ("true_branch", "false_branch", "body", "branches")
_STRING_KEYS = ("id", "type", "join")


def _sane_node(node):
    clean = dict(node)
    for key in _LIST_KEYS:
        if key in clean and not isinstance(clean[key], list):
            del clean[key]
    for key in _STRING_KEYS:
        if key in clean and not isinstance(clean[key], str):
            del clean[key]
    return clean


def _kind(node):
    kind = node.get("type")
    return kind if isinstance(kind, str) else None


def dotted(path):
    return ".".join(str(segment) for segment in path) or None


_SEGMENT = re.compile(r"\[(-?\d+)\]|\[('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")\]|([^.\[\]]+)")


def split_path(text):
    """`conditions[1].value['a']` -> ("conditions", 1, "value", "a")."""
    segments = []
    for match in _SEGMENT.finditer(text or ""):
        index, quoted, name = match.groups()
        if index is not None:
            segments.append(int(index))
        elif quoted is not None:
            segments.append(ast.literal_eval(quoted))
        else:
            segments.append(name)
    return tuple(segments)


class Context:
    def __init__(self, definition):
        self.definition = definition
        nodes, edges = definition.get("nodes"), definition.get("edges")
        self.nodes = nodes if isinstance(nodes, list) else []
        self.edges = edges if isinstance(edges, list) else []
        self.graph = Graph(
            {
                "nodes": [_sane_node(n) for n in self.nodes if isinstance(n, dict)],
                "edges": [e for e in self.edges if isinstance(e, dict)],
            }
        )
        trigger = definition.get("trigger")
        self.trigger = trigger if isinstance(trigger, dict) else {}
        self.errors, self.warnings = [], []
        self._seen = set()
        self._schema_errors = set()  # exact paths of schema errors
        self._schema_flagged = set()  # those paths and every prefix of them

    # -- reading the definition ---------------------------------------------------------

    def node_entries(self, *types):
        """(index, node, id) for every node that is an object, of these types if given;
        the id is None when the node has no usable one."""
        for index, node in enumerate(self.nodes):
            if not isinstance(node, dict) or (types and _kind(node) not in types):
                continue
            node_id = node.get("id")
            yield index, node, node_id if isinstance(node_id, str) and node_id else None

    def edge_entries(self):
        """(index, source, label, target) for every edge that is an object; an end that is
        not a string (the schema reported it) reads as None."""
        return self._edge_entries

    @cached_property
    def _edge_entries(self):
        entries = []
        for index, edge in enumerate(self.edges):
            if isinstance(edge, dict):
                source, target = edge.get("from"), edge.get("to")
                entries.append(
                    (
                        index,
                        source if isinstance(source, str) else None,
                        edge_label(edge),
                        target if isinstance(target, str) else None,
                    )
                )
        return entries

    def edges_from(self, node_id):
        """(index, label, target) of the edges leaving node_id."""
        return self._edges_by_source.get(node_id, [])

    @cached_property
    def _edges_by_source(self):
        by_source = {}
        for index, source, label, target in self._edge_entries:
            by_source.setdefault(source, []).append((index, label, target))
        return by_source

    # -- reporting ----------------------------------------------------------------------

    def locate(self, path):
        """(node id or None, dotted field or None) for a JSON path in the definition.

        A node without a usable id keeps its place in the field (`nodes.3.config.to`),
        so the problem can still be found. An edge's problem belongs to its source node.
        """
        path = tuple(path)
        if len(path) >= 2 and isinstance(path[1], int):
            if path[0] == "nodes" and 0 <= path[1] < len(self.nodes):
                node = self.nodes[path[1]]
                node_id = node.get("id") if isinstance(node, dict) else None
                if isinstance(node_id, str) and node_id:
                    return node_id, dotted(path[2:])
            if path[0] == "edges" and 0 <= path[1] < len(self.edges):
                edge = self.edges[path[1]]
                source = edge.get("from") if isinstance(edge, dict) else None
                if isinstance(source, str) and source in self.graph.nodes:
                    return source, dotted(path)
        return None, dotted(path)

    def error(self, path, message):
        self._add(self.errors, path, message)

    def warning(self, path, message):
        self._add(self.warnings, path, message)

    def _add(self, issues, path, message):
        node, field = self.locate(path)
        key = (node, field, message)
        if key in self._seen:
            return
        self._seen.add(key)
        issues.append({"node": node, "field": field, "message": message})

    def schema_error(self, path, message):
        path = tuple(path)
        self._schema_errors.add(path)
        self._schema_flagged.update(path[:k] for k in range(len(path) + 1))
        self.error(path, message)

    def flagged(self, *path):
        """Whether the schema reported a problem at or inside this path: a check of the
        same spot would only repeat it."""
        return tuple(path) in self._schema_flagged

    def covered(self, path):
        """Whether the schema reported a problem at this path or at one that contains it."""
        path = tuple(path)
        return any(path[:k] in self._schema_errors for k in range(len(path) + 1))

    def report_internal_failure(self, family):
        self.error((), f"the {family} checks could not finish on this definition")


__all__ = ["Context", "dotted", "split_path"]
