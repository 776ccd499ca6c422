"""The `{{ }}` lookup grammar: what it reads, how it renders, what it refuses."""

import datetime as dt
from collections import ChainMap, defaultdict
from decimal import Decimal

import pytest

from workflows.variables import (
    MAX_EXPRESSIONS,
    MAX_PATH_SEGMENTS,
    MAX_TEMPLATE_LENGTH,
    MISSING,
    ExpressionError,
    UndefinedVariable,
    iter_templates,
    parse,
    references,
    render,
    resolve_path,
)

UTC = dt.UTC

# The run's variables, shaped like the trigger data of DEFINITION.md ("Trigger data").
DATA = {
    "invoice": {
        "id": 42,
        "number": "INV-0042",
        "amount": "1250.00",
        "total": 1250.5,
        "status": "overdue",
        "due_date": "2026-11-10",
        "sent_at": "2026-11-01T23:30:00+01:00",
        "reminder_count": 1,
        "paid": False,
        "notes": None,
        "tags": ["urgent", "eu"],
        "lines": [{"sku": "A-1", "qty": 2}, {"sku": "B-2", "qty": 1}],
        "customer": {"id": 7, "name": "Acme", "email": "billing@acme.example"},
        "odd key": "spaced",
        "_id": "mongo-style",
    },
    "customer": {"id": 7, "name": "Acme", "type": "enterprise"},
    "loop": {"index": 0},
    "empty": "",
    "zero": 0,
    "price": Decimal("19.995"),
    "half": "0.125",
    "float_half": 2.675,
    "now": dt.datetime(2026, 11, 26, 9, 0, tzinfo=UTC),
    "today": dt.date(2026, 11, 26),
}


# --- a value that is exactly one {{ }} keeps its JSON type ------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # strings stay strings, even numeric ones (records carry decimals as strings)
        ("{{ invoice.amount }}", "1250.00"),
        # no spaces inside the braces is the seed's own style
        ("{{invoice.reminder_count}}", 1),
        ("{{ invoice.total }}", 1250.5),
        ("{{ invoice.paid }}", False),
        ("{{ invoice.notes }}", None),
        # a list stays a list: a loop's collection
        ("{{ invoice.tags }}", ["urgent", "eu"]),
        ("{{ invoice.customer }}", DATA["invoice"]["customer"]),
        # surrounding whitespace does not turn it into text
        ("  {{ invoice.lines }}\n", DATA["invoice"]["lines"]),
        ("{{ now }}", dt.datetime(2026, 11, 26, 9, 0, tzinfo=UTC)),
        # [index], negative index (from the end), quoted keys in both quote styles
        ("{{ invoice.lines[0].sku }}", "A-1"),
        ("{{ invoice.lines[-1].sku }}", "B-2"),
        ('{{ invoice["odd key"] }}', "spaced"),
        ("{{ invoice['customer']['email'] }}", "billing@acme.example"),
        # a data key starting with "_" is readable when quoted (only bare names are refused)
        ('{{ invoice["_id"] }}', "mongo-style"),
        ("{{ loop.index }}", 0),
        # filters that produce typed values
        ("{{ invoice.tags | length }}", 2),
        ("{{ missing | default(0) }}", 0),
        ("{{ missing | default(null) }}", None),
        ("{{ missing | default(true) }}", True),
        ("{{ missing | default(-1.5) }}", -1.5),
    ],
)
def test_single_expression_keeps_its_type(text, expected):
    assert render(text, DATA) == expected
    assert type(render(text, DATA)) is type(expected)


# --- text with anything around the braces renders to a string ---------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Invoice {{ invoice.number }} is due", "Invoice INV-0042 is due"),
        ("{{ invoice.number }}/{{ invoice.id }}", "INV-0042/42"),
        # None renders as nothing, booleans as JSON
        ("notes=[{{ invoice.notes }}] paid={{ invoice.paid }}", "notes=[] paid=false"),
        # numbers keep str(): 1250.5, and integral floats keep their ".0"
        ("total {{ invoice.total }}", "total 1250.5"),
        ("n={{ zero }}", "n=0"),
        ("price {{ price }}", "price 19.995"),
        # lists and objects become compact JSON
        ("tags: {{ invoice.tags }}", 'tags: ["urgent","eu"]'),
        ("{{ invoice.lines[0] }}!", '{"sku":"A-1","qty":2}!'),
        # dates render as ISO 8601
        ("at {{ now }}", "at 2026-11-26T09:00:00+00:00"),
        ("on {{ today }}", "on 2026-11-26"),
        # a lone }} and single braces outside an expression are literal text
        ("a }} b { c }", "a }} b { c }"),
        ("{{ invoice.id }} }}", "42 }}"),
        # a quoted "}}" inside an expression does not close it
        ('{{ missing | default("}}") }}x', "}}x"),
        ("no braces at all", "no braces at all"),
        ("", ""),
    ],
)
def test_text_rendering(text, expected):
    assert render(text, DATA) == expected


