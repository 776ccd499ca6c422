"""The condition evaluator: does `{"field": ..., "operator": ..., "value": ...}` hold for this run?

Condition nodes, switch cases and event-trigger filters all ask this one question, so the
typing rules live here once (see DEFINITION.md, "Conditions"):

- numbers compare as numbers whatever their JSON type (`"1250.00"` equals `1250`), exactly
  (Decimal, no float rounding); a boolean is not a number;
- dates are timezone-aware: a date alone is midnight in the workflow's timezone, a naive
  datetime is in that timezone, ISO 8601 strings (with `Z` or an offset) are dates;
- ordering holds on two numbers or two dates; anything else simply does not hold;
- a missing field is an answer, not a crash: the operator does not hold, except
  `not_exists`, `is_empty`, `not_equals` and `not_in`, which do.

What does raise:
- ConditionError for a condition that is wrong whatever the data: an unknown operator, `in`
  without a list, a `{{ }}` outside the grammar in `field` or `value`, a regular expression
  that could run for ever. The message starts with where it is ("conditions[1].value: ...").
- ExpressionError (from `workflows.variables`) when the data does not fit a `{{ }}` in
  `value`: most often UndefinedVariable. The `field` is the thing being tested, so its absence
  is an answer; the `value` is the yardstick, and a missing yardstick is a configuration
  problem the run should show rather than silently take the false branch.
  `{{ x | default(...) }}` makes a value optional.

`matches` runs only patterns that `workflows.patterns` lets through: Python's `re`
backtracks, and a pattern such as `(a+)+$` could keep a worker busy for minutes. A refused
pattern is a ConditionError ("value: matches: ...").
"""

from __future__ import annotations

import contextlib
import datetime as dt
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils import timezone

from workflows.patterns import RefusedPattern, compile_pattern
from workflows.values import MISSING, as_decimal, describe_type, parse_iso
from workflows.variables import ExpressionError, iter_templates, parse, parse_path, render

MAX_DEPTH = 32


class ConditionError(ValueError):
    """A condition that cannot be evaluated whatever the data: it is malformed."""


LOGICAL_TYPES: dict[str, str] = {
    "and": "all of the conditions hold",
    "or": "at least one of the conditions holds",
    "not": "the one condition does not hold",
}


@dataclass(frozen=True)
class _Clock:
    tz: dt.tzinfo
    now: dt.datetime

    @property
    def today(self) -> dt.date:
        return self.now.astimezone(self.tz).date()

    def moment(self, value: Any) -> dt.datetime | None:
        """A timezone-aware datetime from a date, datetime or ISO 8601 string, else None."""
        if isinstance(value, str):
            value = parse_iso(value)
        if isinstance(value, dt.datetime):
            return value if value.tzinfo is not None else value.replace(tzinfo=self.tz)
        if isinstance(value, dt.date):
            return dt.datetime.combine(value, dt.time(0), tzinfo=self.tz)
        return None

    def day(self, value: Any) -> dt.date | None:
        moment = self.moment(value)
        return None if moment is None else moment.astimezone(self.tz).date()


# --- comparisons -------------------------------------------------------------------------


def _equal(left: Any, right: Any) -> bool:
    left_number, right_number = as_decimal(left), as_decimal(right)
    if left_number is not None and right_number is not None:
        return left_number == right_number
    # Python says True == 1; JSON does not.
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(map(_equal, left, right))
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(_equal(left[k], right[k]) for k in left)
    return left == right


def _compare(left: Any, right: Any, clock: _Clock) -> int | None:
    """-1, 0 or 1 for two numbers or two dates; None when they have no order."""
    left_number, right_number = as_decimal(left), as_decimal(right)
    if left_number is not None and right_number is not None:
        return (left_number > right_number) - (left_number < right_number)
    left_moment, right_moment = clock.moment(left), clock.moment(right)
    if left_moment is not None and right_moment is not None:
        return (left_moment > right_moment) - (left_moment < right_moment)
    return None


def _ordered(*wanted: int) -> Callable[[Any, Any, _Clock], bool]:
    def test(field: Any, value: Any, clock: _Clock) -> bool:
        return _compare(field, value, clock) in wanted

    return test


def _dated(*wanted: int) -> Callable[[Any, Any, _Clock], bool]:
    def test(field: Any, value: Any, clock: _Clock) -> bool:
        left, right = clock.moment(field), clock.moment(value)
        return (
            left is not None and right is not None and ((left > right) - (left < right)) in wanted
        )

    return test


