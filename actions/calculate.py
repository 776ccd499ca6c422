"""calculate: named values computed with the calculate language (`workflows.arithmetic`).

The language lives in the engine's package because it is an engine concept, a sibling of the
`{{ }}` lookups (`workflows.variables`) whose path syntax and value readings it shares, and
because the validator and the builder may want to parse expressions without importing an
action. This module is only the action: which variables an expression may read, the order in
which several expressions of one step are computed, and errors the retry policy understands.

    {"expressions": {"tax": "round(invoice.amount * 0.19, 2)", "total": "invoice.amount + tax"},
     "inputs": {"invoice": "{{ invoice }}"}}
    -> {"tax": "237.50", "total": "1487.50"}

What an expression can read, first match wins:

1. the other expressions of the same step (`total` above reads `tax`), computed in the order
   their references need whatever order the JSON keeps (PostgreSQL's jsonb sorts keys); an
   expression that names itself (`"amount": "round(amount, 2)"`) reads the input instead;
2. `inputs`: values given with `{{ }}` (a single `{{ }}` keeps its type, so `"{{ invoice }}"`
   is the whole record). The validator checks these like any `{{ }}`, the builder's variable
   picker fills them, and the step's recorded input shows exactly the values used;
3. the run's variables, when the engine hands them to actions (`context.extra["variables"]`).

An expression itself is never rendered: a `{{ }}` inside one would paste data into the
expression and evaluate it, which is how data becomes code. It is refused, both as written in
the workflow and after rendering.
"""

from collections import ChainMap
from typing import ClassVar

from workflows.arithmetic import CalculationError, parse

from .registry import ActionError, ActionType

MAX_EXPRESSIONS = 50
NAME_PATTERN = "^[A-Za-z$][A-Za-z0-9_]{0,63}$"


def _written_expressions(context):
    """The step's `expressions` as the author wrote them, before the engine rendered `{{ }}`
    (None when the step is not part of a stored workflow, as in a direct call)."""
    version = getattr(context.execution, "version", None)
    definition = getattr(version, "definition", None)
    if not isinstance(definition, dict):
        return None
    for node in definition.get("nodes") or []:
        if isinstance(node, dict) and node.get("id") == context.node_id:
            return (node.get("config") or {}).get("expressions")
    return None


def _parsed(config, context):
    expressions = config.get("expressions")
    if not isinstance(expressions, dict) or not expressions:
        raise ActionError(
            'expressions: give at least one, e.g. {"total": "amount * 1.2"}',
            kind="invalid_config",
        )
    if len(expressions) > MAX_EXPRESSIONS:
        raise ActionError(
            f"expressions: at most {MAX_EXPRESSIONS} in one step", kind="invalid_config"
        )
    written = _written_expressions(context)
    if isinstance(written, str):
        raise ActionError(
            "expressions: write them in the workflow; expressions taken from the run's data "
            "would let that data run as a calculation",
            kind="invalid_config",
        )
    written = written if isinstance(written, dict) else {}
    parsed = {}
    for name, text in expressions.items():
        as_written = written.get(name, text)
        if not isinstance(text, str) or "{{" in str(as_written):
            raise ActionError(
                f"expressions.{name}: an expression names variables directly "
                "(invoice.amount * 2), without {{ }}; put values from the run in 'inputs'",
                kind="invalid_config",
            )
        try:
            parsed[name] = parse(text)
        except CalculationError as exc:
            raise ActionError(f"expressions.{name}: {exc}", kind="invalid_config") from None
    return parsed


def _order(parsed):
    """Names in an order where each expression comes after the siblings it reads."""
    order, state = [], {}

    def visit(name, chain):
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            cycle = " -> ".join([*chain[chain.index(name) :], name])
            raise ActionError(
                f"expressions: {cycle} refer to each other in a circle", kind="invalid_config"
            )
        state[name] = "visiting"
        # An expression naming itself reads the input of that name: "amount": "round(amount, 2)".
        for needed in sorted(parsed[name].names() & parsed.keys() - {name}):
            visit(needed, [*chain, name])
        state[name] = "done"
        order.append(name)

    for name in parsed:
        visit(name, [])
    return order


def calculate(config, context):
    parsed = _parsed(config, context)
    inputs = config.get("inputs") or {}
    if not isinstance(inputs, dict):
        raise ActionError("inputs: an object of named values", kind="invalid_config")
    results: dict = {}
    scope = ChainMap(results, inputs, context.extra.get("variables") or {})
    for name in _order(parsed):
        try:
            results[name] = parsed[name].evaluate(scope)
        except CalculationError as exc:
            raise ActionError(f"expressions.{name}: {exc}", kind="expression") from None
    # The author's order, not the evaluation order.
    return {name: results[name] for name in parsed}


class Calculate(ActionType):
    """Compute named values with exact arithmetic: `round(invoice.amount * 0.19, 2)`.

    Numbers, lookups of the run's data, + - * / %, comparisons (true/false), parentheses and
    the functions round, floor, ceil, abs, min, max, sum and len. Money stays exact: a result
    with decimals is a string such as "237.50"; a whole number is a JSON integer. The result
    is an object with one key per expression.
    """

    key = "calculate"
    pure = True
    label = "Calculate value"
    category = "data"
    icon = "calculator"
    color = "#0891b2"
    # One key per expression, whatever the author names them: bind the object with one name.
    outputs: ClassVar[list[str]] = []
    # Pure: the same data gives the same answer, so a retry could only fail again.
    retry: ClassVar[dict] = {"max_attempts": 1}
    config_schema: ClassVar[dict] = {
        "type": "object",
        "required": ["expressions"],
        "additionalProperties": False,
        "properties": {
            "expressions": {
                "type": "object",
                "title": "Expressions",
                "description": (
                    'Name -> expression, e.g. "tax": "round(invoice.amount * 0.19, 2)". '
                    "Variables are named directly (no {{ }}); an expression may use the "
                    "result of another one of this step by its name."
                ),
                "minProperties": 1,
                "maxProperties": MAX_EXPRESSIONS,
                "propertyNames": {"pattern": NAME_PATTERN},
                "additionalProperties": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 1000,
                    "not": {"pattern": "\\{\\{"},
                },
            },
            "inputs": {
                "type": "object",
                "title": "Inputs",
                "description": (
                    "Values from the run that the expressions read by name, e.g. "
                    '"invoice": "{{ invoice }}" (a single {{ }} keeps its type).'
                ),
                "default": {},
                "propertyNames": {"pattern": NAME_PATTERN},
                "additionalProperties": {"title": "Value", "templated": True},
            },
        },
    }
    examples: ClassVar[list[dict]] = [
        {
            "expressions": {
                "tax": "round(invoice.amount * 0.19, 2)",
                "total": "invoice.amount + tax",
                "is_large": "total >= 10000",
            },
            "inputs": {"invoice": "{{ invoice }}"},
        },
        {
            "expressions": {
                "order_total": "sum(order.items[*].amount)",
                "lines": "len(order.items)",
            },
            "inputs": {"order": "{{ trigger.order }}"},
        },
        {
            "expressions": {"late_fee": "max(25, round(amount * 0.015, 2))"},
            "inputs": {"amount": "{{ invoice.amount }}"},
        },
    ]

    def run(self, config, context):
        return calculate(config, context)

    # Nothing leaves the process and nothing is written: test mode computes for real.
    simulate = run