def test_render_walks_json_values_but_not_keys():
    config = {
        "to": "{{ invoice.customer.email }}",
        "{{ not_a_variable }}": "keys are not rendered",
        "variables": {"amount": "{{ invoice.amount }}", "count": "{{ invoice.reminder_count }}"},
        "lines": ["{{ invoice.lines[1].sku }}", 3, None, True, {"deep": ["{{ customer.type }}"]}],
        "limit": 500,
    }

    assert render(config, DATA) == {
        "to": "billing@acme.example",
        "{{ not_a_variable }}": "keys are not rendered",
        "variables": {"amount": "1250.00", "count": 1},
        "lines": ["B-2", 3, None, True, {"deep": ["enterprise"]}],
        "limit": 500,
    }


def test_strings_without_braces_come_back_untouched():
    text = "plain text " * 10
    assert render(text, DATA) is text
    assert render(42, DATA) == 42
    assert render(None, DATA) is None


# --- filter syntax (what each filter does: test_filters.py) ------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # arguments are literals, never lookups or expressions
        ("{{ x | default(y) }}", "filter arguments must be literals"),
        ("{{ x | default(y.z) }}", "filter arguments must be literals"),
        ("{{ x | default([]) }}", "filter arguments must be literals"),
        ('{{ x | default("a" "b") }}', "expected ',' between filter arguments"),
        ('{{ x | default("a"', "unterminated '{{'"),
        (r'{{ x | default("\x41") }}', "unknown escape '\\x'"),
        ("{{ x | }}", "expected a filter name, found the end"),
        ("{{ x | 1 }}", "expected a filter name, found '1'"),
        ("{{ x | _private }}", "names starting with '_' are not allowed"),
    ],
)
def test_malformed_filters_are_refused_at_parse(text, message):
    with pytest.raises(ExpressionError) as raised:
        parse(text)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # empty parentheses are allowed, chains apply left to right
        ("{{ customer.name | upper() | length }}", 4),
        # string escapes inside filter arguments
        (r'{{ missing | default("say \"hi\"") }}', 'say "hi"'),
        (r"{{ missing | default('it\'s') }}", "it's"),
    ],
)
def test_filter_syntax(text, expected):
    assert render(text, DATA) == expected


# --- the grammar refuses everything that is not a lookup --------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ }}", "empty {{ }}"),
        ("{{x", "unterminated '{{'"),
        ("Hello {{ name", "unterminated '{{'"),
        ("{{ 'unclosed }}", "unterminated '{{'"),
        ("{{ a + b }}", "'+' is not allowed"),
        ("{{ a * 2 }}", "'*' is not allowed"),
        ("{{ a == b }}", "'=' is not allowed"),
        ("{{ a; b }}", "';' is not allowed"),
        ("{{ a b }}", "unexpected 'b'"),
        ("{{ a() }}", "calls are not allowed"),
        ("{{ a.b(1) }}", "calls are not allowed"),
        ("{{ a[b] }}", "only an integer or a quoted key may stand inside [ ]"),
        ("{{ a[1.5] }}", "only an integer or a quoted key may stand inside [ ]"),
        ("{{ a[] }}", "only an integer or a quoted key may stand inside [ ]"),
        ("{{ a[0 }}", "expected ']' to close the index"),
        ("{{ a. }}", "expected a key name, found the end"),
        ("{{ a.0 }}", "use [0] for an index"),
        ("{{ a..b }}", "expected a key name, found '.'"),
        ("{{ 1 }}", "an expression starts with a variable name, not '1'"),
        ("{{ 'text' }}", "an expression starts with a variable name, not the string 'text'"),
        ("{{ .a }}", "an expression starts with a variable name, not '.'"),
        ("{{ _private }}", "names starting with '_' are not allowed ('_private')"),
        ("{{ a._b }}", "names starting with '_' are not allowed ('_b')"),
        ("{{ {{ a }} }}", "'{' is not allowed"),
        ("{{ a } }}", "'}' is not allowed"),
        ("{{ a\\b }}", "'\\\\' is not allowed"),
    ],
)
def test_malformed_expressions_are_refused_at_parse(text, message):
    with pytest.raises(ExpressionError) as raised:
        parse(text)
    assert message in str(raised.value)


