"""transform: reshape data into new variables with a short list of operations.

Workflows constantly need data in another shape than the one they got: the three fields of a
record an email needs, a list of invoices as table rows, a date as "26 Nov 2026", a comma
separated text as a list. A general-purpose language would do it and would be a way back into
code, so this is a fixed menu of operations, each a JSON object, applied in order. Each one
reads a `value` (usually one `{{ }}`, which keeps its type: `"{{ invoices }}"` is the list) or,
with `from`, the result of an earlier operation of the same step (a path such as `rows` or
`summary.items`), and stores its result under `as`. The step's output is every `as` name:

    pick           {"op": "pick", "value": "{{ invoice }}", "fields": ["number", "amount"],
                    "as": "summary"}
                   keeps the named keys of an object (or of each object of a list); a key the
                   data lacks comes out as null, so later steps can rely on the shape.
    rename         {"op": "rename", "from": "summary", "fields": {"number": "invoice_number"},
                    "as": "summary"}
                   renames keys of an object (or of each object of a list); others stay.
    map            {"op": "map", "value": "{{ invoices }}", "fields": {
                        "number": "number", "email": "customer.email",
                        "due": {"path": "due_date", "date": "%d %b %Y"},
                        "amount": {"path": "amount", "number": 2, "default": "0.00"}},
                    "as": "rows"}
                   turns each item of a list into a new object: each field is a path into the
                   item (the `{{ }}` path syntax, without braces), optionally formatted as a
                   date or a number, with a default when the path is absent or null.
    format_date    {"op": "format_date", "value": "{{ invoice.due_date }}", "format": "%d %B %Y",
                    "as": "due"}
                   strftime with the directives `{{ x | date(...) }}` allows; a datetime with
                   an offset is shown in the workflow's timezone.
    format_number  {"op": "format_number", "value": "{{ invoice.amount }}", "decimals": 2,
                    "thousands": ",", "as": "amount_text"}          -> "1,250.00"
                   exact (Decimal), rounded half up; `decimal_point` may be "," as well.
    join           {"op": "join", "value": "{{ invoices }}", "field": "number",
                    "separator": ", ", "as": "numbers"}            -> "INV-1, INV-2"
    split          {"op": "split", "value": "{{ lead.tags }}", "separator": ",", "as": "tags"}
                   pieces are trimmed and empty pieces dropped unless told otherwise.
    defaults       {"op": "defaults", "value": "{{ lead }}", "values": {"source": "web"},
                    "as": "lead"}
                   fills keys that are absent, null or "" in an object (or each of a list).

Nothing here evaluates text: paths are parsed by `workflows.variables`, dates and numbers are
formatted by the very functions of the `date` and `number` filters, and every list and text
is capped.
"""

import datetime as dt
from collections.abc import Mapping
from typing import ClassVar

from workflows.filters import FILTERS, FilterError
from workflows.values import MISSING, describe_type, parse_iso, to_text
from workflows.variables import ExpressionError, parse_path

from .registry import ActionError, ActionType

MAX_OPERATIONS = 50
MAX_ITEMS = 10_000
MAX_TEXT = 1_000_000
MAX_SEPARATOR = 20
SEPARATORS = ("", ",", ".", " ", "'", "\u00a0", "\u202f")
NAME_PATTERN = "^[A-Za-z$][A-Za-z0-9_]{0,63}$"


class _Problem(Exception):
    """What is wrong with one operation; turned into an ActionError naming it."""


# --- reading values ----------------------------------------------------------------------


def _lookup(path, data):
    try:
        return parse_path(path).lookup(data)
    except ExpressionError as exc:
        raise _Problem(f"{path!r} is not a path: {exc}") from None


def _items(value, what):
    if not isinstance(value, list | tuple):
        raise _Problem(f"{what} must be a list, not {describe_type(value)}")
    if len(value) > MAX_ITEMS:
        raise _Problem(f"{what} has more than {MAX_ITEMS} items")
    return list(value)


def _each_object(value, change):
    """`change(dict) -> dict` on an object, or on every object of a list."""
    if isinstance(value, Mapping):
        return change(dict(value))
    if isinstance(value, list | tuple):
        result = []
        for index, item in enumerate(_items(value, "the value")):
            if not isinstance(item, Mapping):
                raise _Problem(f"item [{index}] is {describe_type(item)}, not an object")
            result.append(change(dict(item)))
        return result
    raise _Problem(f"the value must be an object or a list of objects, not {describe_type(value)}")


def _is_blank(value):
    return value is MISSING or value is None or value == ""


