"""The values of a run's data as lookups, filters and conditions see them.

A workflow's data is JSON (trigger payloads, record snapshots, action outputs), with dates
and Decimals where the engine put them. Three modules read it: the `{{ }}` lookups
(`workflows.variables`), their filters (`workflows.filters`) and the condition evaluator
(`workflows.conditions`). They must agree on what a value is, so the shared readings live
here once:

- MISSING: "this path is not in the data", which is not null;
- numbers: a JSON number or a numeric string, as an exact, finite Decimal (a boolean is not
  a number, and 0.1 stays 0.1);
- dates: an ISO 8601 date or datetime string (with `Z` or an offset), or a date object;
- text: how a value reads inside a larger string (null is empty, booleans and containers
  read as JSON, dates as ISO 8601), and how it is quoted, cut short, in an error message.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
from collections.abc import Mapping
from typing import Any

_QUOTE_LIMIT = 80
_ISO_DATE_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}"
    r"(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?)?"
    r"(?:Z|z|[+-]\d{2}(?::?\d{2})?)?"
)
_NUMERIC_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


class _Missing:
    """The sentinel type for "this path is not in the data" (distinct from null)."""

    _instance: _Missing | None = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self):
        return "MISSING"

    def __bool__(self):
        return False


MISSING: Any = _Missing()


def describe_type(value: Any) -> str:
    """A value's JSON type in words, for messages: "a string", "null", "an object"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float | decimal.Decimal):
        return "a number"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    # Something that is not JSON (an object the engine put in the data): its attributes are
    # never read, so it is opaque.
    return "not JSON data"


def as_decimal(value: Any) -> decimal.Decimal | None:
    """A finite number from a JSON number or a numeric string; bool is not a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return decimal.Decimal(value)
    if isinstance(value, float):
        # repr() is the shortest text that round-trips: 0.1 stays 0.1, not 0.1000000000000000055.
        number = decimal.Decimal(repr(value))
    elif isinstance(value, decimal.Decimal):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > 100 or not _NUMERIC_RE.fullmatch(text):
            return None
        number = decimal.Decimal(text)
    else:
        return None
    return number if number.is_finite() else None


def parse_iso(value: str) -> dt.date | dt.datetime | None:
    """An ISO 8601 date or datetime (with `Z` or an offset), or None if it is not one."""
    text = value.strip()
    if len(text) > 40 or not _ISO_DATE_RE.fullmatch(text):
        return None
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
        return dt.datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None


def to_text(value: Any) -> str:
    """How a value reads inside a larger string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Mapping | list | tuple):
        return compact_json(value)
    return str(value)


def compact_json(value: Any) -> str:
    """A value as JSON without spaces; dates as ISO 8601, anything else not JSON as text."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def _json_default(value: Any) -> str:
    # Dates keep ISO 8601 rather than str()'s space-separated form; anything else is text.
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def quote(text: str) -> str:
    """The offending text for an error message, cut short so a 100 KB template stays out."""
    if len(text) > _QUOTE_LIMIT:
        text = text[: _QUOTE_LIMIT - 1] + "…"
    return repr(text)
