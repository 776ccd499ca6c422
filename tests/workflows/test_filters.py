"""The filters a `{{ }}` may apply: the allowlist, what each does, what each refuses."""

import datetime as dt
from decimal import Decimal

import pytest

from workflows.filters import FILTERS
from workflows.variables import ExpressionError, parse, render

UTC = dt.UTC

DATA = {
    "invoice": {
        "id": 42,
        "number": "INV-0042",
        "amount": "1250.00",
        "total": 1250.5,
        "status": "overdue",
        "due_date": "2026-11-10",
        "sent_at": "2026-11-01T23:30:00+01:00",
        "paid": False,
        "notes": None,
        "tags": ["urgent", "eu"],
        "lines": [{"sku": "A-1", "qty": 2}, {"sku": "B-2", "qty": 1}],
        "customer": {"id": 7, "name": "Acme", "email": "billing@acme.example"},
    },
    "customer": {"id": 7, "name": "Acme", "type": "enterprise"},
    "empty": "",
    "zero": 0,
    "price": Decimal("19.995"),
    "half": "0.125",
    "float_half": 2.675,
    "now": dt.datetime(2026, 11, 26, 9, 0, tzinfo=UTC),
    "today": dt.date(2026, 11, 26),
}


def test_the_allowlist():
    # the grammar's `filter` rule, in the order error messages name the filters
    assert list(FILTERS) == [
        "default",
        "upper",
        "lower",
        "date",
        "number",
        "add_days",
        "add_hours",
        "json",
        "length",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # default: used for missing, null and "" ...
        ('{{ missing | default("n/a") }}', "n/a"),
        ('{{ invoice.notes | default("n/a") }}', "n/a"),
        ('{{ empty | default("n/a") }}', "n/a"),
        ('{{ invoice.customer.phone | default("none") }}', "none"),
        # ... but not for other falsy values
        ('{{ zero | default("n/a") }}', 0),
        ('{{ invoice.paid | default("n/a") }}', False),
        ('{{ invoice.number | default("n/a") }}', "INV-0042"),
        # a missing value passes through other filters until a default meets it
        ('{{ missing | upper | default("x") }}', "x"),
        ('{{ missing | default("abc") | upper }}', "ABC"),
        # upper / lower
        ("{{ customer.type | upper }}", "ENTERPRISE"),
        ("{{ invoice.number | lower }}", "inv-0042"),
        ("{{ invoice.notes | upper }}", None),
        # date: ISO strings, datetimes and dates
        ('{{ invoice.due_date | date("%d.%m.%Y") }}', "10.11.2026"),
        ('{{ invoice.sent_at | date("%Y-%m-%d %H:%M %z") }}', "2026-11-01 23:30 +0100"),
        ('{{ now | date("%A %d %B %Y, %H:%M") }}', "Thursday 26 November 2026, 09:00"),
        ("{{ today | date('%Y/%m/%d') }}", "2026/11/26"),
        ('{{ invoice.notes | date("%Y") }}', None),
        ('{{ invoice.due_date | date("100%% on %d") }}', "100% on 10"),
        # number: Decimal-exact, ROUND_HALF_UP (a float would make 19.995 -> 19.99)
        ("{{ invoice.amount | number(2) }}", "1250.00"),
        ("{{ invoice.amount | number(0) }}", "1250"),
        ("{{ price | number(2) }}", "20.00"),
        ("{{ half | number(2) }}", "0.13"),  # half-even would give 0.12
        ("{{ float_half | number(2) }}", "2.68"),  # the float 2.675 is 2.67499999... in binary
        ("{{ invoice.total | number(3) }}", "1250.500"),
        ("{{ invoice.id | number(1) }}", "42.0"),
        ("Total: {{ invoice.amount | number(1) }} EUR", "Total: 1250.0 EUR"),
        # json: compact text of anything
        ("{{ invoice.tags | json }}", '["urgent","eu"]'),
        ("{{ invoice.lines[0] | json }}", '{"sku":"A-1","qty":2}'),
        ("{{ invoice.number | json }}", '"INV-0042"'),
        ("{{ invoice.notes | json }}", "null"),
        ("{{ now | json }}", '"2026-11-26T09:00:00+00:00"'),
        # length of strings, lists and objects
        ("{{ invoice.number | length }}", 8),
        ("{{ invoice.lines | length }}", 2),
        ("{{ invoice.customer | length }}", 3),
        ("{{ invoice.notes | length }}", 0),
    ],
)
def test_filters(text, expected):
    assert render(text, DATA) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # only the allowlist
        ("{{ x | nope }}", "unknown filter 'nope'"),
        ("{{ x | list }}", "unknown filter 'list'"),
        ("{{ x | attr('__class__') }}", "unknown filter 'attr'"),
        # each filter's arguments, checked when the template is parsed
        ("{{ x | default }}", "filter 'default' takes 1 argument"),
        ('{{ x | default("a", "b") }}', "filter 'default' takes 1 argument"),
        ("{{ x | upper(1) }}", "filter 'upper' takes 0 argument"),
        ("{{ x | number }}", "filter 'number' takes 1 argument"),
        ('{{ x | number("2") }}', "number() takes a count of decimals"),
        ("{{ x | number(21) }}", "number() takes a count of decimals from 0 to 20"),
        ("{{ x | number(-1) }}", "number() takes a count of decimals"),
        ("{{ x | number(true) }}", "number() takes a count of decimals"),
        ("{{ x | date(1) }}", "date() takes a quoted format"),
        ('{{ x | date("%s") }}', "the date format '%s' may hold text and the directives"),
        ('{{ x | date("{0}") }}', "no braces"),
        ('{{ x | date("' + "%Y" * 40 + '") }}', "longer than 64 characters"),
        ('{{ x | add_days("7") }}', "take a whole number"),
        ("{{ x | add_days(1.5) }}", "take a whole number"),
        ("{{ x | add_hours(100001) }}", "take a whole number up to 100000"),
    ],
)
def test_bad_filters_are_refused_at_parse(text, message):
    with pytest.raises(ExpressionError) as raised:
        parse(text)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # the data decides these, so they fail when rendered, naming the filter and the text
        ("{{ invoice.number | number(2) }}", "number: 'INV-0042' is not a number"),
        ("{{ invoice.paid | number(2) }}", "number: 'false' is not a number"),
        ('{{ invoice.status | date("%Y") }}', "date: 'overdue' is not an ISO 8601 date"),
        ('{{ invoice.id | date("%Y") }}', "date: '42' is not an ISO 8601 date"),
        ('{{ invoice.due_date | date("%Y") }}x{{ invoice.number | date("%Y") }}', "INV-0042"),
        ("{{ invoice.id | length }}", "length: a number has no length"),
        ("{{ big | number(2) }}", "too large to format"),
        ("{{ invoice.status | add_days(1) }}", "add_days: 'overdue' is not an ISO 8601 date"),
        ("{{ far | add_days(100000) }}", "out of the calendar's range"),
    ],
)
def test_filters_refuse_data_of_the_wrong_kind(text, message):
    with pytest.raises(ExpressionError) as raised:
        render(text, {**DATA, "big": "1e200", "far": "9999-01-01"})
    assert message in str(raised.value)
    assert "(in '{{" in str(raised.value)
