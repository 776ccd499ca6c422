"""The JSON Schema half of validation: shape, types and enums, with readable messages.

The schema document is the one the API serves and the builder renders forms from, so it is
loaded from its file once and used as is. jsonschema's own messages repeat whole instances
and say "is not valid under any of the given schemas"; `explain()` turns each error into a
short message at the most specific path, and the schema's `errorMessage` annotations (this
project's convention) replace the generic text where a rule needs words.
"""

import functools
import json
from pathlib import Path

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema" / "workflow.schema.json"
SCHEMA = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))

NODE_TYPES = tuple(SCHEMA["$defs"]["node"]["properties"]["type"]["enum"])
_BASE_NODE_KEYS = frozenset(SCHEMA["$defs"]["node"]["properties"])
# Other engineers may add keys to nodes, so unknown ones are warnings, not errors: a typo
# such as "on_eror" still shows.
KNOWN_NODE_KEYS = {
    kind: _BASE_NODE_KEYS | frozenset(SCHEMA["$defs"][f"{kind}Node"].get("properties", {}))
    for kind in NODE_TYPES
}

_MESSAGE_LIMIT = 300
# No real definition nests this deep (conditions stop at 32 levels, about 70 here); deeper
# input would exhaust the stack of the recursive jsonschema walk rather than fail cleanly.
MAX_NESTING = 80


@functools.cache
def definition_validator():
    """The cached validator of whole definitions against SCHEMA."""
    return Draft202012Validator(SCHEMA)


def check(context):
    for error in definition_validator().iter_errors(context.definition):
        path, message = explain(error)
        context.schema_error(path, message)
    _unknown_node_keys(context)


def too_deep(definition, limit=MAX_NESTING):
    """Where the definition nests objects and arrays more than `limit` levels deep: the
    node, edge or top-level key holding each such place."""
    places = {}
    stack = [((), definition)]
    while stack:
        path, value = stack.pop()
        if not isinstance(value, dict | list):
            continue
        if len(path) >= limit:
            places.setdefault(path[: 3 if path[0] in ("nodes", "edges") else 1], None)
            continue
        items = value.items() if isinstance(value, dict) else enumerate(value)
        stack.extend(((*path, key), item) for key, item in items)
    return sorted(places, key=str)


def _unknown_node_keys(context):
    for index, node, _node_id in context.node_entries(*NODE_TYPES):
        kind = node["type"]
        for key in node:
            if key not in KNOWN_NODE_KEYS[kind]:
                context.warning(
                    ("nodes", index, key),
                    f"unknown key '{key}' on {_with_article(kind)} node: nothing reads it",
                )


# -- messages -------------------------------------------------------------------------------

_JSON_TYPES = (
    (bool, "a boolean"),
    (int, "an integer"),
    (float, "a number"),
    (str, "a string"),
    (list, "an array"),
    (dict, "an object"),
)
_ARTICLES = {
    "object": "an object",
    "array": "an array",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "null": "null",
}


def _with_article(word):
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"


def json_type(value):
    if value is None:
        return "null"
    for python_type, name in _JSON_TYPES:
        if isinstance(value, python_type):
            return name
    return type(value).__name__


def short(value, limit=60):
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def explain(error, base=()):
    """(path, message) for a jsonschema error; `base` prefixes the path (a node's config)."""
    path = (*base, *error.absolute_path)
    custom = error.schema.get("errorMessage") if isinstance(error.schema, dict) else None
    if isinstance(custom, str):
        return path, custom
    if error.validator in ("oneOf", "anyOf") and error.context:
        alternatives = [e for e in error.context if not e.relative_path]
        if alternatives and all(e.validator == "type" for e in alternatives):
            # Every branch wants another type: say which types would do, not just one.
            return path, _type_message(
                [kind for e in alternatives for kind in _kinds(e.validator_value)],
                error.instance,
            )
        return explain(best_match(error.context), base)
    return _keyword_message(error, path)


def _kinds(expected):
    return [expected] if isinstance(expected, str) else list(expected)


def _type_message(kinds, instance):
    wanted = " or ".join(_ARTICLES.get(kind, kind) for kind in dict.fromkeys(kinds))
    return f"must be {wanted}, not {json_type(instance)}"


def _keyword_message(error, path):
    keyword, expected, instance = error.validator, error.validator_value, error.instance
    if keyword == "required" and isinstance(instance, dict):
        for name in expected:
            if name not in instance and error.message == f"{name!r} is a required property":
                return (*path, name), f"'{name}' is required"
    if keyword == "type":
        return path, _type_message(_kinds(expected), instance)
    if keyword == "enum":
        choices = ", ".join(str(choice) for choice in expected)
        return path, f"{short(instance)} is not one of: {choices}"
    if keyword == "additionalProperties" and isinstance(instance, dict):
        known = set(error.schema.get("properties", {}))
        extra = [key for key in instance if key not in known]
        return path, (
            f"unknown key(s) {', '.join(map(repr, extra))}; expected: {', '.join(sorted(known))}"
        )
    message = error.message
    if len(message) > _MESSAGE_LIMIT:
        message = message[: _MESSAGE_LIMIT - 1] + "…"
    return path, message
