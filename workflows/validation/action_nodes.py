"""Action nodes against their action types: the key, the config and the output names.

A config is checked with the action type's own `config_schema`, except that a string which
is exactly one `{{ }}` satisfies any schema: what it resolves to is only known at run time
(`"limit": "{{ settings.limit }}"` may well be an integer then). Rather than rewriting the
config, the validator class is extended so that every keyword accepts such a string.
"""

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import SchemaError

from actions.registry import ActionRegistryError, registry

from ..variables import ExpressionError, parse
from .structure import explain


def _is_expression(instance):
    if not isinstance(instance, str) or "{{" not in instance:
        return False
    try:
        return parse(instance).single is not None
    except ExpressionError:
        return True  # reported by the expression checks; one message is enough


def _accepting_expressions(keyword):
    def check(validator, value, instance, schema):
        if not _is_expression(instance):
            yield from keyword(validator, value, instance, schema)

    return check


ConfigValidator = validators.extend(
    Draft202012Validator,
    validators={
        name: _accepting_expressions(keyword)
        for name, keyword in Draft202012Validator.VALIDATORS.items()
    },
)


def check(context):
    for index, node, _node_id in context.node_entries("action"):
        key = node.get("action")
        if not isinstance(key, str) or context.flagged("nodes", index, "action"):
            continue
        try:
            action_type = registry.get(key)
        except ActionRegistryError as exc:
            context.error(("nodes", index, "action"), str(exc))
            continue
        _config(context, index, node, action_type)
        _outputs(context, index, node, action_type)


def _config(context, index, node, action_type):
    config = node.get("config", {})
    if not isinstance(config, dict):
        return  # the schema said so
    base = ("nodes", index, "config")
    try:
        for error in ConfigValidator(action_type.config_schema).iter_errors(config):
            path, message = explain(error, base)
            context.error(path, message)
    except SchemaError as exc:
        context.error(base, f"the config schema of '{action_type.key}' is broken: {exc.message}")


def _outputs(context, index, node, action_type):
    outputs = node.get("outputs")
    if not isinstance(outputs, list) or len(outputs) < 2:
        return  # one name binds the whole result, whatever the action returns
    declared = list(action_type.outputs)
    if len(outputs) > len(declared):
        listing = f": {', '.join(declared)}" if declared else ""
        context.error(
            ("nodes", index, "outputs"),
            f"{len(outputs)} names, but '{action_type.key}' declares {len(declared)} "
            f"output(s){listing} (one name binds the whole result)",
        )