# --- formatting --------------------------------------------------------------------------


def _check_date_format(fmt):
    problem = FILTERS["date"].args_problem((fmt,))
    if problem:
        raise _Problem(problem.replace("date()", "format"))


def format_date(value, fmt, tz):
    if value is None:
        return None
    moment = parse_iso(value) if isinstance(value, str) else value
    if isinstance(moment, dt.datetime) and moment.tzinfo is not None and tz is not None:
        # "9:00 in New York": an instant is shown on the workflow's clock.
        moment = moment.astimezone(tz)
    try:
        return FILTERS["date"].apply(moment if isinstance(moment, dt.date) else value, (fmt,))
    except FilterError as exc:
        raise _Problem(str(exc).removeprefix("date: ")) from None


def format_number(value, decimals=2, thousands="", decimal_point="."):
    if value is None:
        return None
    problem = FILTERS["number"].args_problem((decimals,))
    if problem:
        raise _Problem(problem.replace("number()", "decimals"))
    try:
        text = FILTERS["number"].apply(value, (decimals,))
    except FilterError as exc:
        raise _Problem(str(exc).removeprefix("number: ")) from None
    sign = "-" if text.startswith("-") else ""
    whole, _, fraction = text.lstrip("-").partition(".")
    if thousands:
        groups = []
        while len(whole) > 3:
            whole, group = whole[:-3], whole[-3:]
            groups.insert(0, group)
        whole = thousands.join([whole, *groups])
    return sign + whole + (decimal_point + fraction if fraction else "")


# --- the operations ----------------------------------------------------------------------


def _pick(value, op, context):
    fields = op.get("fields")
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise _Problem("fields must be a list of key names")
    return _each_object(value, lambda item: {name: item.get(name) for name in fields})


def _rename(value, op, context):
    fields = op.get("fields")
    if not isinstance(fields, Mapping) or not all(isinstance(v, str) for v in fields.values()):
        raise _Problem('fields must map old names to new ones, e.g. {"number": "invoice_number"}')

    def rename(item):
        return {fields.get(key, key): item_value for key, item_value in item.items()}

    return _each_object(value, rename)


def _map_field(item, spec, context):
    if isinstance(spec, str):
        spec = {"path": spec}
    if not isinstance(spec, Mapping) or not isinstance(spec.get("path"), str):
        raise _Problem('each field is a path, or {"path": ..., "date"/"number"/"default": ...}')
    found = _lookup(spec["path"], item)
    if found is MISSING or found is None:
        return spec.get("default")
    if "date" in spec:
        return format_date(found, spec["date"], context.timezone)
    if "number" in spec:
        return format_number(found, spec["number"])
    return found


def _map(value, op, context):
    fields = op.get("fields")
    if not isinstance(fields, Mapping) or not fields:
        raise _Problem('fields must map new names to paths, e.g. {"email": "customer.email"}')
    for spec in fields.values():
        if isinstance(spec, Mapping) and "date" in spec:
            _check_date_format(spec["date"])
    rows = []
    for index, item in enumerate(_items(value, "the value")):
        try:
            rows.append({name: _map_field(item, spec, context) for name, spec in fields.items()})
        except _Problem as exc:
            raise _Problem(f"item [{index}]: {exc}") from None
    return rows


def _format_date(value, op, context):
    fmt = op.get("format")
    _check_date_format(fmt)
    return format_date(value, fmt, context.timezone)


def _format_number(value, op, context):
    thousands = op.get("thousands", "")
    decimal_point = op.get("decimal_point", ".")
    if thousands not in SEPARATORS or decimal_point not in (".", ","):
        raise _Problem('thousands is one of "", ",", ".", " ", "\'"; decimal_point is "." or ","')
    if thousands and thousands == decimal_point:
        raise _Problem("thousands and decimal_point must differ")
    return format_number(value, op.get("decimals", 2), thousands, decimal_point)


def _join(value, op, context):
    separator = op.get("separator", ", ")
    if not isinstance(separator, str) or len(separator) > MAX_SEPARATOR:
        raise _Problem(f"separator must be a text of at most {MAX_SEPARATOR} characters")
    items = _items(value, "the value")
    if op.get("field"):
        items = [_lookup(op["field"], item) for item in items]
    parts = [to_text(item) for item in items if item is not MISSING and item is not None]
    text = separator.join(parts)
    if len(text) > MAX_TEXT:
        raise _Problem(f"the joined text is longer than {MAX_TEXT} characters")
    return text


