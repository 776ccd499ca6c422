"""The catalog: everything the builder can place in a workflow, in one JSON document.

`catalog()` is what the API serves and the builder renders from: the node types (with the
colours the canvas draws them in), every registered action type with its config schema,
outputs, retry policy and examples, the condition operators, the trigger types and the
events with their payload shapes and sample payloads. It is assembled from the sources of
truth (the workflow JSON Schema, the action registry, workflows.conditions, triggers.catalog)
rather than kept as a copy that could drift from them.
"""

from triggers import catalog as events_catalog
from workflows.conditions import OPERATORS
from workflows.validation.structure import NODE_TYPES, SCHEMA

from .registry import registry

# The canvas: triggers green, actions blue, decisions yellow, endings red.
NODE_COLORS = {
    "trigger": "#16a34a",
    "action": "#2563eb",
    "condition": "#eab308",
    "switch": "#ca8a04",
    "loop": "#7c3aed",
    "delay": "#64748b",
    "parallel": "#0d9488",
    "stop": "#b91c1c",
    "end": "#dc2626",
}
NODE_ICONS = {
    "trigger": "play",
    "action": "bolt",
    "condition": "git-branch",
    "switch": "shuffle",
    "loop": "repeat",
    "delay": "clock",
    "parallel": "columns",
    "stop": "octagon",
    "end": "square",
}


def _definition(name):
    return SCHEMA["$defs"].get(name, {})


def node_types():
    trigger = _definition("trigger")
    entries = [
        {
            "type": "trigger",
            "label": trigger.get("title", "Trigger"),
            "description": trigger.get("description", ""),
            "color": NODE_COLORS["trigger"],
            "icon": NODE_ICONS["trigger"],
        }
    ]
    for kind in NODE_TYPES:
        schema = _definition(f"{kind}Node")
        entries.append(
            {
                "type": kind,
                "label": schema.get("title", kind.title()),
                "description": schema.get("description", ""),
                "color": NODE_COLORS.get(kind, "#64748b"),
                "icon": NODE_ICONS.get(kind, "circle"),
            }
        )
    return entries


def trigger_types():
    kinds = _definition("trigger")["properties"]["type"]["enum"]
    entries = []
    for kind in kinds:
        schema = _definition(f"{kind}Trigger")
        entries.append(
            {
                "type": kind,
                "label": schema.get("title", kind.title()),
                "description": schema.get("description", ""),
            }
        )
    return entries


def action_types():
    return [action.describe() for action in sorted(registry, key=lambda a: (a.category, a.key))]


def operators():
    return [{"name": name, "description": text} for name, text in OPERATORS.items()]


def catalog():
    """The whole catalog as JSON-ready data."""
    return {
        "node_types": node_types(),
        "trigger_types": trigger_types(),
        "actions": action_types(),
        "operators": operators(),
        "events": events_catalog.describe(),
    }
