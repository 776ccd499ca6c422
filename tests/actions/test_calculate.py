"""The calculate language (workflows.arithmetic) and the calculate action, as tables.

Each table row is one expression and what it must give: a value, or an error whose message
says what is wrong. The hostile rows are the public sandbox-escape payloads of
`security/expression-payloads.md`: every one must be refused with a clear error.
"""

from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest
from jsonschema import Draft202012Validator

from actions.registry import ActionContext, ActionError, registry
from tests.support.definitions import echo
from workflows.arithmetic import MAX_ITEMS, CalculationError, parse, to_json_result
from workflows.validation.action_nodes import ConfigValidator

DATA = {
    "amount": "1250.00",
    "rate": 0.19,
    "count": 3,
    "zero": 0,
    "paid": True,
    "nothing": None,
    "name": "Acme",
    "tiny": 0.1,
    "invoice": {
        "amount": "1250.00",
        "number": "INV-7",
        "customer": {"type": "enterprise"},
        "items": [
            {"amount": "100.10", "qty": 2},
            {"amount": 200.2, "qty": 1},
            {"amount": "0.01", "qty": 5},
        ],
    },
    "odd": {"a key": 5, "_id": 9},
    "empty": [],
    "words": ["a", "b"],
    "huge": "1e40",
    "comment": "{{ this.constructor.constructor('return process')() }}",
    "label": "{{ secrets.stripe }}",
}


def calc(expression, variables=DATA):
    return parse(expression).evaluate(variables)


# -- what expressions compute -----------------------------------------------------------------

VALUES = [
    # arithmetic and precedence
    ("1 + 2", 3),
    ("2 + 3 * 4", 14),
    ("(2 + 3) * 4", 20),
    ("10 - 4 - 3", 3),  # left to right
    ("100 / 10 / 5", 2),
    ("2 * 3 % 4", 2),  # same level: (2 * 3) % 4
    ("-2 * 3", -6),
    ("- -2", 2),
    ("-(1 + 2) * 2", -6),
    ("+5", 5),
    ("7 % 3", 1),
    ("-7 % 3", -1),  # the sign of the left operand
    ("10 / 4", "2.5"),
    ("1 / 3", "0.3333333333333333333333333333333333"),
    # Decimal-exact money
    ("0.1 + 0.2", "0.3"),
    ("0.1 + 0.2 == 0.3", True),
    ("tiny + 0.2", "0.3"),  # a JSON float reads as the number it shows
    ("amount * 1.2", "1500.000"),
    ("round(amount * 1.2, 2)", "1500.00"),
    ("round(invoice.amount * 0.19, 2)", "237.50"),
    ("amount * rate", "237.5000"),
    ("1.10 * 3", "3.30"),
    ("amount - amount", "0.00"),
    ("round(-0.001, 2)", "0.00"),  # never "-0.00"
    ("2.50 * 2", "5.00"),  # decimal places are kept: money stays money
    ("2.5 * 2", "5.0"),
    ("count * 2", 6),  # whole numbers are JSON integers
    # functions
    ("round(2.345, 2)", "2.35"),  # half up, as money is rounded
    ("round(2.5)", 3),
    ("round(-2.5)", -3),
    ("round(1234.5678, 0)", 1235),
    ("floor(2.7)", 2),
    ("floor(-2.1)", -3),
    ("ceil(2.1)", 3),
    ("abs(-4.50)", "4.50"),
    ("min(3, 1, 2)", 1),
    ("max(amount, 2000)", 2000),
    ("max(amount, 20)", "1250.00"),
    ("sum(1, 2, 3.5)", "6.5"),
    ("sum(invoice.items[*].amount)", "300.31"),
    ("sum(invoice.items[*].qty)", 8),
    ("max(invoice.items[*].amount)", "200.2"),
    ("min(invoice.items[*].amount)", "0.01"),
    ("sum(empty)", 0),
    ("len(invoice.items)", 3),
    ("len(name)", 4),
    ("len(invoice)", 4),  # the keys of an object
    ("len(nothing)", 0),
    ("len(invoice.items) * 2", 6),
    ("round(sum(invoice.items[*].amount) / len(invoice.items), 2)", "100.10"),
    # comparisons give booleans
    ("amount > 1000", True),
    ("amount >= 1250", True),
    ("amount < 1250", False),
    ("amount <= 1249.99", False),
    ("amount == 1250", True),  # a numeric string is the number
    ("amount != 1250", False),
    ("name == 'Acme'", True),
    ('name == "acme"', False),
    ("invoice.customer.type == 'enterprise'", True),
    ("paid == true", True),
    ("paid == 1", False),  # a boolean is not a number
    ("nothing == null", True),
    ("count * 2 > amount / 1000", True),
    # lookups: the {{ }} path syntax
    ("invoice.items[0].amount", "100.10"),
    ("invoice.items[-1].qty", 5),
    ('odd["a key"] + 1', 6),
    ('odd["_id"]', 9),  # a key starting with _ is data, read by quoted key
    ("invoice.items[*].qty", [2, 1, 5]),
    ("invoice.number", "INV-7"),
    ("words", ["a", "b"]),
    # data that looks like an expression is data: never evaluated
    ("len(comment)", len(DATA["comment"])),
    ("comment == \"{{ this.constructor.constructor('return process')() }}\"", True),
    ("comment", DATA["comment"]),
    ("label", "{{ secrets.stripe }}"),
]