def _text(value: Any) -> str | None:
    """A string, or a number written as one; None for anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return str(value)
    return None


def _contains(field: Any, value: Any, clock: _Clock) -> bool:
    if isinstance(field, str):
        needle = _text(value)
        return needle is not None and needle in field
    if isinstance(field, list | tuple):
        return any(_equal(item, value) for item in field)
    if isinstance(field, Mapping):
        return isinstance(value, str) and value in field
    return False


def _starts_with(field: Any, value: Any, clock: _Clock) -> bool:
    return isinstance(field, str) and isinstance(value, str) and field.startswith(value)


def _ends_with(field: Any, value: Any, clock: _Clock) -> bool:
    return isinstance(field, str) and isinstance(value, str) and field.endswith(value)


def _is_empty(field: Any) -> bool:
    return (
        field is MISSING
        or field is None
        or (isinstance(field, str | list | tuple | Mapping) and len(field) == 0)
    )


def _between(field: Any, value: Any, clock: _Clock) -> bool:
    low, high = value
    return _compare(low, field, clock) in (-1, 0) and _compare(field, high, clock) in (-1, 0)


def _days_ago(field: Any, value: Any, clock: _Clock) -> bool:
    day = clock.day(field)
    return day is not None and (clock.today - day).days >= as_decimal(value)


def _days_from_now(field: Any, value: Any, clock: _Clock) -> bool:
    day = clock.day(field)
    return day is not None and 0 <= (day - clock.today).days <= as_decimal(value)


def _matches(field: Any, value: Any, clock: _Clock) -> bool:
    subject = _text(field)
    if subject is None:
        return False
    try:
        return compile_pattern(value).search(subject)
    except RefusedPattern as exc:
        raise ConditionError(f"matches: {exc}") from None


# --- the operator table ------------------------------------------------------------------

# What each operator needs in `value`, checked after rendering (and before, when no `{{ }}`
# is in the way). Each check returns a problem or "".


def _any_value(value: Any) -> str:
    return ""


def _string_value(value: Any) -> str:
    return "" if isinstance(value, str) else "the value must be a string"


def _list_value(value: Any) -> str:
    return "" if isinstance(value, list | tuple) else "the value must be a list"


def _pair_value(value: Any) -> str:
    if isinstance(value, list | tuple) and len(value) == 2:
        return ""
    return "the value must be a list of two items, [low, high]"


def _days_value(value: Any) -> str:
    days = as_decimal(value)
    if days is None or days < 0:
        return "the value must be a number of days (0 or more)"
    return ""


def _pattern_value(value: Any) -> str:
    if not isinstance(value, str):
        return "the value must be a regular expression (a string)"
    try:
        compile_pattern(value)
    except RefusedPattern as exc:
        return str(exc)
    return ""


def _is_date(value: Any) -> bool:
    return isinstance(value, dt.date) or (isinstance(value, str) and parse_iso(value) is not None)


def _orderable_value(value: Any) -> str:
    if as_decimal(value) is not None or _is_date(value):
        return ""
    return "the value must be a number or an ISO 8601 date"


def _date_value(value: Any) -> str:
    return "" if _is_date(value) else "the value must be an ISO 8601 date or datetime"


@dataclass(frozen=True)
class _Operator:
    description: str
    test: Callable[[Any, Any, _Clock], bool]
    # None: the operator reads no value. Otherwise the check of the rendered value.
    check_value: Callable[[Any], str] | None
    # The answer when the field is missing; None: the test itself looks at MISSING.
    when_missing: bool | None = False
    # Checks that only make sense on literals: a `{{ }}` may render to a date or a number,
    # and a literal that is neither is a mistake the validator can point at.
    check_literal: Callable[[Any], str] | None = None


_OPERATORS: dict[str, _Operator] = {
    "equals": _Operator(
        "is equal to the value (numbers compare as numbers)",
        lambda f, v, c: _equal(f, v),
        _any_value,
    ),
    "not_equals": _Operator(
        "is not equal to the value",
        lambda f, v, c: not _equal(f, v),
        _any_value,
        when_missing=True,
    ),
    "greater_than": _Operator(
        "is a number or date greater than the value",
        _ordered(1),
        _any_value,
        check_literal=_orderable_value,
    ),
    "less_than": _Operator(
        "is a number or date less than the value",
        _ordered(-1),
        _any_value,
        check_literal=_orderable_value,
    ),
    "greater_than_or_equal": _Operator(
        "is a number or date greater than or equal to the value",
        _ordered(1, 0),
        _any_value,
        check_literal=_orderable_value,
    ),
    "less_than_or_equal": _Operator(
        "is a number or date less than or equal to the value",
        _ordered(-1, 0),
        _any_value,
        check_literal=_orderable_value,
    ),
    "contains": _Operator(
        "contains the value (substring, list element or object key)", _contains, _any_value
    ),
    "starts_with": _Operator("is a string starting with the value", _starts_with, _string_value),
    "ends_with": _Operator("is a string ending with the value", _ends_with, _string_value),
    "in": _Operator(
        "is one of the values in the list",
        lambda f, v, c: any(_equal(f, item) for item in v),
        _list_value,
    ),
    "not_in": _Operator(
        "is none of the values in the list",
        lambda f, v, c: not any(_equal(f, item) for item in v),
        _list_value,
        when_missing=True,
    ),
    "matches": _Operator(
        "is a string in which the regular expression finds a match", _matches, _pattern_value
    ),
    "is_empty": _Operator(
        "is missing, null, or an empty string, list or object",
        lambda f, v, c: _is_empty(f),
        None,
        when_missing=None,
    ),
    "is_not_empty": _Operator(
        "has a value that is not empty",
        lambda f, v, c: not _is_empty(f),
        None,
        when_missing=None,
    ),
    "exists": _Operator(
        "is present (even if null)", lambda f, v, c: f is not MISSING, None, when_missing=None
    ),
    "not_exists": _Operator("is absent", lambda f, v, c: f is MISSING, None, when_missing=None),
    "before": _Operator(
        "is a date or datetime before the value",
        _dated(-1),
        _any_value,
        check_literal=_date_value,
    ),
    "after": _Operator(
        "is a date or datetime after the value",
        _dated(1),
        _any_value,
        check_literal=_date_value,
    ),
    "between": _Operator(
        "is between [low, high], inclusive (numbers or dates)",
        _between,
        _pair_value,
        check_literal=_orderable_value,
    ),
    "days_ago": _Operator("is a date at least this many days before today", _days_ago, _days_value),
    "days_from_now": _Operator(
        "is a date from today up to this many days ahead", _days_from_now, _days_value
    ),
}
# The builder's catalog: operator name -> what it means, in the order of DEFINITION.md.
OPERATORS: dict[str, str] = {name: op.description for name, op in _OPERATORS.items()}


# --- evaluation --------------------------------------------------------------------------


def evaluate(
    condition: Mapping[str, Any],
    variables: Mapping[str, Any],
    *,
    tz: zoneinfo.ZoneInfo | dt.tzinfo | str | None = None,
    now: dt.datetime | None = None,
) -> bool:
    """Whether `condition` holds for `variables`.

    `tz` is the workflow's timezone (a ZoneInfo or its name; default: Django's current one),
    `now` the application
    clock (default: `timezone.now()`, which tests freeze). Raises ConditionError for a
    malformed condition and ExpressionError for a malformed or undefined `{{ }}` in a value.
    """
    if isinstance(tz, str):
        tz = zoneinfo.ZoneInfo(tz)
    tz = tz or timezone.get_current_timezone()
    now = now or timezone.now()
    if now.tzinfo is None:
        now = now.replace(tzinfo=tz)
    clock = _Clock(tz, now)
    return _evaluate(condition, variables, clock, "", 0)


def _evaluate(
    condition: Any, variables: Mapping[str, Any], clock: _Clock, where: str, depth: int
) -> bool:
    children, problems = _children(condition, where, depth)
    if problems:
        path, message = problems[0]
        raise ConditionError(f"{path}: {message}" if path else message)
    if children is not None:
        kind = condition["type"]
        results = (_evaluate(child, variables, clock, at, depth + 1) for at, child in children)
        if kind == "and":
            return all(results)
        if kind == "or":
            return any(results)
        return not next(results)
    return _evaluate_leaf(condition, variables, clock, where)


def _evaluate_leaf(
    condition: Mapping[str, Any], variables: Mapping[str, Any], clock: _Clock, where: str
) -> bool:
    name = condition["operator"]
    operator = _OPERATORS[name]
    field = parse_path(condition["field"]).lookup(variables)
    value = None
    if operator.check_value is not None:
        raw = condition["value"]
        for path, text in iter_templates(raw):
            try:
                parse(text)
            except ExpressionError as exc:
                raise ConditionError(f"{_join(where, 'value')}{_suffix(path)}: {exc}") from None
        value = render(raw, variables)
        problem = operator.check_value(value)
        if problem:
            raise ConditionError(f"{_join(where, 'value')}: {name}: {problem}")
    if field is MISSING and operator.when_missing is not None:
        return operator.when_missing
    try:
        return operator.test(field, value, clock)
    except ConditionError as exc:
        raise ConditionError(f"{where}: {exc}" if where else str(exc)) from None


def _suffix(path: tuple[str | int, ...]) -> str:
    """A JSON path inside `value` as the validator writes it: `[1]`, `['key']`."""
    return "".join(f"[{segment!r}]" for segment in path)


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _children(
    condition: Any, where: str, depth: int
) -> tuple[list[tuple[str, Any]] | None, list[tuple[str, str]]]:
    """A node's sub-conditions (None for a leaf) and the problems of this node alone."""
    if depth > MAX_DEPTH:
        return None, [(where, f"conditions are nested more than {MAX_DEPTH} deep")]
    if not isinstance(condition, Mapping):
        return None, [(where, "a condition must be an object")]
    kind = condition.get("type")
    if kind is None:
        return None, _leaf_problems(condition, where)
    if not isinstance(kind, str) or kind not in LOGICAL_TYPES:
        return None, [(_join(where, "type"), _unknown("type", kind, LOGICAL_TYPES))]
    if kind == "not" and "conditions" not in condition and "condition" in condition:
        return [(_join(where, "condition"), condition["condition"])], []
    items = condition.get("conditions")
    at = _join(where, "conditions")
    if not isinstance(items, list) or not items:
        return None, [(at, f"'{kind}' needs a non-empty list of conditions")]
    if kind == "not" and len(items) != 1:
        return None, [(at, f"'not' takes exactly one condition, not {len(items)}")]
    return [(f"{at}[{i}]", item) for i, item in enumerate(items)], []


