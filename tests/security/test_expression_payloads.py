"""Public expression-injection payloads (shared/security/expression-payloads.md) as regression
cases for the `{{ }}` grammar and the condition evaluator.

Each payload once escaped an automation tool's or a template engine's sandbox. Here each must
be refused with a clear error, or, when it arrives as data, come out as the same literal text.
The timeout marker guards the work bombs: they must be refused, not computed.
"""

import pytest

from workflows.conditions import ConditionError, evaluate, validate_condition
from workflows.variables import (
    MISSING,
    ExpressionError,
    UndefinedVariable,
    parse,
    render,
    resolve_path,
)

pytestmark = pytest.mark.timeout(10)

# The payloads, verbatim. Each with the reason it is refused when parsed.
PAYLOADS = [
    # n8n (JavaScript expressions): CVE-2025-68613, its template-literal bypass, CVE-2026-1470
    pytest.param(
        "{{ this.constructor.constructor('return process')().platform }}",
        "calls are not allowed",
        id="n8n-constructor-chain",
    ),
    pytest.param(
        "{{ this[`constructor`][`constructor`]('return process')() }}",
        "'`' is not allowed",
        id="n8n-template-literal",
    ),
    pytest.param(
        "{{ (() => { var constructor = 1; with (function(){}) "
        "{ return constructor('return process')() } })() }}",
        "an expression starts with a variable name, not '('",
        id="n8n-with-statement",
    ),
    pytest.param(
        "{{ $json.constructor.constructor('return this')().process.mainModule"
        ".require('child_process').execSync('id') }}",
        "calls are not allowed",
        id="n8n-json-child-process",
    ),
    pytest.param(
        "{{ Object.getPrototypeOf(async function(){}).constructor('return process')() }}",
        "calls are not allowed",
        id="n8n-async-function-prototype",
    ),
    # Jinja2 / Python template injection
    pytest.param(
        "{{ self.__init__.__globals__.__builtins__ }}",
        "names starting with '_' are not allowed ('__init__')",
        id="jinja-self-globals",
    ),
    pytest.param(
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "names starting with '_' are not allowed ('__init__')",
        id="jinja-cycler-popen",
    ),
    pytest.param(
        "{{ request.application.__globals__.__builtins__.__import__('os').popen('id').read() }}",
        "names starting with '_' are not allowed ('__globals__')",
        id="jinja-request-import",
    ),
    pytest.param(
        '{{ "{0.__class__.__base__.__subclasses__}".format(x) }}',
        "an expression starts with a variable name, not the string",
        id="str-format",
    ),
    pytest.param(
        "{{ __import__('os').system('id') }}",
        "names starting with '_' are not allowed ('__import__')",
        id="dunder-import",
    ),
    pytest.param(
        "{{ [].__class__.__base__.__subclasses__() }}",
        "an expression starts with a variable name, not '['",
        id="list-subclasses",
    ),
    # work bombs
    pytest.param(
        "{{ 'a' * 100000000 }}",
        "an expression starts with a variable name, not the string 'a'",
        id="string-repeat",
    ),
    pytest.param("{{ range(1000000000) | list }}", "calls are not allowed", id="huge-range"),
    pytest.param(
        "{{ 9 ** 9 ** 9 }}", "an expression starts with a variable name, not '9'", id="power-tower"
    ),
    pytest.param(
        "{{ a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p }}",
        "a path may have at most 32 segments",
        id="deep-path",
    ),
]

# `{{ x.format_map }}` is a well-formed lookup: it reads the key "format_map" of the data
# `x`, never the method, so it is refused only when rendered, as an undefined variable.
FORMAT_MAP = "{{ x.format_map }}"

# Our own: what an attacker would try next against this grammar.
OWN_PAYLOADS = [
    pytest.param("{{ x.__class__ }}", "names starting with '_'", id="dunder-attribute"),
    pytest.param("{{ x._private }}", "names starting with '_'", id="private-attribute"),
    pytest.param("{{ x | attr('__class__') }}", "unknown filter 'attr'", id="jinja-attr-filter"),
    pytest.param("{{ x | map('upper') }}", "unknown filter 'map'", id="jinja-map-filter"),
    pytest.param(
        '{{ x | date("%s{0.__class__}") }}', "may hold text and the directives", id="date-format"
    ),
    pytest.param('{{ x | date("{0.__globals__}") }}', "no braces", id="date-format-braces"),
    pytest.param("{{ x | default(y.__class__) }}", "must be literals", id="default-lookup"),
    pytest.param("{{ x[y] }}", "only an integer or a quoted key", id="computed-index"),
    pytest.param("{{ x[0:100000000] }}", "':' is not allowed", id="slice"),
    pytest.param("{{ x if x else y }}", "unexpected 'if'", id="conditional-expression"),
    pytest.param("{{ lambda: 1 }}", "':' is not allowed", id="lambda"),
    pytest.param("{{ [i for i in x] }}", "starts with a variable name", id="comprehension"),
    pytest.param("{{ x; import os }}", "';' is not allowed", id="statement"),
    pytest.param("{{ x\n}}{{ y.__dict__ }}", "names starting with '_'", id="second-expression"),
    pytest.param(
        "{% for x in y %}{{ x.__class__ }}{% endfor %}", "names starting", id="jinja-tags"
    ),
    pytest.param(
        "{{ x " + "| upper " * 1000 + "}}", "longer than 500 characters", id="filter-bomb"
    ),
    pytest.param("{{ x }}" * 65, "more than 64", id="expression-bomb"),
]


