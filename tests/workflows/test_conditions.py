"""The condition evaluator: every operator of DEFINITION.md, its typing rules and its errors."""

import datetime as dt
import zoneinfo

import pytest
import time_machine
from django.utils import timezone

from workflows.conditions import (
    LOGICAL_TYPES,
    OPERATORS,
    ConditionError,
    condition_paths,
    evaluate,
    validate_condition,
)
from workflows.patterns import MAX_MATCH_INPUT
from workflows.variables import UndefinedVariable

UTC = dt.UTC
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
# The application clock for most tests: Thursday 26 November 2026, 09:00 UTC (10:00 Berlin).
NOW = dt.datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
# Late in the evening in UTC, already the next day in Berlin; still the day before in New York.
LATE_UTC = dt.datetime(2026, 11, 25, 23, 30, tzinfo=UTC)
EARLY_UTC = dt.datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
# The day after Berlin's clocks went back (25 October 2026), early and late.
FALL_MORNING = dt.datetime(2026, 10, 26, 0, 30, tzinfo=BERLIN)
FALL_NIGHT = dt.datetime(2026, 10, 26, 23, 30, tzinfo=BERLIN)

# Event trigger data as DEFINITION.md shapes it, plus a few values of every JSON type.
DATA = {
    "invoice": {
        "id": 42,
        "number": "INV-0042",
        "amount": "1250.00",
        "status": "overdue",
        "due_date": "2026-11-10",
        "reminder_count": 1,
        "paid": False,
        "notes": None,
        "tags": ["urgent", "eu"],
        "line_ids": [3, 5, 8],
        "meta": {"source": "import"},
        "customer": {"id": 7, "email": "billing@acme.example", "type": "enterprise"},
    },
    "customer": {"id": 7, "name": "Acme", "type": "enterprise"},
    "lead": {"score": 80, "score_text": "80", "ratio": 0.1, "big": "12345678901234567890.5"},
    "empty": {"text": "", "list": [], "object": {}, "space": " ", "zero": 0, "false": False},
    "threshold": 1000,
    "allowed": ["overdue", "sent"],
    "low": "2026-11-01",
    "high": "2026-11-30",
    "contract": {"start": "2026-12-01"},
    "obj": object(),
}


_NO_VALUE = object()


def leaf(field, operator, value=_NO_VALUE):
    condition = {"field": field, "operator": operator}
    if value is not _NO_VALUE:
        condition["value"] = value
    return condition


def holds(condition, data=DATA, **kwargs):
    kwargs.setdefault("tz", UTC)
    kwargs.setdefault("now", NOW)
    return evaluate(condition, data, **kwargs)


# --- every operator: holds, does not hold, wrong types, missing ---------------------------


