"""Validation of workflow definitions: every problem at once, each with its node and field.

A definition is untrusted JSON that arrives from the builder, the API and imported files,
and an invalid one must never reach the engine (only a valid definition can be activated).
Beyond the JSON Schema the project ships (`workflows/schema/workflow.schema.json`), the
checks here look at what a schema cannot: the graph (unknown ids, unreachable nodes,
cycles outside loops, branches that disagree with edges), action configs against their
action types, `{{ }}` expressions and conditions, and variables that no earlier step
provides. Every issue names the node and the field, so the builder can paint it.

    result = validate_definition(definition)
    result.valid, result.errors, result.warnings   # issues: {"node", "field", "message"}
    validate_or_raise(definition)                    # raises DefinitionInvalid

`validate_definition` never raises, whatever it is given. Each family of checks lives in
its own module of this package; `Context` (context.py) is what they share.
"""

import logging
from dataclasses import dataclass, field

from . import action_nodes, expressions, flow, structure, triggers
from .context import Context
from .structure import SCHEMA, definition_validator

logger = logging.getLogger(__name__)

__all__ = [
    "SCHEMA",
    "DefinitionInvalid",
    "ValidationResult",
    "definition_validator",
    "validate_definition",
    "validate_or_raise",
]


def _describe(issue):
    where = []
    if issue.get("node"):
        where.append(f"node '{issue['node']}'")
    if issue.get("field"):
        where.append(issue["field"])
    return f"{', '.join(where)}: {issue['message']}" if where else issue["message"]


class DefinitionInvalid(Exception):
    """A definition with errors; `errors` and `warnings` are lists of issue dicts."""

    def __init__(self, errors, warnings=()):
        self.errors = list(errors)
        self.warnings = list(warnings)
        super().__init__(self.summary())

    def summary(self, limit=10):
        """One readable line: the count, then the first `limit` errors with their place."""
        count = len(self.errors)
        lines = [_describe(issue) for issue in self.errors[:limit]]
        if count > limit:
            lines.append(f"... and {count - limit} more")
        noun = "error" if count == 1 else "errors"
        heading = f"the workflow definition has {count} {noun}"
        return heading + (": " + "; ".join(lines) if lines else "")


@dataclass
class ValidationResult:
    """Errors make a definition invalid; warnings are worth showing but do not."""

    errors: list = field(default_factory=list)
    warnings: list = field(default_factory=list)

    @property
    def valid(self):
        return not self.errors

    def as_dict(self):
        return {"valid": self.valid, "errors": self.errors, "warnings": self.warnings}


# The order is the order issues are listed in: the schema's first, since later checks read
# the structure it vouches for.
_CHECKS = (structure.check, flow.check, action_nodes.check, triggers.check, expressions.check)


def validate_definition(definition) -> ValidationResult:
    """All errors and warnings of a definition; never raises."""
    if not isinstance(definition, dict):
        kind = structure.json_type(definition)
        issue = {
            "node": None,
            "field": None,
            "message": "a workflow definition is a JSON object with name, trigger, nodes and "
            f"edges, not {kind}",
        }
        return ValidationResult(errors=[issue])
    context = Context(definition)
    deep = structure.too_deep(definition)
    if deep:
        # Only hostile input nests this deep, and the recursive checks must not walk it.
        for place in deep:
            context.error(place, f"nested more than {structure.MAX_NESTING} levels deep")
        return ValidationResult(errors=context.errors)
    for check in _CHECKS:
        try:
            check(context)
        except Exception:
            # A bug in one family of checks must not hide what the others found, nor turn
            # a save into a 500; the definition is refused so nothing unchecked runs.
            logger.exception("validation check %s failed", check.__module__)
            context.report_internal_failure(check.__module__.rsplit(".", 1)[-1])
    return ValidationResult(errors=context.errors, warnings=context.warnings)


def validate_or_raise(definition) -> ValidationResult:
    """The result when the definition has no errors (warnings allowed); else raises."""
    result = validate_definition(definition)
    if not result.valid:
        raise DefinitionInvalid(result.errors, result.warnings)
    return result