def _split(value, op, context):
    separator = op.get("separator")
    if not isinstance(separator, str) or not 1 <= len(separator) <= MAX_SEPARATOR:
        raise _Problem(f"separator must be a text of 1 to {MAX_SEPARATOR} characters")
    if value is None:
        return []
    if not isinstance(value, str):
        raise _Problem(f"the value must be a text, not {describe_type(value)}")
    if len(value) > MAX_TEXT:
        raise _Problem(f"the text is longer than {MAX_TEXT} characters")
    pieces = value.split(separator, MAX_ITEMS)
    if len(pieces) > MAX_ITEMS:
        raise _Problem(f"the text splits into more than {MAX_ITEMS} pieces")
    if op.get("trim", True):
        pieces = [piece.strip() for piece in pieces]
    if op.get("skip_empty", True):
        pieces = [piece for piece in pieces if piece]
    return pieces


def _defaults(value, op, context):
    values = op.get("values")
    if not isinstance(values, Mapping) or not values:
        raise _Problem('values must map keys to defaults, e.g. {"source": "web"}')

    def fill(item):
        for key, fallback in values.items():
            if _is_blank(item.get(key, MISSING)):
                item[key] = fallback
        return item

    return _each_object(value, fill)


OPERATIONS = {
    "pick": _pick,
    "rename": _rename,
    "map": _map,
    "format_date": _format_date,
    "format_number": _format_number,
    "join": _join,
    "split": _split,
    "defaults": _defaults,
}


def transform(config, context):
    operations = config.get("operations")
    if not isinstance(operations, list) or not operations:
        raise ActionError("operations: give a list of at least one", kind="invalid_config")
    if len(operations) > MAX_OPERATIONS:
        raise ActionError(f"operations: at most {MAX_OPERATIONS}", kind="invalid_config")
    results: dict = {}
    for index, op in enumerate(operations):
        where = f"operations[{index}]"
        if not isinstance(op, Mapping) or op.get("op") not in OPERATIONS:
            name = op.get("op") if isinstance(op, Mapping) else op
            raise ActionError(
                f"{where}: unknown operation {name!r} (one of {', '.join(OPERATIONS)})",
                kind="invalid_config",
            )
        where = f"{where} ({op['op']})"
        target = op.get("as")
        if not isinstance(target, str) or not target:
            raise ActionError(f"{where}: 'as' names the result", kind="invalid_config")
        try:
            results[target] = OPERATIONS[op["op"]](_source(op, results), op, context)
        except _Problem as exc:
            raise ActionError(f"{where}: {exc}", kind="invalid_config") from None
    return results


def _source(op, results):
    if ("value" in op) == ("from" in op):
        raise _Problem("give either 'value' or 'from' (the name of an earlier result)")
    if "value" in op:
        return op["value"]
    found = _lookup(op["from"], results) if isinstance(op["from"], str) else MISSING
    if found is MISSING:
        raise _Problem(
            f"from: no earlier operation produced {op['from']!r} "
            f"(so far: {', '.join(results) or 'none'})"
        )
    return found


# --- the action ----------------------------------------------------------------------------

_SOURCE = {
    "value": {
        "title": "Value",
        "description": 'The data to work on, usually one {{ }}: "{{ invoices }}"',
        "templated": True,
    },
    "from": {
        "type": "string",
        "title": "From an earlier result",
        "description": "Instead of value: the 'as' name of an earlier operation (or a path in it)",
    },
    "as": {
        "type": "string",
        "title": "Result name",
        "pattern": NAME_PATTERN,
        "description": "The key of the step's output that holds the result",
    },
}
_FIELD_SPEC = {
    "oneOf": [
        {"type": "string", "title": "Path in the item"},
        {
            "type": "object",
            "required": ["path"],
            "additionalProperties": False,
            "properties": {
                "path": {"type": "string", "title": "Path in the item"},
                "date": {"type": "string", "title": "Date format", "examples": ["%d %b %Y"]},
                "number": {"type": "integer", "minimum": 0, "maximum": 20, "title": "Decimals"},
                "default": {"title": "When absent or null"},
            },
        },
    ]
}


def _operation(name, title, description, required=(), **properties):
    return {
        "type": "object",
        "title": title,
        "description": description,
        "required": ["op", "as", *required],
        "additionalProperties": False,
        "properties": {"op": {"const": name}, **_SOURCE, **properties},
    }


def _text(title, **rules):
    return {"type": "string", "title": title, **rules}


def _flag(title):
    return {"type": "boolean", "title": title, "default": True}