@pytest.mark.parametrize(
    ("field", "operator", "value", "expected"),
    [
        # equals: numbers compare as numbers whatever their JSON type
        ("invoice.amount", "equals", 1250, True),
        ("invoice.amount", "equals", 1250.0, True),
        ("invoice.amount", "equals", "1250", True),
        ("invoice.amount", "equals", "1250.000", True),
        ("invoice.amount", "equals", 1250.01, False),
        ("lead.score_text", "equals", 80, True),
        ("lead.score", "equals", "80.0", True),
        ("lead.score", "equals", "1e3", False),
        # exact decimals, no float noise: 0.1 is 0.1, and 20 digits survive
        ("lead.ratio", "equals", "0.1", True),
        ("lead.big", "equals", "12345678901234567890.50", True),
        ("lead.big", "equals", 12345678901234567890, False),
        # strings compare exactly (case and spaces matter)
        ("customer.type", "equals", "enterprise", True),
        ("customer.type", "equals", "Enterprise", False),
        ("customer.type", "equals", "enterprise ", False),
        # a boolean is not a number
        ("invoice.paid", "equals", False, True),
        ("invoice.paid", "equals", 0, False),
        ("invoice.paid", "equals", "false", False),
        ("empty.zero", "equals", False, False),
        # null, lists and objects
        ("invoice.notes", "equals", None, True),
        ("invoice.notes", "equals", "", False),
        ("invoice.tags", "equals", ["urgent", "eu"], True),
        ("invoice.line_ids", "equals", ["3", 5, 8.0], True),
        ("invoice.tags", "equals", ["eu", "urgent"], False),
        ("invoice.meta", "equals", {"source": "import"}, True),
        # dates as text are text: equals is simple
        ("invoice.due_date", "equals", "2026-11-10", True),
        ("invoice.due_date", "equals", "2026-11-10T00:00:00", False),
        # a missing field is not equal to anything
        ("invoice.missing", "equals", "x", False),
        ("nope.deeper", "equals", None, False),
        # not_equals: the negation, and a missing field holds
        ("invoice.amount", "not_equals", 1250, False),
        ("customer.type", "not_equals", "smb", True),
        ("invoice.paid", "not_equals", 0, True),
        ("invoice.missing", "not_equals", "x", True),
        # ordering: numbers, numeric strings, Decimal-exact
        ("invoice.amount", "greater_than", 1000, True),
        ("invoice.amount", "greater_than", "1250.00", False),
        ("invoice.amount", "greater_than", 1249.99, True),
        ("invoice.amount", "greater_than_or_equal", "1250", True),
        ("invoice.amount", "less_than", 1250.001, True),
        ("invoice.amount", "less_than_or_equal", 1250, True),
        ("invoice.amount", "less_than_or_equal", 1249, False),
        ("lead.big", "greater_than", "12345678901234567890.4", True),
        ("invoice.reminder_count", "less_than", 3, True),
        ("invoice.reminder_count", "less_than", "1", False),
        # ordering: dates, when both sides are dates
        ("invoice.due_date", "less_than", "2026-11-11", True),
        ("invoice.due_date", "greater_than", "2026-11-09T23:59:59Z", True),
        ("invoice.due_date", "greater_than_or_equal", "2026-11-10T00:00:00+00:00", True),
        # ordering: anything else does not hold (and does not raise)
        ("customer.type", "greater_than", "a", False),
        ("customer.type", "less_than", 5, False),
        ("invoice.amount", "greater_than", "abc", False),
        ("invoice.paid", "less_than", 1, False),
        ("invoice.notes", "less_than", 1, False),
        ("invoice.tags", "greater_than", 1, False),
        ("invoice.meta", "greater_than", 1, False),
        ("invoice.due_date", "greater_than", 1000, False),
        ("invoice.missing", "greater_than", 0, False),
        ("invoice.missing", "less_than_or_equal", 0, False),
        # contains: substring, list element (numbers as numbers), object key
        ("invoice.number", "contains", "0042", True),
        ("invoice.number", "contains", "inv", False),
        ("invoice.number", "contains", 42, True),
        ("invoice.tags", "contains", "eu", True),
        ("invoice.tags", "contains", "e", False),
        ("invoice.line_ids", "contains", "5", True),
        ("invoice.line_ids", "contains", 4, False),
        ("invoice.meta", "contains", "source", True),
        ("invoice.meta", "contains", "import", False),
        ("invoice.id", "contains", 4, False),
        ("invoice.notes", "contains", "x", False),
        ("invoice.number", "contains", ["0042"], False),
        ("invoice.missing", "contains", "x", False),
        # starts_with / ends_with: of a string
        ("invoice.number", "starts_with", "INV-", True),
        ("invoice.number", "starts_with", "inv-", False),
        ("invoice.number", "ends_with", "42", True),
        ("invoice.number", "ends_with", "INV", False),
        ("invoice.id", "starts_with", "4", False),
        ("invoice.tags", "starts_with", "urgent", False),
        ("invoice.missing", "starts_with", "x", False),
        ("invoice.missing", "ends_with", "x", False),
        # in / not_in: the value is a list
        ("invoice.status", "in", ["overdue", "sent"], True),
        ("invoice.status", "in", ["paid"], False),
        ("invoice.amount", "in", [1000, 1250], True),
        ("invoice.paid", "in", [0, 1], False),
        ("invoice.notes", "in", [None], True),
        ("invoice.status", "in", [], False),
        ("invoice.missing", "in", ["x", None], False),
        ("invoice.status", "not_in", ["paid", "void"], True),
        ("invoice.status", "not_in", ["overdue"], False),
        ("invoice.missing", "not_in", ["x"], True),
        # matches: a regular expression search
        ("invoice.number", "matches", r"^INV-\d{4}$", True),
        ("invoice.number", "matches", r"\d{5}", False),
        ("invoice.customer.email", "matches", r"(?i)@ACME\.example$", True),
        ("invoice.id", "matches", r"^4\d$", True),
        ("invoice.tags", "matches", "urgent", False),
        ("invoice.notes", "matches", ".*", False),
        ("invoice.missing", "matches", ".*", False),
        # is_empty / is_not_empty: missing, null, "", [] and {} are empty
        ("invoice.missing", "is_empty", None, True),
        ("invoice.notes", "is_empty", None, True),
        ("empty.text", "is_empty", None, True),
        ("empty.list", "is_empty", None, True),
        ("empty.object", "is_empty", None, True),
        ("empty.space", "is_empty", None, False),
        ("empty.zero", "is_empty", None, False),
        ("empty.false", "is_empty", None, False),
        ("invoice.number", "is_empty", None, False),
        ("invoice.missing", "is_not_empty", None, False),
        ("empty.list", "is_not_empty", None, False),
        ("empty.zero", "is_not_empty", None, True),
        ("invoice.tags", "is_not_empty", None, True),
        # exists / not_exists: present even if null
        ("invoice.notes", "exists", None, True),
        ("empty.false", "exists", None, True),
        ("invoice.missing", "exists", None, False),
        ("nope", "exists", None, False),
        ("invoice.tags[1]", "exists", None, True),
        ("invoice.tags[2]", "exists", None, False),
        ("invoice.notes", "not_exists", None, False),
        ("invoice.missing", "not_exists", None, True),
        ("invoice.number.deeper", "not_exists", None, True),
        # a Python object in the data is opaque: none of its attributes "exist"
        ("obj.__doc__", "not_exists", None, "error"),
        ("obj.real", "not_exists", None, True),
        # before / after: dates only
        ("invoice.due_date", "before", "2026-11-11", True),
        ("invoice.due_date", "before", "2026-11-10", False),
        ("invoice.due_date", "after", "2026-11-09T12:00:00Z", True),
        ("invoice.due_date", "after", "2026-11-10", False),
        ("invoice.due_date", "before", 20261111, False),
        ("invoice.amount", "before", "2026-11-11", False),
        ("customer.type", "after", "2026-01-01", False),
        ("invoice.due_date", "before", "not a date", False),
        ("invoice.due_date", "before", "2026-13-45", False),
        ("invoice.missing", "before", "2026-11-11", False),
        ("invoice.missing", "after", "2026-11-11", False),
        # between: inclusive, numbers or dates, never mixed
        ("invoice.amount", "between", [1000, "1250.00"], True),
        ("invoice.amount", "between", ["1250", 2000], True),
        ("invoice.amount", "between", [1250.01, 2000], False),
        ("invoice.amount", "between", [2000, 1000], False),
        ("invoice.due_date", "between", ["2026-11-01", "2026-11-10"], True),
        ("invoice.due_date", "between", ["2026-11-11", "2026-11-30"], False),
        ("invoice.due_date", "between", [1, 100000000], False),
        ("invoice.amount", "between", ["2026-01-01", "2027-01-01"], False),
        ("customer.type", "between", ["a", "z"], False),
        ("invoice.missing", "between", [0, 1], False),
        # days_ago: at least `value` days before today (26 Nov); the due date is 16 days ago
        ("invoice.due_date", "days_ago", 7, True),
        ("invoice.due_date", "days_ago", 16, True),
        ("invoice.due_date", "days_ago", 17, False),
        ("invoice.due_date", "days_ago", "16", True),
        ("invoice.due_date", "days_ago", 0, True),
        ("contract.start", "days_ago", 0, False),
        ("customer.type", "days_ago", 1, False),
        ("invoice.id", "days_ago", 1, False),
        ("invoice.missing", "days_ago", 1, False),
        # days_from_now: today or later, at most `value` days ahead (1 Dec is 5 days ahead)
        ("contract.start", "days_from_now", 5, True),
        ("contract.start", "days_from_now", 4, False),
        ("contract.start", "days_from_now", 30, True),
        ("invoice.due_date", "days_from_now", 30, False),
        ("invoice.notes", "days_from_now", 30, False),
        ("invoice.missing", "days_from_now", 30, False),
    ],
)
def test_operator(field, operator, value, expected):
    condition = leaf(field, operator, value)
    if expected == "error":
        with pytest.raises(ConditionError, match="field: "):
            holds(condition)
        return

    assert holds(condition) is expected
    # the same field in braces reads the same data
    assert holds({**condition, "field": "{{" + field + "}}"}) is expected