def test_error_messages_quote_the_expression_but_cut_it_short():
    text = "{{ a + " + "b" * 300 + " }}"
    with pytest.raises(ExpressionError) as raised:
        parse(text)
    message = str(raised.value)
    assert "'{{ a + bbbb" in message
    assert "…" in message
    assert len(message) < 250


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # 32 segments is the limit
        ("{{ " + ".".join(["a"] * (MAX_PATH_SEGMENTS + 1)) + " }}", "at most 32 segments"),
        ("{{ a" + "[0]" * MAX_PATH_SEGMENTS + " }}", "at most 32 segments"),
        ("{{ a" + " | upper" * 17 + " }}", "more than 16 filters"),
        ("{{ " + "a" * 501 + " }}", "expression longer than 500 characters"),
        ("{{ a }}" * (MAX_EXPRESSIONS + 1), "more than 64 {{ }} expressions"),
        ("{{ a }}" + " " * MAX_TEMPLATE_LENGTH, "text longer than 100000 characters"),
    ],
)
def test_limits(text, message):
    with pytest.raises(ExpressionError) as raised:
        parse(text)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    "text",
    [
        "{{ " + ".".join(["a"] * MAX_PATH_SEGMENTS) + " }}",
        "{{ a }}" * MAX_EXPRESSIONS,
        "{{ a }}" + " " * (MAX_TEMPLATE_LENGTH - 7),
    ],
)
def test_limits_are_inclusive(text):
    assert parse(text).expressions


# --- missing variables ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ nope }}", "variable 'nope' is not defined: there is no variable 'nope'"),
        (
            "{{ invoice.customer.phone }}",
            "variable 'invoice.customer.phone' is not defined: "
            "'invoice.customer' has no key 'phone'",
        ),
        ("{{ invoice.lines[2].sku }}", "'invoice.lines' has no item [2] (it has 2)"),
        ("{{ invoice.lines[-3] }}", "'invoice.lines' has no item [-3]"),
        ("{{ invoice.amount.cents }}", "'invoice.amount' is a string, so it has no key 'cents'"),
        ("{{ invoice.notes.text }}", "'invoice.notes' is null, so it has no key 'text'"),
        ("{{ invoice.customer[0] }}", "'invoice.customer' is an object, so it has no item [0]"),
        ("{{ invoice.tags.first }}", "'invoice.tags' is a list, so it has no key 'first'"),
        ("{{ invoice.number[0] }}", "'invoice.number' is a string, so it has no item [0]"),
        ("Dear {{ customer.first_name }},", "'customer' has no key 'first_name'"),
        ("{{ missing | upper }}", "variable 'missing' is not defined"),
    ],
)
def test_missing_variables_raise_undefined_naming_the_segment(text, message):
    with pytest.raises(UndefinedVariable) as raised:
        render(text, DATA)
    assert message in str(raised.value)
    assert 'default("...")' in str(raised.value)


def test_undefined_variable_is_an_expression_error_with_details():
    with pytest.raises(ExpressionError) as raised:
        render("{{ invoice.customer.phone }}", DATA)
    assert isinstance(raised.value, UndefinedVariable)
    assert raised.value.path == "invoice.customer.phone"
    assert "phone" in raised.value.missing


# --- resolve_path: a condition's field --------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("invoice.amount", "1250.00"),
        # the seed writes fields both ways
        ("{{invoice.reminder_count}}", 1),
        ("{{ invoice.reminder_count }}", 1),
        ("  invoice.lines[1].qty ", 1),
        ('invoice["odd key"]', "spaced"),
        ("invoice.notes", None),
        # absent paths are MISSING, never an exception
        ("invoice.customer.phone", MISSING),
        ("nope", MISSING),
        ("invoice.lines[9]", MISSING),
        ("invoice.amount.cents", MISSING),
        ("{{ nope.deeper }}", MISSING),
        # in braces, filters apply (and a default fills the gap)
        ("{{ customer.type | upper }}", "ENTERPRISE"),
        ("{{ nope | default(3) }}", 3),
    ],
)
def test_resolve_path(path, expected):
    result = resolve_path(path, DATA)

    if expected is MISSING:
        assert result is MISSING
    else:
        assert result == expected


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("invoice.amount | upper", "a bare path takes no filters"),
        ("Invoice {{ invoice.id }}", "expected one path or exactly one {{ }}"),
        ("{{ a }}{{ b }}", "expected one path or exactly one {{ }}"),
        ("invoice..amount", "expected a key name"),
        ("invoice.__class__", "names starting with '_' are not allowed"),
        ("", "empty {{ }}"),
        ("a(1)", "calls are not allowed"),
    ],
)
def test_resolve_path_refuses_malformed_paths(path, message):
    with pytest.raises(ExpressionError) as raised:
        resolve_path(path, DATA)
    assert message in str(raised.value)


