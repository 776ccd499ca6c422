"""The calculate language: small, exact arithmetic over a run's data.

The "Calculate value" action needs more than a `{{ }}` lookup (`invoice.amount * 1.19`) but far
less than a programming language, and every automation tool that reached for a general-purpose
language here was escaped through it (n8n's `constructor.constructor`, Jinja2's `__globals__`).
So this is a language of its own, read by a hand-written tokenizer and recursive-descent parser
(nothing here ever calls `eval`, `compile` or Python's `ast`), and all of it is this grammar:

    expression = sum [ ("==" | "!=" | "<" | "<=" | ">" | ">=") sum ]
    sum        = product ( ("+" | "-") product )*
    product    = unary ( ("*" | "/" | "%") unary )*
    unary      = ("-" | "+") unary | primary
    primary    = number | string | true | false | null
               | function "(" [ expression ( "," expression )* ] ")"
               | lookup | "(" expression ")"
    lookup     = name ( "." name | "[" integer "]" | "[" string "]" | "[*]" )*
    function   = round | floor | ceil | abs | min | max | sum | len

Lookups use the `{{ }}` path syntax (`invoice.items[0]["odd key"]`, `items[-1]`) and walk JSON
only: dict keys and list indexes, never Python attributes; names may not start with "_".
`items[*].amount` is the list of every item's amount (one `[*]` per lookup). A function name is
only a function when it is called; anything else followed by "(" is refused.

Numbers are exact Decimals: `0.1 + 0.2 == 0.3` holds, and a numeric string from a record
(`"1250.00"`) is the number 1250.00. A boolean is not a number. Text is for `==` / `!=` and
`len` only; text never multiplies, so `'a' * 100000000` is refused before any work is done.

    round(x)  round(x, 2)   half up (money rounding) to 0..20 decimal places
    floor(x)  ceil(x)       to a whole number;  abs(x)
    min(a, b, ...)  max(a, b, ...)  sum(a, b, ...)   or each over one list: sum(items[*].amount)
    len(x)                  length of a text, list or object (null is 0)

Division is exact when the result is (`10 / 4` is 2.5) and otherwise keeps 34 significant
digits (`1 / 3`); round() the result to the places you need. Division by zero is an error.
`%` keeps the sign of the left operand (`-7 % 3` is -1). Comparisons give true or false and do
not chain (`a < b < c` is refused); `<` `>` `<=` `>=` compare numbers only, `==` compares
numbers as numbers ("1250.00" == 1250) and anything else as JSON. There is no exponent
operator, no logical operators (a condition node does logic), no assignment and no strings
joined together.

Results are JSON-friendly and exact (see `to_json_result`): a whole number computed without
decimal places is a JSON integer; every other number is a string holding the exact decimal
("1500.00", "0.3"), because a JSON float would turn money into 0.30000000000000004 in the
next system that reads it. Record amounts are strings the same way, and conditions, the
`number` filter and the record actions all read numeric strings as numbers.

Caps keep the work small whatever the input: the expression's length, its node count and
nesting, the length of a path, the items a list may hold, and the size of every number.
"""

from __future__ import annotations

import decimal
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from workflows.lexing import Reader, Segment, Token, path_text, token_pattern
from workflows.values import as_decimal, describe_type, quote
from workflows.variables import walk_path

MAX_LENGTH = 1000
MAX_NODES = 200
MAX_DEPTH = 32
MAX_ITEMS = 10_000
MAX_TEXT_LITERAL = 200
MAX_NUMBER_LITERAL = 40
MAX_DECIMALS = 20
# Numbers stay below 10**30 in absolute value: money fits many times over, and it keeps every
# operation (and `%` of a huge number by a tiny one) within the context's precision.
MAX_MAGNITUDE = decimal.Decimal(10) ** 30
# JSON readers that turn numbers into doubles lose whole numbers beyond this.
_SAFE_INTEGER = 2**53

_CONTEXT = decimal.Context(
    prec=34,
    rounding=decimal.ROUND_HALF_EVEN,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)
