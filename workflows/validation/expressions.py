"""`{{ }}` expressions, conditions, and variables that no earlier step provides.

Every expression must parse, every condition must be well formed, and every variable a node
reads must exist by the time the node runs: a loop's item inside the loop, an output of a
step that may run before (an ancestor in the graph), the trigger's data, or a built-in.
When the trigger's data has a known shape (an event, a schedule, a webhook) a variable it
cannot provide is an error; manual input is free-form, so there it is a warning. For event
triggers a path into the record is also checked against the record registry, so
`invoice.custmer.email` is caught before the first invoice arrives.
"""

from triggers.catalog import get_event

from ..conditions import condition_paths, validate_condition
from ..records import RecordRegistryError
from ..records import registry as records
from ..trigger_data import known_keys
from ..variables import ExpressionError, iter_templates, parse, parse_path
from .context import split_path

BUILTINS = frozenset({"now", "today", "workflow", "execution"})
# Labels and layout are shown, never evaluated; conditions are checked as conditions.
_NOT_EVALUATED = frozenset({"id", "type", "name", "description", "ui"})
_CONDITION_KEYS = {"condition": ("condition",), "switch": ("cases",)}


def check(context):
    scope = _Scope(context)
    for index, node, node_id in context.node_entries():
        kind = node.get("type") if isinstance(node.get("type"), str) else None
        skipped = _NOT_EVALUATED | set(_CONDITION_KEYS.get(kind, ()))
        for key, value in node.items():
            if key in skipped:
                continue
            for path, text in iter_templates(value, ("nodes", index, key)):
                for expression in _parse(context, path, text):
                    scope.check(path, expression, node_id)
        for path, condition in _conditions_of(index, node):
            _condition(context, scope, path, condition, node_id)
    condition = context.trigger.get("filter")
    if context.trigger.get("type") == "event" and condition is not None:
        _condition(context, scope, ("trigger", "filter"), condition, None, trigger_only=True)


def _parse(context, path, text):
    try:
        return parse(text).expressions
    except ExpressionError as exc:
        context.error(path, str(exc))
        return ()


def _conditions_of(index, node):
    kind = node.get("type")
    if kind == "condition" and "condition" in node:
        yield ("nodes", index, "condition"), node["condition"]
    elif kind == "switch" and isinstance(node.get("cases"), list):
        for case_index, case in enumerate(node["cases"]):
            if isinstance(case, dict) and "condition" in case:
                yield ("nodes", index, "cases", case_index, "condition"), case["condition"]


def _condition(context, scope, base, condition, node_id, *, trigger_only=False):
    problems, paths = validate_condition(condition), condition_paths(condition)
    for where, message in problems:
        path = (*base, *split_path(where))
        # The schema may have said the same in its words (an unknown operator, say).
        if not context.covered(path):
            context.error(path, message)
    for text in paths:
        try:
            expression = parse_path(text)
        except ExpressionError:
            continue  # validate_condition reported it
        scope.check(base, expression, node_id, trigger_only=trigger_only)


class _Scope:
    """Which variables a node may read."""

    def __init__(self, context):
        self.context = context
        self.graph = graph = context.graph
        trigger = context.trigger
        event = trigger.get("event")
        self.event = event if trigger.get("type") == "event" and isinstance(event, str) else None
        if trigger.get("type") == "event" and self.event is None:
            self.trigger_keys = None  # the schema reported the missing event
        else:
            self.trigger_keys = known_keys(trigger)
        error_targets = [t for _, _, label, t in context.edge_entries() if label == "error"]
        # `error` is set when an error edge is taken and stays set down that path.
        self.after_error = graph.reachable([t for t in error_targets if t is not None])
        self._before = {}

    def before(self, node_id):
        """(the steps that may run before node_id, the output names they bind)."""
        if node_id not in self._before:
            ancestors = self.graph.ancestors(node_id)
            self._before[node_id] = ancestors, self._output_names(ancestors)
        return self._before[node_id]

    def check(self, path, expression, node_id, *, trigger_only=False):
        problem = self._problem(expression, node_id, trigger_only)
        if problem is None:
            return
        message, certain = problem
        if certain or self.trigger_keys is not None:
            self.context.error(path, message)
        else:
            self.context.warning(path, message + "; it must come from the run's input data")

    def _problem(self, expression, node_id, trigger_only):
        """None when the variable is provided; else (message, whether it is an error even
        with free-form trigger data)."""
        root = expression.root
        in_graph = node_id is not None and node_id in self.graph.nodes and not trigger_only
        if in_graph:
            loops = self.graph.enclosing_loops(node_id)
            items = [self.graph.nodes[lid].get("item_variable") or "item" for lid in loops]
            if root in items or (root == "loop" and loops):
                return None
            ancestors, outputs = self.before(node_id)
            if root in outputs:
                return None
            if root == "nodes":
                return self._node_output(expression, ancestors)
        if self.trigger_keys is not None and root in self.trigger_keys:
            return self._record_field(expression)
        if root == "trigger" or root in BUILTINS:
            return None
        if root == "error":
            if in_graph and node_id in self.after_error:
                return None
            return (
                "variable 'error' is only set on an error path (after an edge labelled 'error')",
                False,
            )
        if root == "loop":
            return "variable 'loop' is only set inside a loop's body", False
        if trigger_only:
            return f"variable '{root}' is not in the data of event '{self.event}'", True
        return f"variable '{root}' is not provided by the trigger or any earlier step", False

    def _output_names(self, ancestors):
        names = set()
        for ancestor in ancestors:
            node = self.graph.nodes[ancestor]
            outputs = node.get("outputs")
            if node.get("type") == "action" and isinstance(outputs, list):
                names.update(name for name in outputs if isinstance(name, str))
        return names

    def _node_output(self, expression, ancestors):
        if len(expression.path) < 2:
            return None
        other = expression.path[1]
        if other in ancestors:
            return None
        if other in self.graph.nodes:
            return f"'nodes.{other}' is not a step that runs before this one", True
        return f"'nodes.{other}': there is no node '{other}'", True

    def _record_field(self, expression):
        """For an event trigger: does the record (or a related record beside it) have the
        field the path names?"""
        if self.event is None:
            return None
        try:
            record_type = records.get(get_event(self.event).record)
            root = expression.root
            if root != record_type.name:
                if root not in record_type.relations or record_type.is_many(root):
                    return None
                record_type = record_type.related_type(root)
            unknown = _unknown_field(record_type, list(expression.path[1:]))
        except (LookupError, RecordRegistryError):
            return None  # an unknown event is reported by the trigger checks
        if unknown is None:
            return None
        segment, owner = unknown
        known = sorted({*owner.fields, *owner.computed, *owner.relations})
        return (
            f"variable '{expression.path_text}': the {owner.name} record has no field '{segment}' "
            f"(its fields: {', '.join(known)})",
            True,
        )


def _unknown_field(record_type, segments):
    """(first segment the record does not have, the record type it was looked up on), or
    None when the whole path names whitelisted data."""
    for length in range(1, len(segments) + 1):
        if record_type.has_path(segments[:length]):
            continue
        owner, parent = record_type, segments[length - 2] if length >= 2 else None
        if length >= 2 and segments[0] in record_type.relations:
            owner = record_type.related_type(segments[0])
        if owner.field_types().get(parent) == "json":
            return None  # the inside of a JSON field is free-form
        return segments[length - 1], owner
    return None


__all__ = ["BUILTINS", "check"]