def test_missing_is_falsy_and_distinct_from_none():
    assert not MISSING
    assert MISSING is not None
    assert repr(MISSING) == "MISSING"


# --- precedence, one pass, caching -------------------------------------------------------


def test_precedence_is_the_callers_mapping():
    # given: the loop item shadows the trigger's record of the same name
    loop_scope = {"invoice": {"number": "INV-LOOP"}, "loop": {"index": 3}}
    variables = ChainMap(loop_scope, DATA)

    # then: the first mapping wins, the rest is still reachable
    assert render("{{ invoice.number }} #{{ loop.index }}", variables) == "INV-LOOP #3"
    assert render("{{ customer.type }}", variables) == "enterprise"
    assert resolve_path("invoice.amount", variables) is MISSING


def test_substitution_is_one_pass():
    # given: data that looks like an expression (a webhook body, a form field)
    data = {"comment": "{{ secret }}", "secret": "s3cr3t", "fmt": "{0.__class__}"}

    # then: it comes out as the same literal text, typed or inside a string
    assert render("{{ comment }}", data) == "{{ secret }}"
    assert render("Comment: {{ comment }}!", data) == "Comment: {{ secret }}!"
    assert render({"a": ["{{ comment }}"]}, data) == {"a": ["{{ secret }}"]}
    assert render("{{ fmt }} {{ comment | upper }}", data) == "{0.__class__} {{ SECRET }}"


def test_parse_is_cached():
    text = "cached {{ invoice.number }} " + "x" * 10
    before = parse.cache_info().hits

    first = parse(text)
    second = parse(text)

    assert first is second
    assert parse.cache_info().hits >= before + 1


def test_walking_does_not_invent_keys_of_a_defaultdict():
    data = {"counts": defaultdict(int, {"a": 1})}

    assert render("{{ counts.a }}", data) == 1
    assert resolve_path("counts.b", data) is MISSING
    assert "b" not in data["counts"]


# --- what the validator reads -----------------------------------------------------------


def test_expression_attributes():
    template = parse('Hi {{ invoice.lines[0]["sku"] | default("?") | upper }} and {{ now }}')
    first, second = template.expressions

    assert first.text == 'invoice.lines[0]["sku"] | default("?") | upper'
    assert first.path == ("invoice", "lines", 0, "sku")
    assert first.root == "invoice"
    assert first.filters == (("default", ("?",)), ("upper", ()))
    assert first.path_text == "invoice.lines[0].sku"
    assert second.path == ("now",)
    assert template.single is None
    assert parse(" {{ now }} ").single == second


@pytest.mark.parametrize(
    ("path", "written"),
    [
        ('{{ a["odd key"] }}', 'a["odd key"]'),
        ('{{ a["_id"] }}', 'a["_id"]'),
        ("{{ a['b'] }}", "a.b"),
        ("{{ a[-1] }}", "a[-1]"),
    ],
)
def test_path_text_writes_paths_back_in_the_grammar(path, written):
    assert parse(path).expressions[0].path_text == written


def test_iter_templates_and_references():
    config = {
        "to": "{{ invoice.customer.email }}",
        "subject": "Invoice {{ invoice.number }} ({{ customer.name }})",
        "plain": "nothing here",
        "list": [1, "{{ loop.index }}"],
        "bad": "{{ a + b }}",
    }

    found = list(iter_templates(config))

    assert found == [
        (("to",), "{{ invoice.customer.email }}"),
        (("subject",), "Invoice {{ invoice.number }} ({{ customer.name }})"),
        (("list", 1), "{{ loop.index }}"),
        (("bad",), "{{ a + b }}"),
    ]
    del config["bad"]
    assert [e.path_text for e in references(config)] == [
        "invoice.customer.email",
        "invoice.number",
        "customer.name",
        "loop.index",
    ]
    with pytest.raises(ExpressionError, match="'\\+' is not allowed"):
        references({"x": ["{{ a + b }}"]})