# round() to 20 places of a number near the cap needs 50 digits.
_ROUNDING_CONTEXT = decimal.Context(prec=60, traps=[decimal.InvalidOperation])


class CalculationError(ValueError):
    """An expression outside the grammar, or one that cannot be computed on this data."""

    def __init__(self, message: str, expression: str = ""):
        super().__init__(message)
        self.expression = expression


# --- tokens ------------------------------------------------------------------------------
# Names, numbers, quoted text and lookup paths are read as `{{ }}` reads them (workflows.lexing);
# these are the calculate language's own words and refusals.

_CONSTANTS = {"true": True, "false": False, "null": None}
# Characters people reach for, with what to do instead.
_REFUSED_CHARACTERS = {
    "{": "braces are not needed: name variables directly (invoice.amount, not {{ }})",
    "}": "braces are not needed: name variables directly (invoice.amount, not {{ }})",
    "^": "there is no exponent operator",
    "=": "'=' assigns nothing here; compare with ==",
    "!": "there are no logical operators; a condition node combines conditions",
    "&": "there are no logical operators; a condition node combines conditions",
    "|": "filters belong to {{ }} lookups, not to calculate expressions",
    "`": "backticks are not allowed: text goes in single or double quotes",
}
_REFUSED_OPERATORS = {
    "**": "there is no exponent operator",
    "&&": "there are no logical operators; a condition node combines conditions",
    "||": "there are no logical operators; a condition node combines conditions",
}


# --- the tree ----------------------------------------------------------------------------

STAR = "*"  # the `[*]` segment of a lookup


@dataclass(frozen=True)
class _Literal:
    value: Any  # Decimal, str, bool or None


@dataclass(frozen=True)
class _Lookup:
    path: tuple[str | int, ...]  # may hold STAR once


@dataclass(frozen=True)
class _Unary:
    op: str
    operand: Any


@dataclass(frozen=True)
class _Binary:
    op: str
    left: Any
    right: Any


@dataclass(frozen=True)
class _Call:
    name: str
    args: tuple[Any, ...]


# name -> (fewest, most arguments, usage)
FUNCTIONS: dict[str, tuple[int, int, str]] = {
    "round": (1, 2, "round(x) or round(x, 2)"),
    "floor": (1, 1, "floor(x)"),
    "ceil": (1, 1, "ceil(x)"),
    "abs": (1, 1, "abs(x)"),
    "min": (1, MAX_NODES, "min(a, b) or min(list)"),
    "max": (1, MAX_NODES, "max(a, b) or max(list)"),
    "sum": (1, MAX_NODES, "sum(a, b) or sum(list)"),
    "len": (1, 1, "len(x)"),
}
_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")