def field_condition(payload):
    return {"field": payload, "operator": "exists"}


def value_condition(payload):
    return {"field": "x", "operator": "equals", "value": payload}


@pytest.mark.parametrize(("payload", "reason"), [*PAYLOADS, *OWN_PAYLOADS])
def test_payload_is_refused_by_the_grammar(payload, reason):
    with pytest.raises(ExpressionError) as raised:
        parse(payload)
    assert reason in str(raised.value)
    # the message quotes what was refused (cut short) so that a user can find it
    assert "'{{" in str(raised.value) or '"{{' in str(raised.value)


@pytest.mark.parametrize(("payload", "reason"), [*PAYLOADS, *OWN_PAYLOADS])
def test_payload_is_refused_wherever_a_template_is_rendered(payload, reason):
    data = {"x": "text", "this": {}, "self": {}, "request": {}, "a": {}}

    for text in (payload, f"Hello {payload}!", {"to": [payload]}):
        with pytest.raises(ExpressionError) as raised:
            render(text, data)
        assert reason in str(raised.value)


@pytest.mark.parametrize(("payload", "reason"), PAYLOADS)
def test_payload_is_refused_as_a_condition_field_and_value(payload, reason):
    for condition, where in (
        (field_condition(payload), "field"),
        (value_condition(payload), "value"),
    ):
        with pytest.raises(ConditionError) as raised:
            evaluate(condition, {"x": "text"})
        assert str(raised.value).startswith(f"{where}: ")
        assert reason in str(raised.value)

        problems = validate_condition(condition)
        assert [path for path, _ in problems] == [where]
        assert reason in problems[0][1]


@pytest.mark.parametrize(("payload", "reason"), PAYLOADS)
def test_payload_is_refused_as_a_bare_path(payload, reason):
    bare = payload.removeprefix("{{").removesuffix("}}")
    with pytest.raises(ExpressionError):
        resolve_path(bare, {"x": "text"})


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({}, id="absent"),
        pytest.param({"x": "some text"}, id="a-string"),
        pytest.param({"x": {"a": 1}}, id="an-object"),
    ],
)
def test_format_map_is_a_key_lookup_never_the_method(data):
    assert parse(FORMAT_MAP).expressions[0].path == ("x", "format_map")

    with pytest.raises(UndefinedVariable, match=r"no key 'format_map'|no variable 'x'"):
        render(FORMAT_MAP, data)
    assert evaluate(field_condition(FORMAT_MAP), data) is False
    # ... and when the data does hold such a key, it is just data
    assert render(FORMAT_MAP, {"x": {"format_map": "harmless"}}) == "harmless"


# --- data that looks like an expression stays literal text (CVE-2026-27493) --------------

DATA_PAYLOADS = [
    pytest.param(
        {"comment": "{{ this.constructor.constructor('return process')() }}"}, id="n8n-comment"
    ),
    pytest.param({"name": "{{ secrets.stripe }}"}, id="secrets-name"),
    pytest.param({"name": "{{ self.__init__.__globals__.__builtins__ }}"}, id="jinja-name"),
    pytest.param({"name": "{0.__class__.__base__.__subclasses__}"}, id="format-string"),
    pytest.param({"name": "{{ unterminated"}, id="unterminated"),
]


@pytest.mark.parametrize("trigger_data", DATA_PAYLOADS)
def test_data_that_looks_like_an_expression_stays_literal(trigger_data):
    # given: a webhook body or form field carrying an expression, and secrets in reach
    ((key, text),) = trigger_data.items()
    variables = {**trigger_data, "secrets": {"stripe": "sk_live_x"}, "this": {}, "self": {}}

    # then: rendering it, typed or inside text, gives back the very same text
    assert render("{{ " + key + " }}", variables) == text
    assert render("Got: {{ " + key + " }}.", variables) == f"Got: {text}."
    assert render({"body": ["{{ " + key + " }}"]}, variables) == {"body": [text]}
    assert render("{{ " + key + " | upper | lower }}", variables) == text.lower()
    assert render("{{ " + key + " | json }}", variables).startswith('"{')
    assert "sk_live_x" not in render("{{ " + key + " }} {{ " + key + " | json }}", variables)

    # and: conditions compare it as text
    assert evaluate({"field": key, "operator": "equals", "value": "{{ " + key + " }}"}, variables)
    assert evaluate({"field": key, "operator": "contains", "value": "{"}, variables)
    assert not evaluate({"field": key, "operator": "contains", "value": "sk_live"}, variables)