def test_every_operator_of_the_definition_is_in_the_catalog():
    # DEFINITION.md, "Conditions", in the order of its table
    documented = [
        "equals", "not_equals",
        "greater_than", "less_than", "greater_than_or_equal", "less_than_or_equal",
        "contains", "starts_with", "ends_with", "in", "not_in", "matches",
        "is_empty", "is_not_empty", "exists", "not_exists",
        "before", "after", "between", "days_ago", "days_from_now",
    ]  # fmt: skip

    assert list(OPERATORS) == documented
    assert set(LOGICAL_TYPES) == {"and", "or", "not"}
    assert all(OPERATORS.values())


def test_today_is_a_date_and_equals_itself():
    # a date object (the `today` built-in) and a date string on the same day
    data = {"today": dt.date(2026, 11, 26), "when": "2026-11-26"}

    assert holds(leaf("when", "days_ago", 0), data)
    assert holds(leaf("when", "days_from_now", 0), data)
    assert holds(leaf("today", "before", "2026-11-27"), data)
    assert not holds(leaf("today", "after", "{{ when }}"), data)


# --- the seed's example ------------------------------------------------------------------

SEED_CONDITION = {
    "type": "and",
    "conditions": [
        {"field": "invoice.amount", "operator": "greater_than", "value": 1000},
        {"field": "customer.type", "operator": "equals", "value": "enterprise"},
    ],
}