class _Parser(Reader):
    pattern = token_pattern(r"==|!=|<=|>=|\*\*|&&|\|\||[-+*/%<>()\[\],.]")
    END = "the end of the expression"
    QUOTED = "text"
    PATH = "lookup"

    def __init__(self, text: str):
        super().__init__(text)
        self.nodes = 0
        self.depth = 0

    def fail(self, problem: str) -> CalculationError:
        return CalculationError(f"{problem} in {quote(self.text)}", self.text)

    def refused(self, char: str) -> str:
        return _REFUSED_CHARACTERS.get(
            char, "a calculate expression holds numbers, lookups, operators and calls"
        )

    @property
    def token(self) -> Token:
        token = super().token
        if token.kind == "punct" and token.value in _REFUSED_OPERATORS:
            raise self.fail(f"{token.value!r} is not allowed: {_REFUSED_OPERATORS[token.value]}")
        return token

    def node(self, value: Any) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.fail(f"the expression has more than {MAX_NODES} parts")
        return value

    def nested(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(f"the expression nests deeper than {MAX_DEPTH} levels")

    # The grammar, one method per rule.

    def parse(self) -> Any:
        tree = self.expression()
        if self.token.kind != "end":
            raise self.fail(f"unexpected {self.describe(self.token)}")
        return tree

    def expression(self) -> Any:
        left = self.sum()
        op = self.accept(*_COMPARISONS)
        if op is None:
            return left
        right = self.sum()
        if self.token.kind == "punct" and self.token.value in _COMPARISONS:
            raise self.fail("comparisons cannot be chained; compare two values at a time")
        if op not in ("==", "!=") and (_is_text(left) or _is_text(right)):
            raise self.fail(f"{op!r} compares numbers, not text")
        return self.node(_Binary(op, left, right))

    def sum(self) -> Any:
        left = self.product()
        while op := self.accept("+", "-"):
            left = self.arithmetic(op, left, self.product())
        return left

    def product(self) -> Any:
        left = self.unary()
        while op := self.accept("*", "/", "%"):
            left = self.arithmetic(op, left, self.unary())
        return left

    def arithmetic(self, op: str, left: Any, right: Any) -> Any:
        if _is_text(left) or _is_text(right):
            raise self.fail(f"{op!r} works on numbers, not text")
        return self.node(_Binary(op, left, right))

    def unary(self) -> Any:
        op = self.accept("-", "+")
        if op is None:
            return self.primary()
        self.nested()
        operand = self.unary()
        self.depth -= 1
        if _is_text(operand):
            raise self.fail(f"{op!r} works on numbers, not text")
        return self.node(_Unary(op, operand))

    def primary(self) -> Any:
        token = self.token
        if token.kind == "number":
            self.index += 1
            if len(token.value) > MAX_NUMBER_LITERAL:
                raise self.fail(f"a number has more than {MAX_NUMBER_LITERAL} digits")
            return self.node(_Literal(_checked(decimal.Decimal(token.value), self.text)))
        if token.kind == "string":
            self.index += 1
            text = self.unquote(token.value)
            if len(text) > MAX_TEXT_LITERAL:
                raise self.fail(f"a text is longer than {MAX_TEXT_LITERAL} characters")
            return self.node(_Literal(text))
        if token.kind == "name":
            if token.value in _CONSTANTS:
                self.index += 1
                return self.node(_Literal(_CONSTANTS[token.value]))
            following = self.tokens[self.index + 1]
            if following.kind == "punct" and following.value == "(":
                return self.call()
            return self.lookup()
        if self.accept("("):
            self.nested()
            inner = self.expression()
            self.expect(")", "to close the parenthesis")
            self.depth -= 1
            return inner
        raise self.fail(f"expected a number, a variable or '(', found {self.describe(token)}")

    def call(self) -> Any:
        name = self.token.value
        if name not in FUNCTIONS:
            raise self.fail(f"{name!r} is not a function; the functions are {', '.join(FUNCTIONS)}")
        self.index += 2  # the name and "("
        self.nested()
        args = []
        if not self.accept(")"):
            while True:
                args.append(self.expression())
                if self.accept(")"):
                    break
                self.expect(",", "between arguments")
        self.depth -= 1
        fewest, most, usage = FUNCTIONS[name]
        if not fewest <= len(args) <= most:
            raise self.fail(f"{name}() takes {usage}, not {len(args)} argument(s)")
        if name != "len" and any(_is_text(arg) for arg in args):
            raise self.fail(f"{name}() works on numbers, not text")
        return self.node(_Call(name, tuple(args)))

    def lookup(self) -> Any:
        path = self.path()
        following = self.token
        if following.kind == "punct" and following.value == "(":
            raise self.fail(
                f"calls are not allowed on {_shown(path)!r}; "
                f"the functions are {', '.join(FUNCTIONS)}"
            )
        return self.node(_Lookup(tuple(path)))

    def segment(self, path: list[Segment]) -> Segment:
        if self.accept("*"):
            if STAR in path:
                raise self.fail("a lookup may hold one [*]")
            return STAR
        return self.index_or_key("an integer, a quoted key or *", max_digits=9)


def _is_text(node: Any) -> bool:
    return isinstance(node, _Literal) and isinstance(node.value, str)


def _shown(path: list[str | int] | tuple[str | int, ...]) -> str:
    """A lookup written back in the grammar, `[*]` included."""
    if STAR not in path:
        return path_text(tuple(path))
    star = path.index(STAR)
    # path_text writes a leading name bare; a placeholder name keeps the rest as written.
    return path_text(tuple(path[:star])) + "[*]" + path_text(("x", *path[star + 1 :]))[1:]


# --- evaluating --------------------------------------------------------------------------


@dataclass(frozen=True)
class Calculation:
    """A parsed expression: `evaluate(variables)` computes it over a run's data."""

    text: str
    tree: Any

    def names(self) -> set[str]:
        """The variables the expression reads (the first segment of each lookup)."""
        found: set[str] = set()
        _collect_names(self.tree, found)
        return found

    def evaluate(self, variables: Mapping[str, Any]) -> Any:
        """The value, as `to_json_result` writes it; raises CalculationError."""
        try:
            with decimal.localcontext(_CONTEXT):
                return to_json_result(_Evaluator(self.text, variables).value(self.tree))
        except decimal.DecimalException:
            raise CalculationError(
                f"the result cannot be computed exactly in {quote(self.text)}", self.text
            ) from None


def _collect_names(node: Any, found: set[str]) -> None:
    if isinstance(node, _Lookup):
        found.add(str(node.path[0]))
    elif isinstance(node, _Unary):
        _collect_names(node.operand, found)
    elif isinstance(node, _Binary):
        _collect_names(node.left, found)
        _collect_names(node.right, found)
    elif isinstance(node, _Call):
        for arg in node.args:
            _collect_names(arg, found)


def parse(text: str) -> Calculation:
    """Parse an expression; raises CalculationError with a message that quotes it.

    Cached: a calculate step inside a loop parses the same few expressions for every item.
    """
    if not isinstance(text, str):
        raise CalculationError(f"an expression is text, not {describe_type(text)}")
    if not text.strip():
        raise CalculationError("the expression is empty: write one such as amount * 1.2")
    if len(text) > MAX_LENGTH:
        raise CalculationError(
            f"the expression is longer than {MAX_LENGTH} characters: {quote(text)}", text
        )
    return _parse(text)


@functools.lru_cache(maxsize=1024)
def _parse(text: str) -> Calculation:
    return Calculation(text, _Parser(text).parse())


def to_json_result(value: Any) -> Any:
    """A computed value as JSON: a whole number without decimal places is an integer, any
    other number the exact decimal as a string ("1500.00", never 1.5E+3); the rest as is."""
    if not isinstance(value, decimal.Decimal):
        return value
    if value.is_zero():
        value = value.copy_abs()  # no "-0.00"
    if value.as_tuple().exponent >= 0 and abs(value) < _SAFE_INTEGER:  # type: ignore[operator]
        return int(value)
    return format(value, "f")


def _checked(number: decimal.Decimal, text: str) -> decimal.Decimal:
    if abs(number) >= MAX_MAGNITUDE:
        raise CalculationError(f"a number is too large (the limit is 10^30) in {quote(text)}", text)
    return number


class _Evaluator:
    def __init__(self, text: str, variables: Mapping[str, Any]):
        self.text = text
        self.variables = variables

    def fail(self, problem: str) -> CalculationError:
        return CalculationError(f"{problem} in {quote(self.text)}", self.text)

    def value(self, node: Any) -> Any:
        if isinstance(node, _Literal):
            return node.value
        if isinstance(node, _Lookup):
            return self.lookup(node.path)
        if isinstance(node, _Unary):
            number = self.number(self.value(node.operand), node.op)
            return -number if node.op == "-" else +number
        if isinstance(node, _Binary):
            return self.binary(node.op, self.value(node.left), self.value(node.right))
        return self.call(node.name, [self.value(arg) for arg in node.args])

    def number(self, value: Any, where: str) -> decimal.Decimal:
        number = as_decimal(value)
        if number is None:
            shown = (
                f"{quote(value)} ({describe_type(value)})"
                if isinstance(value, str)
                else (describe_type(value))
            )
            raise self.fail(f"{where} needs a number, and {shown} is not one")
        return _checked(number, self.text)

    def binary(self, op: str, left: Any, right: Any) -> Any:
        if op == "==":
            return _equal(left, right)
        if op == "!=":
            return not _equal(left, right)
        a, b = self.number(left, repr(op)), self.number(right, repr(op))
        if op == "<":
            return a < b
        if op == "<=":
            return a <= b
        if op == ">":
            return a > b
        if op == ">=":
            return a >= b
        if op in ("/", "%") and b.is_zero():
            raise self.fail("division by zero")
        if op == "+":
            result = a + b
        elif op == "-":
            result = a - b
        elif op == "*":
            result = a * b
        elif op == "/":
            result = a / b
        else:
            result = a % b
        return _checked(result, self.text)

    def call(self, name: str, args: list[Any]) -> Any:
        if name == "len":
            (value,) = args
            if value is None:
                return decimal.Decimal(0)
            if isinstance(value, str | list | tuple | Mapping):
                return decimal.Decimal(len(value))
            raise self.fail(f"len() needs a text, list or object, not {describe_type(value)}")
        if name in ("min", "max", "sum"):
            items = args[0] if len(args) == 1 and isinstance(args[0], list | tuple) else args
            if len(items) > MAX_ITEMS:
                raise self.fail(f"{name}() takes at most {MAX_ITEMS} values")
            numbers = [self.number(item, f"{name}()") for item in items]
            if name == "sum":
                total = decimal.Decimal(0)
                for number in numbers:
                    total = _checked(total + number, self.text)
                return total
            if not numbers:
                raise self.fail(f"{name}() of an empty list")
            return min(numbers) if name == "min" else max(numbers)
        number = self.number(args[0], f"{name}()")
        if name == "abs":
            return abs(number)
        if name == "floor":
            return number.to_integral_value(rounding=decimal.ROUND_FLOOR)
        if name == "ceil":
            return number.to_integral_value(rounding=decimal.ROUND_CEILING)
        places = self.places(args[1]) if len(args) == 2 else 0
        return number.quantize(
            decimal.Decimal(1).scaleb(-places), decimal.ROUND_HALF_UP, _ROUNDING_CONTEXT
        )

    def places(self, value: Any) -> int:
        number = as_decimal(value)
        if number is None or number != number.to_integral_value():
            raise self.fail(f"round() takes a whole number of decimal places, not {value!r}")
        if not 0 <= number <= MAX_DECIMALS:
            raise self.fail(f"round() rounds to 0 to {MAX_DECIMALS} decimal places")
        return int(number)

    def lookup(self, path: tuple[str | int, ...]) -> Any:
        if STAR not in path:
            return self.walk(path, 0, self.variables)
        star = path.index(STAR)
        items = self.walk(path[:star], 0, self.variables)
        if not isinstance(items, list | tuple):
            where = path_text(path[:star])
            raise self.fail(f"{where!r} is {describe_type(items)}, so [*] has no items")
        if len(items) > MAX_ITEMS:
            raise self.fail(f"[*] takes at most {MAX_ITEMS} items")
        # Each item is walked as if its index had been written, so a message names the item.
        return [
            self.walk((*path[:star], index, *path[star + 1 :]), star + 1, item)
            for index, item in enumerate(items)
        ]

    def walk(self, path: tuple[str | int, ...], start: int, current: Any) -> Any:
        """Follow path[start:] from `current` as a `{{ }}` lookup does; absence is an error."""
        value, why = walk_path(path, current, start)
        if why:
            raise self.fail(why)
        return value


def _equal(left: Any, right: Any) -> bool:
    """Numbers as numbers whatever their JSON type; otherwise JSON equality."""
    left_number, right_number = as_decimal(left), as_decimal(right)
    if left_number is not None and right_number is not None:
        return left_number == right_number
    # Python says True == 1; JSON does not.
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    return left == right