@pytest.mark.parametrize(("expression", "expected"), VALUES)
def test_expressions_compute(expression, expected):
    result = calc(expression)
    assert result == expected
    assert type(result) is type(expected)


# -- errors: the data does not fit --------------------------------------------------------------

EVALUATION_ERRORS = [
    ("1 / 0", "division by zero"),
    ("amount / zero", "division by zero"),
    ("5 % 0", "division by zero"),
    ("missing * 2", "there is no variable 'missing'"),
    ("invoice.amout * 2", "'invoice' has no key 'amout'"),
    ("invoice.items[7].amount", "'invoice.items' has no item [7] (it has 3)"),
    ("name.first", "'name' is a string, so it has no key 'first'"),
    ("invoice.items.amount", "'invoice.items' is a list, so it has no key 'amount'"),
    ("name[*].x", "'name' is a string, so [*] has no items"),
    ("sum(invoice.items[*].missing)", "'invoice.items[0]' has no key 'missing'"),
    ("sum(invoice.items[*].qty.x)", "'invoice.items[0].qty' is a number, so it has no key 'x'"),
    ("name * 2", "'*' needs a number, and 'Acme' (a string) is not one"),
    ("paid + 1", "'+' needs a number, and a boolean is not one"),
    ("nothing + 1", "'+' needs a number, and null is not one"),
    ("invoice + 1", "an object is not one"),
    ("name > 3", "'>' needs a number"),
    ("sum(words)", "sum() needs a number"),
    ("min(empty)", "min() of an empty list"),
    ("len(count)", "len() needs a text, list or object, not a number"),
    ("round(1.5, 1.5)", "round() takes a whole number of decimal places"),
    ("round(1.5, 21)", "round() rounds to 0 to 20 decimal places"),
    ("round(1.5, -1)", "round() rounds to 0 to 20 decimal places"),
    # the big-number guard
    ("huge + 1", "a number is too large"),
    ("100000000000000000000 * 100000000000000000000", "a number is too large"),
    ("999999999999999999999999999999", "a number is too large"),
]


@pytest.mark.parametrize(("expression", "message"), EVALUATION_ERRORS)
def test_data_that_does_not_fit_is_a_clear_error(expression, message):
    with pytest.raises(CalculationError) as excinfo:
        calc(expression)
    assert message in str(excinfo.value)
    assert repr(expression)[1:-1][:30] in str(excinfo.value)  # it quotes the expression


# -- errors: outside the grammar (found before anything runs) -----------------------------------

GRAMMAR_ERRORS = [
    ("", "the expression is empty"),
    ("   ", "the expression is empty"),
    ("1 +", "expected a number, a variable or '('"),
    ("(1 + 2", "expected ')' to close the parenthesis"),
    ("1 2", "unexpected '2'"),
    ("2 ** 3", "there is no exponent operator"),
    ("2 ^ 3", "there is no exponent operator"),
    ("a = 1", "compare with =="),
    ("a && b", "there are no logical operators"),
    ("a || b", "there are no logical operators"),
    ("!a", "there are no logical operators"),
    ("a < b < c", "comparisons cannot be chained"),
    ("'a' + 'b'", "'+' works on numbers, not text"),
    ("-'a'", "'-' works on numbers, not text"),
    ("'a' > 'b'", "'>' compares numbers, not text"),
    ("max('a', 1)", "max() works on numbers, not text"),
    ("pow(2, 3)", "'pow' is not a function; the functions are round, floor, ceil"),
    ("round()", "round() takes round(x) or round(x, 2), not 0 argument(s)"),
    ("round(1, 2, 3)", "round() takes round(x) or round(x, 2), not 3 argument(s)"),
    ("len(a, b)", "len() takes len(x), not 2 argument(s)"),
    ("amount.round(2)", "calls are not allowed on 'amount.round'"),
    ("items[*].a[*].b", "a lookup may hold one [*]"),
    ("items[1.5]", "only an integer, a quoted key or * may stand inside [ ]"),
    ("items[i]", "only an integer, a quoted key or * may stand inside [ ]"),
    ("a.1", "expected a key name, found '1'; use [0] for an index"),
    ("_secret", "names starting with '_' are not allowed"),
    ("a._b", "names starting with '_' are not allowed"),
    ("'unterminated", "unterminated text"),
    ("'a\\qb' == x", "unknown escape '\\q'"),
    ("1e5", "unexpected 'e5'"),
    ("{{ amount }} * 2", "braces are not needed"),
    ("amount | number(2)", "filters belong to {{ }} lookups"),
    ("`x`", "backticks are not allowed"),
    ("a; b", "';' is not allowed"),
    ("a if b else c", "unexpected 'if'"),
]