# --- the data is walked as JSON, never as Python objects ---------------------------------


class Secretive:
    """An object that somehow ended up in the data: its attributes must stay out of reach."""

    api_key = "sk_live_attr"

    def __init__(self):
        self.password = "hunter2"

    def __getitem__(self, key):  # not a Mapping: subscription support alone is not enough
        return "sk_live_item"


@pytest.mark.parametrize(
    "text",
    [
        "{{ obj.password }}",
        "{{ obj.api_key }}",
        '{{ obj["password"] }}',
        '{{ obj["__dict__"] }}',
        "{{ obj[0] }}",
        "{{ holder.obj.password }}",
        "{{ items[0].password }}",
        "{{ text.upper }}",
        "{{ text.format }}",
        "{{ mapping.keys }}",
        "{{ mapping.items }}",
        "{{ mapping.get }}",
        "{{ number.real }}",
        "{{ number.imag }}",
        "{{ flag.bit_length }}",
        "{{ items.append }}",
        "{{ items.pop }}",
    ],
)
def test_attributes_of_objects_in_the_data_are_never_read(text):
    obj = Secretive()
    data = {
        "obj": obj,
        "holder": {"obj": obj},
        "items": [obj],
        "text": "abc",
        "mapping": {"a": 1},
        "number": 5,
        "flag": True,
    }

    with pytest.raises(UndefinedVariable):
        render(text, data)
    assert resolve_path(text, data) is MISSING  # not a bound method, not a secret
    assert evaluate({"field": text, "operator": "exists"}, data) is False
    assert data["items"] == [obj]  # nothing was called


def test_dunder_named_keys_are_plain_data():
    # a JSON key that happens to be called "__class__" is only ever a dict key
    data = {"x": {"__class__": "just data", "__init__": {"__globals__": "still data"}}}

    assert render('{{ x["__class__"] }}', data) == "just data"
    assert render("{{ x['__init__']['__globals__'] }}", data) == "still data"
    assert render('{{ x["__dict__"] | default("none") }}', data) == "none"
    with pytest.raises(ExpressionError, match="names starting with '_'"):
        render("{{ x.__class__ }}", data)


def test_format_strings_in_the_data_are_not_formatted():
    data = {"name": "{0.__class__}", "fmt": "%(password)s {password}", "password": "hunter2"}

    assert render("Hi {{ name }} {{ fmt }}", data) == "Hi {0.__class__} %(password)s {password}"
    assert render('{{ name | default("x") | upper }}', data) == "{0.__CLASS__}"


# --- matches: catastrophic backtracking is refused, not run ------------------------------


@pytest.mark.parametrize(
    "pattern",
    [
        "(a+)+$",  # from the payload list
        "(a*)*$",
        "(a|aa)+$",
        "(a|a?)+$",
        r"^(([a-z])+.)+[A-Z]([a-z])+$",
        r"(\w+\s?)*$",
        r"(.*,)*x",
    ],
)
def test_catastrophic_patterns_are_refused_quickly(pattern):
    condition = {"field": "text", "operator": "matches", "value": pattern}
    data = {"text": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"}

    with pytest.raises(ConditionError, match="may backtrack catastrophically"):
        evaluate(condition, data)
    assert "may backtrack catastrophically" in validate_condition(condition)[0][1]


def test_a_pattern_arriving_in_the_data_is_checked_too():
    # the value is a {{ }}: what it renders to is only known at run time
    condition = {"field": "text", "operator": "matches", "value": "{{ pattern }}"}
    data = {"text": "a" * 36 + "!", "pattern": "(a+)+$"}

    assert validate_condition(condition) == []
    with pytest.raises(ConditionError, match="may backtrack catastrophically"):
        evaluate(condition, data)


def test_polynomial_backtracking_on_long_input_is_refused():
    # each of these would take minutes on 10,000 characters
    data = {"text": "a" * 10_000}

    for pattern in ("a*a*b", r"\s*\s*$", ".*a.*b", r"\w+\s\w+\s\w+x"):
        condition = {"field": "text", "operator": "matches", "value": pattern}
        with pytest.raises(ConditionError, match="could take too long"):
            evaluate(condition, data)
