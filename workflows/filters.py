"""The filters a `{{ }}` may apply: `{{ path | filter | filter(arg) }}`.

Filters are where a template language grows back into a programming language: Jinja2's
`attr` filter reads any attribute of an object (`x | attr('__class__')`), `map` calls other
filters by name, and a filter whose argument is an expression is a way back into code. So the
grammar (`workflows.variables`) permits a short allowlist, and this module is all of it:

    default(x)          the fallback for a missing value, null or ""
    upper, lower        the value as text, in one case
    date("%Y-%m-%d")    a date, datetime or ISO 8601 string, formatted by strftime
    add_days(-7)        a date or datetime moved by whole days (relative dates in
    add_hours(4)        filters: `{"paid_at": {"$gte": "{{ today | add_days(-7) }}"}}`)
    number(2)           a number, Decimal-exact, rounded half up to fixed decimals
    json                the value as compact JSON text
    length              the length of a string, list or object (0 for null)

Arguments are literals only, and each filter checks them when the template is parsed: a
date format may hold the strftime directives and text but no braces, a number of decimals
is 0 to 20. A value of the wrong kind (`number` of "abc") is only known when rendering, and
raises FilterError. A missing value passes every filter but `default` unchanged, so
`{{ x | upper | default("") }}` works.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from workflows.values import (
    MISSING,
    as_decimal,
    compact_json,
    describe_type,
    parse_iso,
    quote,
    to_text,
)

MAX_DATE_FORMAT_LENGTH = 64
MAX_DECIMALS = 20

_DATE_FORMAT_RE = re.compile(r"(?:[^%{}]|%[aAwdbBmyYHIpMSfzZjUWcxXGuV%])*")


class FilterError(ValueError):
    """A value a filter cannot handle (the lookup adds which `{{ }}` it was)."""


@dataclass(frozen=True)
class Filter:
    """One filter: what it does to a value, and the arguments it takes."""

    name: str
    function: Callable[..., Any]
    arity: tuple[int, int]
    usage: str
    check_args: Callable[[tuple[Any, ...]], str] | None = None
    # `default` is the one filter that sees a missing value; the rest pass it through.
    sees_missing: bool = False

    def args_problem(self, args: tuple[Any, ...]) -> str:
        """Why these (literal) arguments do not fit this filter, or ""."""
        low, high = self.arity
        if not low <= len(args) <= high:
            return (
                f"filter {self.name!r} takes {low if low == high else f'{low} to {high}'} "
                f"argument(s), as in {self.usage}"
            )
        return self.check_args(args) if self.check_args else ""

    def apply(self, value: Any, args: tuple[Any, ...]) -> Any:
        """The filtered value; raises FilterError for a value of the wrong kind."""
        if value is MISSING and not self.sees_missing:
            return value
        return self.function(value, *args)


# --- what each filter does ---------------------------------------------------------------


def _default(value: Any, fallback: Any) -> Any:
    return fallback if value is MISSING or value is None or value == "" else value


def _upper(value: Any) -> Any:
    return None if value is None else to_text(value).upper()


def _lower(value: Any) -> Any:
    return None if value is None else to_text(value).lower()


def _date(value: Any, fmt: str) -> Any:
    if value is None:
        return None
    moment = parse_iso(value) if isinstance(value, str) else value
    if not isinstance(moment, dt.date):
        raise FilterError(f"date: {quote(to_text(value))} is not an ISO 8601 date or datetime")
    return moment.strftime(fmt)


def _shifted(name: str, value: Any, delta: dt.timedelta) -> Any:
    if value is None:
        return None
    moment = parse_iso(value) if isinstance(value, str) else value
    if not isinstance(moment, dt.date):
        raise FilterError(f"{name}: {quote(to_text(value))} is not an ISO 8601 date or datetime")
    if name == "add_hours" and not isinstance(moment, dt.datetime):
        moment = dt.datetime.combine(moment, dt.time())
    try:
        return (moment + delta).isoformat()
    except OverflowError:
        raise FilterError(f"{name}: the result is out of the calendar's range") from None


def _add_days(value: Any, days: int) -> Any:
    return _shifted("add_days", value, dt.timedelta(days=days))


def _add_hours(value: Any, hours: int) -> Any:
    return _shifted("add_hours", value, dt.timedelta(hours=hours))


def _number(value: Any, places: int) -> Any:
    if value is None:
        return None
    number = as_decimal(value)
    if number is None:
        raise FilterError(f"number: {quote(to_text(value))} is not a number")
    if abs(number.adjusted()) > 100:
        raise FilterError(f"number: {quote(to_text(value))} is too large to format")
    with decimal.localcontext() as context:
        context.prec = 250
        exact = number.quantize(decimal.Decimal(1).scaleb(-places), decimal.ROUND_HALF_UP)
    return format(exact, "f")


def _json(value: Any) -> Any:
    return compact_json(value)


def _length(value: Any) -> Any:
    if value is None:
        return 0
    if isinstance(value, str | list | tuple | Mapping):
        return len(value)
    raise FilterError(f"length: {describe_type(value)} has no length")


# --- what each filter accepts as arguments -----------------------------------------------


def _check_date_args(args: tuple[Any, ...]) -> str:
    (fmt,) = args
    if not isinstance(fmt, str):
        return 'date() takes a quoted format such as date("%Y-%m-%d")'
    if len(fmt) > MAX_DATE_FORMAT_LENGTH:
        return f"the date format is longer than {MAX_DATE_FORMAT_LENGTH} characters"
    if not _DATE_FORMAT_RE.fullmatch(fmt):
        return (
            f"the date format {quote(fmt)} may hold text and the directives "
            "%a %A %w %d %b %B %m %y %Y %H %I %p %M %S %f %z %Z %j %U %W %c %x %X %G %u %V %%, "
            "and no braces"
        )
    return ""


def _check_number_args(args: tuple[Any, ...]) -> str:
    (places,) = args
    if isinstance(places, bool) or not isinstance(places, int) or not 0 <= places <= MAX_DECIMALS:
        return f"number() takes a count of decimals from 0 to {MAX_DECIMALS}, e.g. number(2)"
    return ""


MAX_SHIFT = 100_000  # days or hours: far beyond any business use, well inside the calendar


def _check_shift_args(args: tuple[Any, ...]) -> str:
    (amount,) = args
    if isinstance(amount, bool) or not isinstance(amount, int) or abs(amount) > MAX_SHIFT:
        return (
            f"add_days() and add_hours() take a whole number up to {MAX_SHIFT}, e.g. add_days(-7)"
        )
    return ""


# The allowlist, in the order error messages name it.
FILTERS: dict[str, Filter] = {
    spec.name: spec
    for spec in (
        Filter("default", _default, (1, 1), 'default("fallback")', sees_missing=True),
        Filter("upper", _upper, (0, 0), "upper"),
        Filter("lower", _lower, (0, 0), "lower"),
        Filter("date", _date, (1, 1), 'date("%Y-%m-%d")', _check_date_args),
        Filter("number", _number, (1, 1), "number(2)", _check_number_args),
        Filter("add_days", _add_days, (1, 1), "add_days(-7)", _check_shift_args),
        Filter("add_hours", _add_hours, (1, 1), "add_hours(4)", _check_shift_args),
        Filter("json", _json, (0, 0), "json"),
        Filter("length", _length, (0, 0), "length"),
    )
}