@pytest.mark.parametrize(("expression", "message"), GRAMMAR_ERRORS)
def test_text_outside_the_grammar_is_refused_when_parsed(expression, message):
    with pytest.raises(CalculationError) as excinfo:
        parse(expression)
    assert message in str(excinfo.value)


# -- caps on size and work ----------------------------------------------------------------------

CAPS = [
    ("1" + " + 1" * 600, "longer than 1000 characters"),
    (" + ".join(["a"] * 201), "more than 200 parts"),
    ("(" * 40 + "1" + ")" * 40, "nests deeper than 32 levels"),
    ("-" * 40 + "1", "nests deeper than 32 levels"),
    ("round(" * 40 + "1" + ")" * 40, "nests deeper than 32 levels"),
    (".".join("abcdefghijklmnopqrstuvwxyzabcdefghijklmnop"), "at most 32 segments"),
    ("1" * 41, "more than 40 digits"),
    ("'" + "x" * 201 + "' == a", "longer than 200 characters"),
]


@pytest.mark.parametrize(("expression", "message"), CAPS)
def test_caps_on_size(expression, message):
    with pytest.raises(CalculationError) as excinfo:
        parse(expression)
    assert message in str(excinfo.value)


def test_caps_on_work():
    many = {"items": [{"amount": 1}] * (MAX_ITEMS + 1), "numbers": [1] * (MAX_ITEMS + 1)}
    with pytest.raises(CalculationError, match=r"\[\*\] takes at most 10000 items"):
        calc("sum(items[*].amount)", many)
    with pytest.raises(CalculationError, match=r"sum\(\) takes at most 10000 values"):
        calc("sum(numbers)", many)
    # Just under the cap works.
    assert calc("sum(items[*].amount)", {"items": [{"amount": 1}] * MAX_ITEMS}) == MAX_ITEMS


# -- hostile payloads: every line of security/expression-payloads.md ---------------------------

PAYLOADS = [
    # n8n (CVE-2025-68613, its template-literal bypass, CVE-2026-1470)
    "{{ this.constructor.constructor('return process')().platform }}",
    "{{ this[`constructor`][`constructor`]('return process')() }}",
    "{{ (() => { var constructor = 1; with (function(){}) "
    "{ return constructor('return process')() } })() }}",
    "{{ $json.constructor.constructor('return this')().process.mainModule"
    ".require('child_process').execSync('id') }}",
    "{{ Object.getPrototypeOf(async function(){}).constructor('return process')() }}",
    '{"comment": "{{ this.constructor.constructor(\'return process\')() }}"}',
    '{"name": "{{ secrets.stripe }}"}',
    # Jinja2 / Python template injection
    "{{ self.__init__.__globals__.__builtins__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ request.application.__globals__.__builtins__.__import__('os').popen('id').read() }}",
    '{{ "{0.__class__.__base__.__subclasses__}".format(x) }}',
    "{{ x.format_map }}",
    "{{ __import__('os').system('id') }}",
    "{{ [].__class__.__base__.__subclasses__() }}",
    # work bombs
    "{{ 'a' * 100000000 }}",
    "{{ range(1000000000) | list }}",
    "{{ 9 ** 9 ** 9 }}",
    "{{ a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p }}",
]


def _inner(payload):
    """The payload without its braces, as someone might type it into a calculate field."""
    return payload.removeprefix("{{").removesuffix("}}").strip()