def _leaf_problems(condition: Mapping[str, Any], where: str) -> list[tuple[str, str]]:
    problems = []
    field = condition.get("field")
    if not isinstance(field, str) or not field.strip():
        problems.append((_join(where, "field"), "a condition needs a field, e.g. invoice.amount"))
    else:
        try:
            parse_path(field)
        except ExpressionError as exc:
            problems.append((_join(where, "field"), str(exc)))
    name = condition.get("operator")
    operator = _OPERATORS.get(name) if isinstance(name, str) else None
    if operator is None:
        message = (
            _unknown("operator", name, OPERATORS)
            if name is not None
            else "a condition needs an operator"
        )
        problems.append((_join(where, "operator"), message))
    elif operator.check_value is not None and "value" not in condition:
        problems.append((_join(where, "value"), f"{name} needs a value"))
    return problems


def _unknown(what: str, name: Any, known: Iterable[str]) -> str:
    """Why `name` is no `type` or `operator` (a list or an object is described, not shown)."""
    choices = ", ".join(known)
    if isinstance(name, str):
        return f"unknown {what} {name!r}; the {what}s are {choices}"
    # A list or an object is no name (and not hashable): say what it is, not all of it.
    return f"the {what} must be a name, not {describe_type(name)}; the {what}s are {choices}"