@pytest.mark.parametrize(
    ("amount", "customer_type", "expected"),
    [
        ("1250.00", "enterprise", True),  # records carry decimals as strings
        (1250, "enterprise", True),
        ("1000.00", "enterprise", False),  # greater than, not equal
        ("1000.01", "enterprise", True),
        ("5000", "smb", False),
        (None, "enterprise", False),
    ],
)
def test_seed_example_condition(amount, customer_type, expected):
    data = {"invoice": {"amount": amount}, "customer": {"type": customer_type}}

    assert holds(SEED_CONDITION, data) is expected


def test_seed_example_with_a_missing_record_does_not_hold():
    assert holds(SEED_CONDITION, {"customer": {"type": "enterprise"}}) is False


def test_seed_loop_condition():
    condition = {"field": "{{invoice.reminder_count}}", "operator": "less_than", "value": 3}

    assert holds(condition, {"invoice": {"reminder_count": 2}})
    assert not holds(condition, {"invoice": {"reminder_count": 3}})
    assert not holds(condition, {"invoice": {}})


# --- logical types -----------------------------------------------------------------------

TRUE = leaf("customer.type", "equals", "enterprise")
FALSE = leaf("customer.type", "equals", "smb")


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"type": "and", "conditions": [TRUE, TRUE]}, True),
        ({"type": "and", "conditions": [TRUE, FALSE]}, False),
        ({"type": "or", "conditions": [FALSE, TRUE]}, True),
        ({"type": "or", "conditions": [FALSE, FALSE]}, False),
        ({"type": "not", "conditions": [TRUE]}, False),
        ({"type": "not", "conditions": [FALSE]}, True),
        # `not` also takes a single `condition` object
        ({"type": "not", "condition": FALSE}, True),
        # nesting
        (
            {
                "type": "or",
                "conditions": [
                    {"type": "and", "conditions": [TRUE, FALSE]},
                    {"type": "not", "conditions": [{"type": "or", "conditions": [FALSE]}]},
                ],
            },
            True,
        ),
        # `and` stops at the first false: the later, broken, condition is never reached
        (
            {"type": "and", "conditions": [FALSE, {"field": "x", "operator": "in", "value": 1}]},
            False,
        ),
        ({"type": "or", "conditions": [TRUE, {"field": "x", "operator": "in", "value": 1}]}, True),
    ],
)
def test_logical_types(condition, expected):
    assert holds(condition) is expected


# --- values with {{ }} -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (leaf("invoice.amount", "greater_than", "{{ threshold }}"), True),
        (leaf("invoice.amount", "greater_than", "{{threshold}}"), True),
        (leaf("invoice.customer.type", "equals", "{{ customer.type }}"), True),
        (leaf("invoice.status", "in", "{{ allowed }}"), True),
        (leaf("invoice.status", "not_in", "{{ allowed }}"), False),
        (leaf("invoice.due_date", "between", ["{{ low }}", "{{ high }}"]), True),
        (leaf("invoice.due_date", "before", "{{ contract.start }}"), True),
        (leaf("invoice.number", "equals", "INV-00{{ invoice.id }}"), True),
        (leaf("invoice.number", "starts_with", "{{ invoice.number | lower }}"), False),
        (leaf("invoice.amount", "greater_than", "{{ missing | default(2000) }}"), False),
        (leaf("invoice.due_date", "days_ago", "{{ invoice.reminder_count }}"), True),
        (leaf("{{ invoice.missing | default(5) }}", "equals", 5), True),
    ],
)
def test_values_with_expressions(condition, expected):
    assert holds(condition) is expected