# What the refusal of each payload's inner text says: each is refused for its own reason.
INNER_REFUSALS = [
    "calls are not allowed on 'this.constructor.constructor'",
    "backticks are not allowed",
    "expected a number, a variable or '(', found ')'",
    "calls are not allowed on '$json.constructor.constructor'",
    "calls are not allowed on 'Object.getPrototypeOf'",
    "braces are not needed",
    "braces are not needed",
    "names starting with '_' are not allowed",
    "names starting with '_' are not allowed",
    "names starting with '_' are not allowed",
    "unexpected '.'",
    "there is no variable 'x'",  # a plain lookup of data, see the next test
    "'__import__' is not a function",
    "expected a number, a variable or '(', found '['",
    "'*' works on numbers, not text",
    "'range' is not a function",
    "there is no exponent operator",
    "at most 32 segments",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_every_public_payload_is_refused_as_written(payload):
    with pytest.raises(CalculationError) as excinfo:
        parse(payload)
    assert "'{' is not allowed: braces are not needed" in str(excinfo.value)


@pytest.mark.parametrize(
    ("payload", "refusal"), list(zip(PAYLOADS, INNER_REFUSALS, strict=True)), ids=range(18)
)
def test_every_public_payload_is_refused_without_its_braces(payload, refusal):
    inner = _inner(payload)
    if inner.startswith('{"'):
        inner = payload  # the data payloads are JSON: their braces are the point
    with pytest.raises(CalculationError) as excinfo:
        parse(inner).evaluate(DATA)
    assert refusal in str(excinfo.value)


@pytest.mark.parametrize("payload", [*PAYLOADS, *map(_inner, PAYLOADS)])
def test_every_public_payload_is_refused_by_the_action(payload):
    with pytest.raises(ActionError) as excinfo:
        run({"expressions": {"x": payload}, "inputs": {"x": {}}})
    assert excinfo.value.kind in ("invalid_config", "expression")
    assert excinfo.value.message.startswith("expressions.x: ")


def test_the_format_map_payload_is_a_plain_missing_lookup():
    # `x.format_map` is a valid lookup: it reads data only, never a Python attribute.
    with pytest.raises(CalculationError, match="there is no variable 'x'"):
        calc("x.format_map")
    assert calc("x.format_map", {"x": {"format_map": 1}}) == 1
    with pytest.raises(CalculationError, match="'x' is a string, so it has no key 'format_map'"):
        calc("x.format_map", {"x": "{0}"})


def test_lookups_never_read_python_attributes():
    class Sneaky(dict):
        secret = "attribute"

    with pytest.raises(CalculationError, match="has no key 'secret'"):
        calc("obj.secret", {"obj": Sneaky()})
    with pytest.raises(CalculationError, match="not JSON data, so it has no key 'real'"):
        calc("obj.real", {"obj": 1j})


# -- results stay JSON-friendly -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "json"),
    [
        (Decimal("2"), 2),
        (Decimal("1E+2"), 100),  # never exponent notation
        (Decimal("2.50"), "2.50"),
        (Decimal("12345678901234567890"), "12345678901234567890"),  # beyond a double's integers
        (Decimal("-0.000"), "0.000"),
        (True, True),
        (None, None),
    ],
)
def test_results_are_json(value, json):
    assert to_json_result(value) == json


# -- the action -----------------------------------------------------------------------------------


def context(node_id="calc", **extra):
    return ActionContext(
        execution=SimpleNamespace(public_id="exe_calc"),
        node_id=node_id,
        path=node_id,
        attempt=1,
        timezone=UTC,
        now=datetime(2026, 11, 26, 9, tzinfo=UTC),
        extra=extra,
    )


def run(config, **extra):
    return registry.get("calculate").run(config, context(**extra))


def test_several_named_results_at_once_reading_inputs():
    config = {
        "expressions": {
            "tax": "round(invoice.amount * 0.19, 2)",
            "total": "invoice.amount + tax",
            "is_large": "total >= 1000",
        },
        "inputs": {"invoice": {"amount": "1250.00"}},
    }
    assert run(config) == {"tax": "237.50", "total": "1487.50", "is_large": True}


def test_expressions_may_read_each_other_in_any_order():
    # PostgreSQL's jsonb does not keep key order, so the order must come from the references.
    config = {"expressions": {"c": "b * 2", "a": "1", "b": "a + 1"}}
    result = run(config)
    assert result == {"c": 4, "a": 1, "b": 2}
    assert list(result) == ["c", "a", "b"]  # the author's order


def test_an_expression_naming_itself_reads_the_input():
    config = {"expressions": {"amount": "round(amount, 2)"}, "inputs": {"amount": "10.456"}}
    assert run(config) == {"amount": "10.46"}


