"""The starter workflows: the seed's eight templates, each a real definition in a JSON file.

    all_templates()                 [{key, name, description, trigger_type, definition}, ...]
    get_template("weekly_report")   one of them (UnknownTemplate for any other key)
    instantiate("weekly_report", user=request.user, name="Monday numbers")
                                    a new DRAFT workflow (fresh id, version 1); the caller
                                    activates it once its placeholders are filled in

The files beside this module are the templates (`<key>.json`, in the builder's export format
without `id`, `version` and `status`, which belong to a workflow row, not to a template).
They are read and checked once per process; every call hands out a deep copy, so a caller
that edits a definition before saving it changes nothing for the next caller.

Values a business must adapt (a team's address, a Slack channel, a group to notify) sit in
the node configs, and each such node's `description` says what to change.
"""

import copy
import json
import threading
from pathlib import Path

from django.db import transaction

__all__ = ["KEYS", "UnknownTemplate", "all_templates", "get_template", "instantiate"]

DIRECTORY = Path(__file__).resolve().parent

# The seed's order ("Workflow Templates"): the order lists and pickers show them in.
KEYS = (
    "invoice_reminder",
    "welcome_email_sequence",
    "payment_thank_you",
    "project_status_update",
    "ticket_escalation",
    "weekly_report",
    "lead_qualification",
    "contract_renewal",
)

# Keys of an exported definition that belong to a workflow row, never to a template.
ROW_KEYS = ("id", "version", "status")


class UnknownTemplate(LookupError):
    """No starter template has this key; the message lists the keys there are."""

    def __init__(self, key):
        self.key = key
        super().__init__(f"unknown workflow template '{key}' (known: {', '.join(KEYS)})")


_lock = threading.Lock()
_loaded: dict[str, dict] | None = None


def _read(key):
    path = DIRECTORY / f"{key}.json"
    definition = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(definition, dict):
        raise ValueError(f"{path.name}: a template is a JSON object")
    for row_key in ROW_KEYS:
        definition.pop(row_key, None)
    trigger = definition.get("trigger") or {"type": "manual"}
    return {
        "key": key,
        "name": definition["name"],
        "description": definition.get("description", ""),
        "trigger_type": trigger.get("type", "manual"),
        "definition": definition,
    }


def _templates():
    global _loaded
    if _loaded is None:
        with _lock:
            if _loaded is None:
                _loaded = {key: _read(key) for key in KEYS}
    return _loaded


def all_templates():
    """Every template, in the seed's order: key, name, description, trigger type and its
    definition (a copy the caller may change)."""
    return [copy.deepcopy(template) for template in _templates().values()]


def get_template(key):
    """One template by key; raises UnknownTemplate (a LookupError) for any other key."""
    templates = _templates()
    if not isinstance(key, str) or key not in templates:
        raise UnknownTemplate(key)
    return copy.deepcopy(templates[key])


def instantiate(key, *, user=None, name=None):
    """A new draft workflow made from the template: a fresh public id and version 1,
    owned by `user`, named `name` (or as the template). It is not activated: its
    placeholders (addresses, channels, groups) are for the user to fill in first, and
    activating is the caller's decision (`workflow.change_status("active")`).

    Raises UnknownTemplate for an unknown key, and DefinitionInvalid (nothing saved) should
    the template not validate against this installation (an action type removed, say).
    """
    from workflows.models import Workflow

    definition = get_template(key)["definition"]
    if name:
        definition["name"] = name
    with transaction.atomic():
        workflow = Workflow(name=definition["name"], owner=user)
        workflow.save()
        workflow.save_definition(definition, user=user)
    return workflow