def test_an_undefined_value_is_an_error_not_a_silent_false():
    # the value is the yardstick: a missing one is a configuration problem
    with pytest.raises(UndefinedVariable, match="'contract' has no key 'end'"):
        holds(leaf("invoice.due_date", "before", "{{ contract.end }}"))


# --- timezones ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field_value", "operator", "value", "tz", "now", "expected"),
    [
        # a naive datetime is in the workflow's timezone: 23:30 Berlin is 22:30 UTC
        ("2026-11-10T23:30:00", "before", "2026-11-10T23:00:00Z", BERLIN, NOW, True),
        ("2026-11-10T23:30:00", "before", "2026-11-10T23:00:00Z", UTC, NOW, False),
        # an explicit offset does not care about the workflow's timezone
        ("2026-11-10T23:30:00+00:00", "before", "2026-11-10T23:00:00Z", BERLIN, NOW, False),
        # a date alone is midnight in the workflow's timezone (23:00 UTC the day before)
        ("2026-11-11", "before", "2026-11-10T23:30:00Z", BERLIN, NOW, True),
        ("2026-11-11", "before", "2026-11-10T23:30:00Z", UTC, NOW, False),
        (
            "2026-11-11",
            "between",
            ["2026-11-10T22:00:00Z", "2026-11-10T23:00:00Z"],
            BERLIN,
            NOW,
            True,
        ),
        ("2026-11-11", "equals", "2026-11-10T23:00:00Z", BERLIN, NOW, False),  # equals is plain
        # the day of a datetime is its day in the workflow's timezone
        ("2026-11-24T23:30:00Z", "days_ago", 2, BERLIN, NOW, False),  # 25 Nov in Berlin
        ("2026-11-24T23:30:00Z", "days_ago", 2, UTC, NOW, True),
        ("2026-11-24T23:30:00Z", "days_ago", 1, BERLIN, NOW, True),
        # ... and so is today: 23:30 UTC on 25 Nov is already 26 Nov in Berlin
        ("2026-11-26", "days_from_now", 0, BERLIN, LATE_UTC, True),
        ("2026-11-26", "days_from_now", 0, UTC, LATE_UTC, False),
        ("2026-11-26", "days_from_now", 1, UTC, LATE_UTC, True),
        # in New York, 02:00 UTC on 26 Nov is still 25 Nov
        ("2026-11-25", "days_ago", 0, NEW_YORK, EARLY_UTC, True),
        ("2026-11-25", "days_ago", 1, NEW_YORK, EARLY_UTC, False),
        # DST starts in Berlin on 29 Mar 2026: that midnight is still CET, 23:00 UTC
        ("2026-03-29", "before", "2026-03-28T23:30:00Z", BERLIN, NOW, True),
        ("2026-03-29", "after", "2026-03-28T22:30:00Z", BERLIN, NOW, True),
        ("2026-03-30", "before", "2026-03-29T22:30:00Z", BERLIN, NOW, True),  # now CEST, +2
        ("2026-03-30", "after", "2026-03-29T21:30:00Z", BERLIN, NOW, True),
        # DST ends on 25 Oct 2026: midnight is CEST (22:00 UTC), the next one CET (23:00 UTC)
        ("2026-10-25", "after", "2026-10-24T22:30:00Z", BERLIN, NOW, False),
        ("2026-10-25", "after", "2026-10-24T22:30:00Z", UTC, NOW, True),
        ("2026-10-26", "before", "2026-10-25T23:30:00Z", BERLIN, NOW, True),
        ("2026-10-26", "after", "2026-10-25T22:30:00Z", BERLIN, NOW, True),
        # the 25-hour day still counts as one day (times in Berlin)
        ("2026-10-25T12:00:00", "days_ago", 1, BERLIN, FALL_MORNING, True),
        ("2026-10-25T12:00:00", "days_ago", 2, BERLIN, FALL_NIGHT, False),
        # ISO 8601 with Z, lowercase z, offsets and fractions
        ("2026-11-10T10:00:00.123456Z", "after", "2026-11-10T10:00:00Z", UTC, NOW, True),
        ("2026-11-10t10:00:00z", "after", "2026-11-10", UTC, NOW, True),  # RFC 3339 lowercase
        ("2026-11-10T10:00", "after", "2026-11-10", BERLIN, NOW, True),
        ("2026-11-10T11:00:00+01:00", "equals", "2026-11-10T10:00:00Z", UTC, NOW, False),
        (
            "2026-11-10T11:00:00+01:00",
            "between",
            ["2026-11-10T10:00:00Z", "2026-11-10T10:00:00Z"],
            UTC,
            NOW,
            True,
        ),
        ("2026-11-10 11:00", "greater_than", "2026-11-10T10:59:00", UTC, NOW, True),
    ],
)
def test_timezones(field_value, operator, value, tz, now, expected):
    condition = leaf("when", operator, value)

    assert evaluate(condition, {"when": field_value}, tz=tz, now=now) is expected