# --- static checks for the validator -----------------------------------------------------


def validate_condition(condition: Any) -> list[tuple[str, str]]:
    """Every problem of a condition that shows without data, as (path, message); never raises.

    Paths are relative to the condition: "operator", "conditions[1].value[0]".
    """
    return _validate(condition, "", 0)


def _validate(condition: Any, where: str, depth: int) -> list[tuple[str, str]]:
    children, problems = _children(condition, where, depth)
    if children is not None:
        for at, child in children:
            problems.extend(_validate(child, at, depth + 1))
        return problems
    if not isinstance(condition, Mapping) or condition.get("type") is not None:
        return problems
    name = condition.get("operator")
    operator = _OPERATORS.get(name) if isinstance(name, str) else None
    if operator is not None and operator.check_value is not None and "value" in condition:
        problems.extend(_value_problems(name, operator, condition["value"], where))
    return problems


def _value_problems(
    name: str, operator: _Operator, value: Any, where: str
) -> list[tuple[str, str]]:
    at = _join(where, "value")
    problems = []
    for path, text in iter_templates(value):
        try:
            parse(text)
        except ExpressionError as exc:
            problems.append((at + _suffix(path), str(exc)))
    if problems or _is_template(value):
        # What a `{{ }}` renders to is only known at run time.
        return problems
    problem = operator.check_value(value) if operator.check_value else ""
    if problem:
        return [(at, f"{name}: {problem}")]
    items = value if name == "between" else [value]
    for i, item in enumerate(items):
        if operator.check_literal is None or _is_template(item):
            continue
        problem = operator.check_literal(item)
        if problem:
            return [(f"{at}[{i}]" if name == "between" else at, f"{name}: {problem}")]
    return []


def _is_template(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


def condition_paths(condition: Any) -> list[str]:
    """The variable paths a condition reads, in order, without repeats (malformed ones are
    skipped: validate_condition reports them)."""
    paths: list[str] = []
    _collect_paths(condition, paths, 0)
    return list(dict.fromkeys(paths))


def _collect_paths(condition: Any, paths: list[str], depth: int) -> None:
    children, _problems = _children(condition, "", depth)
    if children is not None:
        for _, child in children:
            _collect_paths(child, paths, depth + 1)
        return
    if not isinstance(condition, Mapping):
        return
    field = condition.get("field")
    if isinstance(field, str):
        with contextlib.suppress(ExpressionError):
            paths.append(parse_path(field).path_text)
    for _, text in iter_templates(condition.get("value")):
        with contextlib.suppress(ExpressionError):
            paths.extend(expr.path_text for expr in parse(text).expressions)