def test_a_circle_of_expressions_is_refused():
    with pytest.raises(ActionError) as excinfo:
        run({"expressions": {"a": "b + 1", "b": "c + 1", "c": "a + 1"}})
    assert excinfo.value.kind == "invalid_config"
    assert "a -> b -> c -> a refer to each other in a circle" in excinfo.value.message


def test_the_runs_variables_are_read_when_the_engine_provides_them():
    variables = {"invoice": {"amount": "10.00"}, "amount": "1"}
    config = {"expressions": {"double": "invoice.amount * 2", "x": "amount"}}
    assert run(config, variables=variables) == {"double": "20.00", "x": "1"}
    # inputs come before the run's variables
    config["inputs"] = {"amount": 5}
    assert run(config, variables=variables)["x"] == 5


@pytest.mark.parametrize(
    ("config", "kind", "message"),
    [
        ({"expressions": {}}, "invalid_config", "expressions: give at least one"),
        ({"expressions": {"x": "1 +"}}, "invalid_config", "expressions.x: expected a number"),
        ({"expressions": {"x": "y * 2"}}, "expression", "expressions.x: there is no variable 'y'"),
        ({"expressions": {"x": "1 / 0"}}, "expression", "expressions.x: division by zero"),
        ({"expressions": {"x": 5}}, "invalid_config", "without {{ }}"),
        ({"expressions": {"x": "1"}, "inputs": [1]}, "invalid_config", "inputs: an object"),
    ],
)
def test_action_errors(config, kind, message):
    with pytest.raises(ActionError) as excinfo:
        run(config)
    assert excinfo.value.kind == kind
    assert message in excinfo.value.message


# -- through the engine ---------------------------------------------------------------------------


def one_step(config, **node):
    return {
        "name": "Calculate",
        "trigger": {"type": "manual"},
        "nodes": [
            {"id": "calc", "type": "action", "action": "calculate", "config": config, **node}
        ],
        "edges": [{"from": "trigger", "to": "calc"}],
    }


@pytest.mark.django_db
def test_a_run_computes_and_binds_the_results(run_workflow):
    config = {
        "expressions": {"tax": "round(amount * 0.19, 2)", "late": "days > 30"},
        "inputs": {"amount": "{{ invoice.amount }}", "days": "{{ invoice.days_overdue }}"},
    }
    workflow = one_step(config, outputs=["totals"])
    workflow["nodes"].append(echo("seen", "{{ totals }}", ["tax", "late"]))
    workflow["edges"].append({"from": "calc", "to": "seen"})
    execution = run_workflow(workflow, {"invoice": {"amount": "1250.00", "days_overdue": 12}})
    assert execution.status == "completed"
    step = execution.steps.get(node_id="calc")
    assert step.input["inputs"] == {"amount": "1250.00", "days": 12}  # the values used
    assert step.output == {"tax": "237.50", "late": False}
    # bound under its output name, for the steps after it
    assert execution.steps.get(node_id="seen").output == {"seen": {"tax": "237.50", "late": False}}


@pytest.mark.django_db
def test_test_mode_computes_the_same(run_workflow):
    config = {"expressions": {"x": "a * 2"}, "inputs": {"a": "{{ a }}"}}
    execution = run_workflow(one_step(config), {"a": "0.1"}, test=True)
    assert execution.steps.get().output == {"x": "0.2"}


@pytest.mark.django_db
def test_data_is_never_evaluated_as_an_expression(run_workflow):
    # A single {{ }} passes the schema (its value is only known at run time), but pasting
    # data into an expression would run the data: it is refused as written.
    config = {"expressions": {"x": "{{ formula }}"}}
    execution = run_workflow(one_step(config), {"formula": "1 + 1"})
    assert execution.status == "failed"
    error = execution.steps.get().error
    assert error["type"] == "invalid_config"
    assert "without {{ }}" in error["message"]


@pytest.mark.django_db
def test_expressions_from_data_are_refused_whole(run_workflow):
    config = {"expressions": "{{ formulas }}"}
    execution = run_workflow(one_step(config), {"formulas": {"x": "1 + 1"}})
    assert execution.status == "failed"
    assert "expressions taken from the run's data" in execution.steps.get().error["message"]


# -- the catalog entry ----------------------------------------------------------------------------


def test_the_schema_is_valid_and_accepts_every_example():
    action = registry.get("calculate")
    Draft202012Validator.check_schema(action.config_schema)
    assert action.examples
    for example in action.examples:
        assert list(ConfigValidator(action.config_schema).iter_errors(example)) == []
    bad = {"expressions": {"x": "{{ a }} * 2"}}
    assert list(ConfigValidator(action.config_schema).iter_errors(bad))