def test_python_dates_and_datetimes_in_the_data():
    data = {
        "naive": dt.datetime(2026, 11, 10, 23, 30),
        "aware": dt.datetime(2026, 11, 10, 23, 30, tzinfo=UTC),
        "day": dt.date(2026, 11, 11),
    }

    assert holds(leaf("naive", "before", "{{ aware }}"), data, tz=BERLIN)
    assert not holds(leaf("naive", "before", "{{ aware }}"), data, tz=UTC)
    assert holds(leaf("day", "before", "{{ aware }}"), data, tz=BERLIN)
    assert holds(leaf("day", "after", "{{ aware }}"), data, tz=UTC)


def test_defaults_come_from_django_timezone_and_clock():
    # given: the application clock frozen at 23:30 UTC, which is already tomorrow in Berlin
    condition = leaf("when", "days_from_now", 0)
    data = {"when": "2026-11-26"}

    with time_machine.travel(LATE_UTC, tick=False):
        assert timezone.now() == LATE_UTC
        with timezone.override(BERLIN):
            assert evaluate(condition, data) is True
        with timezone.override(UTC):
            assert evaluate(condition, data) is False
        # a timezone may be given by name, as the definition stores it
        assert evaluate(condition, data, tz="Europe/Berlin") is True


def test_a_naive_now_is_in_the_workflow_timezone():
    condition = leaf("when", "days_from_now", 0)

    assert evaluate(
        condition, {"when": "2026-11-26"}, tz=BERLIN, now=dt.datetime(2026, 11, 26, 0, 30)
    )


# --- matches: the guard of workflows.patterns (test_patterns.py), as condition errors -----


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("pattern", "subject", "message"),
    [
        # refused whatever the input: the value is wrong, before any data is read
        ("(a+)+$", "a" * 36 + "!", "value: matches: the pattern '(a+)+$' may backtrack"),
        ("(unclosed", "a", "value: matches: invalid regular expression '(unclosed'"),
        ("a" * 201, "a", "value: matches: the pattern is longer than 200 characters"),
        # refused for this input: when the operator runs
        ("a*a*b", "a" * 5000, "matches: the pattern 'a*a*b' could take too long on an input"),
        ("x", "a" * (MAX_MATCH_INPUT + 1), "matches: the input is 10,001 characters; at most"),
    ],
)
def test_matches_refuses_patterns_that_could_run_for_ever(pattern, subject, message):
    with pytest.raises(ConditionError) as raised:
        holds(leaf("text", "matches", pattern), {"text": subject})
    assert str(raised.value).startswith(message)


def test_matches_names_the_nested_condition_it_refuses():
    condition = {"type": "and", "conditions": [TRUE, leaf("text", "matches", "a*a*b")]}

    with pytest.raises(ConditionError) as raised:
        holds(condition, {**DATA, "text": "a" * 5000})
    assert str(raised.value).startswith("conditions[1]: matches: the pattern 'a*a*b' could")