OPERATION_SCHEMAS = [
    _operation(
        "pick",
        "Pick",
        "Keep the named keys of an object (or of each object of a list)",
        ["fields"],
        fields={"type": "array", "items": {"type": "string"}, "title": "Keys"},
    ),
    _operation(
        "rename",
        "Rename",
        "Rename keys: {old: new}",
        ["fields"],
        fields={"type": "object", "additionalProperties": {"type": "string"}, "title": "Names"},
    ),
    _operation(
        "map",
        "Map over a list",
        "Each item becomes {new name: path in the item (optionally formatted)}",
        ["fields"],
        fields={"type": "object", "minProperties": 1, "additionalProperties": _FIELD_SPEC},
    ),
    _operation(
        "format_date",
        "Format a date",
        "strftime directives such as %d %b %Y %H:%M",
        ["format"],
        format=_text("Format", default="%Y-%m-%d"),
    ),
    _operation(
        "format_number",
        "Format a number",
        "Exact, rounded half up, with optional separators",
        decimals={
            "type": "integer",
            "minimum": 0,
            "maximum": 20,
            "default": 2,
            "title": "Decimals",
        },
        thousands=_text("Thousands separator", enum=list(SEPARATORS), default=""),
        decimal_point=_text("Decimal point", enum=[".", ","], default="."),
    ),
    _operation(
        "join",
        "Join a list into text",
        "Optionally a field of each item",
        separator=_text("Separator", default=", ", maxLength=MAX_SEPARATOR),
        field=_text("Path in each item"),
    ),
    _operation(
        "split",
        "Split text into a list",
        "Pieces trimmed, empty pieces dropped (both optional)",
        ["separator"],
        separator=_text("Separator", minLength=1, maxLength=MAX_SEPARATOR),
        trim=_flag("Trim pieces"),
        skip_empty=_flag("Drop empty pieces"),
    ),
    _operation(
        "defaults",
        "Default values",
        "Fill keys that are absent, null or empty",
        ["values"],
        values={"type": "object", "minProperties": 1, "title": "Defaults"},
    ),
]


class Transform(ActionType):
    """Reshape data into new variables: pick, rename, map over a list, format dates and
    numbers, join, split and fill in defaults. The result is an object with one key per
    operation's `as` name."""

    key = "transform"
    pure = True
    label = "Transform data"
    category = "data"
    icon = "shuffle"
    color = "#0891b2"
    outputs: ClassVar[list[str]] = []  # one key per `as`: bind the object with one name
    retry: ClassVar[dict] = {"max_attempts": 1}  # pure: a retry could only fail again
    config_schema: ClassVar[dict] = {
        "type": "object",
        "required": ["operations"],
        "additionalProperties": False,
        "properties": {
            "operations": {
                "type": "array",
                "title": "Operations",
                "description": "Applied in order; each stores its result under its 'as' name",
                "minItems": 1,
                "maxItems": MAX_OPERATIONS,
                "items": {"oneOf": OPERATION_SCHEMAS},
            }
        },
    }
    examples: ClassVar[list[dict]] = [
        {
            "operations": [
                {
                    "op": "pick",
                    "value": "{{ invoice }}",
                    "fields": ["number", "amount", "due_date"],
                    "as": "summary",
                },
                {
                    "op": "rename",
                    "from": "summary",
                    "fields": {"number": "invoice_number"},
                    "as": "summary",
                },
                {
                    "op": "format_date",
                    "value": "{{ invoice.due_date }}",
                    "format": "%d %B %Y",
                    "as": "due",
                },
                {
                    "op": "format_number",
                    "value": "{{ invoice.amount }}",
                    "decimals": 2,
                    "thousands": ",",
                    "as": "amount_text",
                },
            ]
        },
        {
            "operations": [
                {
                    "op": "map",
                    "value": "{{ invoices }}",
                    "fields": {
                        "number": "number",
                        "email": "customer.email",
                        "due": {"path": "due_date", "date": "%d %b %Y"},
                    },
                    "as": "rows",
                },
                {"op": "join", "from": "rows", "field": "number", "as": "numbers"},
            ]
        },
        {
            "operations": [
                {"op": "split", "value": "{{ lead.tags }}", "separator": ",", "as": "tags"},
                {
                    "op": "defaults",
                    "value": "{{ lead }}",
                    "values": {"source": "web"},
                    "as": "lead",
                },
            ]
        },
    ]

    def run(self, config, context):
        return transform(config, context)

    # Nothing leaves the process and nothing is written: test mode transforms for real.
    simulate = run