# --- malformed conditions ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("invoice.amount > 1000", "a condition must be an object"),
        ([], "a condition must be an object"),
        ({"operator": "equals", "value": 1}, "field: a condition needs a field"),
        ({"field": "", "operator": "equals", "value": 1}, "field: a condition needs a field"),
        ({"field": 5, "operator": "equals", "value": 1}, "field: a condition needs a field"),
        ({"field": "a"}, "operator: a condition needs an operator"),
        (leaf("a", "gt", 1), "operator: unknown operator 'gt'"),
        (leaf("a", "EQUALS", 1), "unknown operator 'EQUALS'"),
        (leaf("a", "equals"), "value: equals needs a value"),
        (leaf("a", "in", "overdue"), "value: in: the value must be a list"),
        (leaf("a", "not_in", {"a": 1}), "the value must be a list"),
        (leaf("a", "in", "{{ customer }}"), "the value must be a list"),
        (leaf("a", "between", [1]), "a list of two items, [low, high]"),
        (leaf("a", "between", [1, 2, 3]), "a list of two items"),
        (leaf("a", "between", "1..2"), "a list of two items"),
        (leaf("a", "starts_with", 1), "the value must be a string"),
        (leaf("a", "matches", 1), "must be a regular expression"),
        (leaf("a", "matches", "("), "invalid regular expression"),
        (leaf("a", "days_ago", "seven"), "a number of days"),
        (leaf("a", "days_ago", -1), "a number of days (0 or more)"),
        (leaf("a", "days_from_now", True), "a number of days"),
        ({"field": "a b", "operator": "exists"}, "field: unexpected 'b'"),
        # a {{ }} outside the grammar is malformed whatever the data, in the field or the value
        ({"field": "{{ a() }}", "operator": "exists"}, "field: calls are not allowed"),
        (leaf("a", "equals", "{{ a + 1 }}"), "value: '+' is not allowed"),
        (leaf("a", "in", ["x", "{{ b( }}"]), "value[1]: calls are not"),
        ({"type": "xor", "conditions": [TRUE]}, "type: unknown type 'xor'"),
        ({"type": "and", "conditions": []}, "conditions: 'and' needs a non-empty list"),
        ({"type": "or"}, "conditions: 'or' needs a non-empty list"),
        ({"type": "not", "conditions": [TRUE, FALSE]}, "'not' takes exactly one condition, not 2"),
        ({"type": "not", "condition": "x"}, "condition: a condition must be an object"),
        ({"type": "and", "conditions": [TRUE, {"field": "a"}]}, "conditions[1].operator: "),
        (
            {
                "type": "or",
                "conditions": [
                    FALSE,
                    {"type": "not", "conditions": [leaf("a", "x")]},
                ],
            },
            "conditions[1].conditions[0].operator: unknown operator 'x'",
        ),
    ],
)
def test_malformed_conditions_raise_condition_error(condition, message):
    with pytest.raises(ConditionError) as raised:
        holds(condition)
    assert message in str(raised.value)


def test_structure_errors_raise_even_when_the_field_is_missing():
    with pytest.raises(ConditionError, match="the value must be a list"):
        holds(leaf("invoice.missing", "in", "overdue"))


def test_nesting_is_capped():
    condition = TRUE
    for _ in range(40):
        condition = {"type": "not", "conditions": [condition]}

    with pytest.raises(ConditionError, match="nested more than 32 deep"):
        holds(condition)
    assert any("nested more than 32 deep" in m for _, m in validate_condition(condition))


# --- static validation for the definition validator --------------------------------------


@pytest.mark.parametrize(
    "condition",
    [
        SEED_CONDITION,
        {"field": "{{invoice.reminder_count}}", "operator": "less_than", "value": 3},
        {"field": "{{ invoice.due_date }}", "operator": "before", "value": "{{ contract.start }}"},
        leaf("a", "in", "{{ allowed }}"),
        leaf("a", "between", ["{{ low }}", "2026-12-31"]),
        leaf("a", "between", [0, "9.5"]),
        leaf("a", "days_ago", "{{ days }}"),
        leaf("a", "matches", r"^INV-\d+$"),
        leaf("a", "exists"),
        leaf("a", "equals", None),
        {"type": "not", "condition": leaf("a", "is_empty")},
        leaf("a", "greater_than", "2026-11-10T09:00:00+01:00"),
    ],
)
def test_valid_conditions_have_no_problems(condition):
    assert validate_condition(condition) == []


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("nope", [("", "a condition must be an object")]),
        (
            {"field": "__class__", "operator": "bogus"},
            [
                ("field", "names starting with '_' are not allowed"),
                ("operator", "unknown operator 'bogus'"),
            ],
        ),
        (leaf("a", "equals"), [("value", "equals needs a value")]),
        (leaf("a", "greater_than", "abc"), [("value", "a number or an ISO 8601 date")]),
        (leaf("a", "greater_than", True), [("value", "a number or an ISO 8601 date")]),
        (
            leaf("a", "before", "tomorrow"),
            [("value", "before: the value must be an ISO 8601 date")],
        ),
        (leaf("a", "after", 5), [("value", "after: the value must be an ISO 8601 date")]),
        (leaf("a", "between", [1, "x"]), [("value[1]", "a number or an ISO 8601 date")]),
        (leaf("a", "matches", "(a+)+$"), [("value", "may backtrack catastrophically")]),
        (leaf("a", "days_ago", "soon"), [("value", "a number of days")]),
        (leaf("a", "equals", "{{a + 1 }}"), [("value", "'+' is not allowed")]),
        (leaf("a", "in", ["x", "{{b(}}"]), [("value[1]", "calls are not allowed")]),
        (
            leaf("a", "equals", {"k": "{{ _x }}"}),
            [("value['k']", "names starting with '_' are not allowed")],
        ),
        # every problem at once, each with its place
        (
            {
                "type": "and",
                "conditions": [
                    {"field": "invoice.amount", "operator": "greater_than", "value": 1000},
                    {"field": "", "operator": "equals", "value": 1},
                    {
                        "type": "or",
                        "conditions": [leaf("a", "in", 3), "x"],
                    },
                    {"type": "nand", "conditions": []},
                ],
            },
            [
                ("conditions[1].field", "a condition needs a field"),
                ("conditions[2].conditions[0].value", "in: the value must be a list"),
                ("conditions[2].conditions[1]", "a condition must be an object"),
                ("conditions[3].type", "unknown type 'nand'"),
            ],
        ),
        ({"type": "not", "conditions": [TRUE, TRUE]}, [("conditions", "'not' takes exactly one")]),
    ],
)
def test_validate_condition_reports_every_problem_with_its_place(condition, expected):
    problems = validate_condition(condition)

    assert [path for path, _ in problems] == [path for path, _ in expected]
    for (_, message), (_, fragment) in zip(problems, expected, strict=True):
        assert fragment in message


@pytest.mark.parametrize(
    ("condition", "path", "message"),
    [
        # a type that is no name: an object (which once raised TypeError), a list, a number
        ({"type": {"type": "and"}}, "type", "the type must be a name, not an object"),
        ({"type": ["and"], "conditions": [TRUE]}, "type", "the type must be a name, not a list"),
        ({"type": 1, "conditions": [TRUE]}, "type", "the type must be a name, not a number"),
        ({"type": True, "conditions": [TRUE]}, "type", "the type must be a name, not a boolean"),
        (
            {"type": "or", "conditions": [leaf("a", "exists"), {"type": {"type": "or"}}]},
            "conditions[1].type",
            "the type must be a name, not an object; the types are and, or, not",
        ),
        # the same for an operator
        (leaf("a", {"name": "equals"}), "operator", "the operator must be a name, not an object"),
        (leaf("a", ["equals"]), "operator", "the operator must be a name, not a list"),
        (leaf("a", 1), "operator", "the operator must be a name, not a number; the operators"),
        (leaf("a", None), "operator", "a condition needs an operator"),
        # a null type is no type: the condition is a leaf
        (
            {"type": None, "field": "a", "operator": 5},
            "operator",
            "the operator must be a name, not a number",
        ),
    ],
)
def test_a_type_or_operator_that_is_no_name_is_a_problem_not_a_crash(condition, path, message):
    # validate_condition never raises, whatever JSON it is given
    ((where, problem),) = validate_condition(condition)
    assert where == path
    assert message in problem
    # evaluate says the same as a ConditionError, and condition_paths skips what it cannot read
    with pytest.raises(ConditionError) as raised:
        holds(condition)
    assert str(raised.value).startswith(f"{path}: {message}")
    assert set(condition_paths(condition)) <= {"a"}


@pytest.mark.parametrize(
    ("condition", "paths"),
    [
        (SEED_CONDITION, ["invoice.amount", "customer.type"]),
        (
            {
                "field": "{{ invoice.due_date }}",
                "operator": "before",
                "value": "{{ contract.start }}",
            },
            ["invoice.due_date", "contract.start"],
        ),
        (
            {
                "type": "or",
                "conditions": [
                    {
                        "field": "lead.score",
                        "operator": "between",
                        "value": ["{{ low }}", "{{ high | default(9) }}"],
                    },
                    {"type": "not", "condition": {"field": "lead.score", "operator": "exists"}},
                    {
                        "field": "items[0]['name']",
                        "operator": "equals",
                        "value": "Hi {{ user.name }}",
                    },
                ],
            },
            ["lead.score", "low", "high", "items[0].name", "user.name"],
        ),
        # malformed parts are skipped: validate_condition reports them
        ({"field": "a + b", "operator": "equals", "value": "{{ ok }} {{ bad( }}"}, []),
        (leaf("a", "equals", "{{ ok }}"), ["a", "ok"]),
        ("not a condition", []),
    ],
)
def test_condition_paths(condition, paths):
    assert condition_paths(condition) == paths
