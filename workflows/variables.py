"""The `{{ }}` lookup grammar: how a workflow's config reads the data of its run.

A `{{ }}` is a data lookup, not code. Automation tools that evaluated user expressions in a
general-purpose language were escaped again and again (n8n's `constructor.constructor`,
Jinja2's `__globals__` and `str.format`), so this module accepts a deliberately tiny grammar:

    {{ path ( | filter )* }}
    path    = name ( .name | [int] | ["key"] | ['key'] )*
    name    = [A-Za-z_$][A-Za-z0-9_]*   (but never starting with "_")
    filter  = default(x) | upper | lower | date("%Y-%m-%d") | number(2) | json | length
    x       = "string" | 'string' | int | decimal | true | false | null

Anything else (operators, calls, backticks, lambdas, comprehensions) is refused when the
string is parsed, with a message that quotes it. Walking a path only ever indexes JSON:
`Mapping` keys and list/tuple indexes; attributes are never read, so an object that ends up
in the data exposes nothing. Negative indexes count from the end (`items[-1]` is the last).
Bare names starting with `_` are refused because every Python template-injection payload
starts with one; a data key that really starts with `_` can still be read as `["_id"]`,
which is harmless since it is only ever a dict key.

Substitution is one pass: text that comes out of the data is never parsed again, so a
webhook body containing `{{ ... }}` stays literal text.

The filters themselves, and the checks of their arguments, are in `workflows.filters`; how a
value reads as text, a number or a date is in `workflows.values`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from workflows.filters import FILTERS, FilterError
from workflows.lexing import MAX_PATH_SEGMENTS as MAX_PATH_SEGMENTS
from workflows.lexing import STRING, Reader, Segment, Token, path_text, token_pattern
from workflows.values import MISSING, describe_type, quote, to_text

MAX_TEMPLATE_LENGTH = 100_000
MAX_EXPRESSION_LENGTH = 500
MAX_EXPRESSIONS = 64
MAX_FILTERS = 16


class ExpressionError(ValueError):
    """A `{{ }}` that is not in the grammar, or that cannot be rendered."""

    def __init__(self, message: str, text: str = ""):
        super().__init__(message)
        self.text = text


class UndefinedVariable(ExpressionError):
    """A lookup of a path that is not in the data (and has no `default`)."""

    def __init__(self, message: str, text: str = "", path: str = "", missing: str = ""):
        super().__init__(message, text)
        self.path = path
        self.missing = missing


# --- walking the data --------------------------------------------------------------------


def walk_path(path: tuple[Segment, ...], current: Any, start: int = 0) -> tuple[Any, str]:
    """Follow `path[start:]` from `current` through JSON only (keys and indexes, never
    attributes); return (value, "") or (MISSING, why it is missing). Calculate lookups walk
    the same way, so both languages find (and fail to find) the same things."""
    for i in range(start, len(path)):
        segment = path[i]
        if isinstance(segment, int):
            if not isinstance(current, list | tuple):
                where = path_text(path[:i])
                return (
                    MISSING,
                    f"{where!r} is {describe_type(current)}, so it has no item [{segment}]",
                )
            if not -len(current) <= segment < len(current):
                where = path_text(path[:i])
                return MISSING, f"{where!r} has no item [{segment}] (it has {len(current)})"
            current = current[segment]
        else:
            # `in` before `[]`: a defaultdict must not invent the key.
            if not isinstance(current, Mapping):
                where = path_text(path[:i])
                return (
                    MISSING,
                    f"{where!r} is {describe_type(current)}, so it has no key {segment!r}",
                )
            if segment not in current:
                if i == 0:
                    return MISSING, f"there is no variable {segment!r}"
                return MISSING, f"{path_text(path[:i])!r} has no key {segment!r}"
            current = current[segment]
    return current, ""


# --- parsing -----------------------------------------------------------------------------

# Everything up to the closing `}}`, stepping over quoted strings so that `default("}}")`
# works (the same quoted strings the tokenizer reads). The alternatives start with different
# characters, so this never backtracks.
_INNER_RE = re.compile(rf"""(?:[^"'}}]|{STRING}|\}}(?!\}}))*""", re.DOTALL)
_LITERAL_NAMES = {"true": True, "false": False, "null": None}


@dataclass(frozen=True)
class Expression:
    """One parsed `{{ }}`: where it looks (`path`) and how it formats the value (`filters`)."""

    text: str  # the source between the braces, stripped
    path: tuple[Segment, ...]
    filters: tuple[tuple[str, tuple[Any, ...]], ...]

    @property
    def root(self) -> str:
        return self.path[0]  # type: ignore[return-value]  # the parser makes it a name

    @property
    def source(self) -> str:
        return "{{ " + self.text + " }}"

    @property
    def path_text(self) -> str:
        return path_text(self.path)

    def lookup(self, variables: Mapping[str, Any]) -> Any:
        """The filtered value, or MISSING when the path is absent and nothing supplied one."""
        return self._lookup(variables)[0]

    def evaluate(self, variables: Mapping[str, Any]) -> Any:
        """The filtered value; raises UndefinedVariable when the path is absent."""
        value, why = self._lookup(variables)
        if value is MISSING:
            raise UndefinedVariable(
                f"variable {self.path_text!r} is not defined: {why} (in {quote(self.source)}; "
                'add | default("...") if it may be absent)',
                self.text,
                path=self.path_text,
                missing=why,
            )
        return value

    def _lookup(self, variables: Mapping[str, Any]) -> tuple[Any, str]:
        value, why = walk_path(self.path, variables)
        for name, args in self.filters:
            try:
                value = FILTERS[name].apply(value, args)
            except FilterError as exc:
                raise ExpressionError(f"{exc} (in {quote(self.source)})", self.text) from None
        return value, why


class _Parser(Reader):
    pattern = token_pattern(r"[.\[\]|(),-]")

    def fail(self, problem: str) -> ExpressionError:
        return ExpressionError(f"{problem} in {quote('{{ ' + self.text + ' }}')}", self.text)

    def refused(self, char: str) -> str:
        return "a {{ }} is a variable lookup such as invoice.customer.email, not code"

    def describe(self, token: Token) -> str:
        if token.kind == "string":
            return f"the string {token.value}"
        return super().describe(token)

    def expression(self) -> Expression:
        path = self.path()
        filters = []
        while self.accept("|"):
            filters.append(self.filter())
            if len(filters) > MAX_FILTERS:
                raise self.fail(f"more than {MAX_FILTERS} filters")
        if self.token.kind != "end":
            if self.token.value == "(":
                raise self.fail("calls are not allowed: a {{ }} only looks data up")
            raise self.fail(f"unexpected {self.describe(self.token)}")
        return Expression(self.text, tuple(path), tuple(filters))

    def path(self) -> list[Segment]:
        if self.token.kind != "name":
            raise self.fail(
                f"an expression starts with a variable name, not {self.describe(self.token)}"
            )
        return super().path()

    def filter(self) -> tuple[str, tuple[Any, ...]]:
        name = self.name("filter", index_hint=False)
        spec = FILTERS.get(name)
        if spec is None:
            raise self.fail(f"unknown filter {name!r}; the filters are {', '.join(FILTERS)}")
        args: list[Any] = []
        if self.accept("(") and not self.accept(")"):
            while True:
                args.append(self.literal())
                if self.accept(")"):
                    break
                self.expect(",", "between filter arguments")
        problem = spec.args_problem(tuple(args))
        if problem:
            raise self.fail(problem)
        return name, tuple(args)

    def literal(self) -> Any:
        token = self.token
        negative = token.kind == "punct" and token.value == "-"
        if negative:
            self.index += 1
            token = self.token
        if token.kind == "number":
            self.index += 1
            number = float(token.value) if "." in token.value else int(token.value)
            return -number if negative else number
        if not negative and token.kind == "string":
            self.index += 1
            return self.unquote(token.value)
        if not negative and token.kind == "name" and token.value in _LITERAL_NAMES:
            self.index += 1
            return _LITERAL_NAMES[token.value]
        raise self.fail(
            "filter arguments must be literals (a quoted string, a number, true, false or null), "
            f"not {self.describe(token)}"
        )


def _parse_inner(inner: str) -> Expression:
    text = inner.strip()
    if not text:
        raise ExpressionError("empty {{ }}: write a variable name such as {{ invoice.number }}")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(
            f"expression longer than {MAX_EXPRESSION_LENGTH} characters: "
            f"{quote('{{ ' + text + ' }}')}",
            text,
        )
    return _Parser(text).expression()


@dataclass(frozen=True)
class Template:
    """A config string split into literal text and `{{ }}` expressions."""

    text: str
    parts: tuple[str | Expression, ...]
    # The expression when the whole string (give or take spaces) is exactly one `{{ }}`:
    # then rendering keeps the value's JSON type.
    single: Expression | None

    @property
    def expressions(self) -> tuple[Expression, ...]:
        return tuple(part for part in self.parts if isinstance(part, Expression))

    def render(self, variables: Mapping[str, Any]) -> Any:
        single = self.single
        if single is not None:
            return single.evaluate(variables)
        # Each piece is rendered from the data once and joined: nothing is parsed again.
        return "".join(
            part if isinstance(part, str) else to_text(part.evaluate(variables))
            for part in self.parts
        )


def parse(text: str) -> Template:
    """Compile a config string; cached, since the engine renders the same strings over and over.

    Only texts up to 10 KB are kept, so the cache stays small whatever the email bodies are.
    """
    if len(text) > _CACHED_TEXT_LENGTH:
        return _parse(text)
    return _parse_cached(text)


def _parse(text: str) -> Template:
    if len(text) > MAX_TEMPLATE_LENGTH:
        raise ExpressionError(
            f"text longer than {MAX_TEMPLATE_LENGTH} characters cannot hold {{{{ }}}}: "
            f"{quote(text)}"
        )
    parts: list[str | Expression] = []
    count = 0
    pos = 0
    while True:
        start = text.find("{{", pos)
        if start < 0:
            break
        inner_end = _INNER_RE.match(text, start + 2).end()  # type: ignore[union-attr]
        if not text.startswith("}}", inner_end):
            raise ExpressionError(
                f"unterminated '{{{{' (no closing '}}}}', or an unclosed quote) in "
                f"{quote(text[start:])}",
                text,
            )
        if start > pos:
            parts.append(text[pos:start])
        count += 1
        if count > MAX_EXPRESSIONS:
            raise ExpressionError(
                f"more than {MAX_EXPRESSIONS} {{{{ }}}} expressions in one text: {quote(text)}",
                text,
            )
        parts.append(_parse_inner(text[start + 2 : inner_end]))
        pos = inner_end + 2
    if pos < len(text):
        parts.append(text[pos:])
    meaningful = [p for p in parts if not (isinstance(p, str) and not p.strip())]
    single = meaningful[0] if len(meaningful) == 1 else None
    return Template(text, tuple(parts), single if isinstance(single, Expression) else None)


_CACHED_TEXT_LENGTH = 10_000
_parse_cached = functools.lru_cache(maxsize=2048)(_parse)
parse.cache_info = _parse_cached.cache_info  # type: ignore[attr-defined]
parse.cache_clear = _parse_cached.cache_clear  # type: ignore[attr-defined]


@functools.lru_cache(maxsize=4096)
def _parse_bare_path(text: str) -> Expression:
    expression = _parse_inner(text)
    if expression.filters:
        raise ExpressionError(
            f"a bare path takes no filters; write {quote('{{ ' + expression.text + ' }}')}",
            text,
        )
    return expression


def parse_path(path: str) -> Expression:
    """Parse a condition's `field`: a bare path, or a string that is exactly one `{{ }}`."""
    text = path.strip()
    if "{{" not in text:
        return _parse_bare_path(text)
    single = parse(text).single
    if single is None:
        raise ExpressionError(
            f"expected one path or exactly one {{{{ }}}}, got {quote(path)}", path
        )
    return single


def resolve_path(path: str, variables: Mapping[str, Any]) -> Any:
    """The value at `path` (bare or in braces), or MISSING when it is absent; never raises for
    absence, only for a malformed path."""
    return parse_path(path).lookup(variables)


def render(value: Any, variables: Mapping[str, Any]) -> Any:
    """Render every string in a JSON value (dict keys stay as they are)."""
    if isinstance(value, str):
        if "{{" not in value:
            return value
        return parse(value).render(variables)
    if isinstance(value, Mapping):
        return {key: render(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, variables) for item in value]
    if isinstance(value, tuple):
        return tuple(render(item, variables) for item in value)
    return value


def iter_templates(
    value: Any, path: tuple[Segment, ...] = ()
) -> Iterator[tuple[tuple[Segment, ...], str]]:
    """(JSON path, text) of every string in `value` that contains `{{`, for the validator."""
    if isinstance(value, str):
        if "{{" in value:
            yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from iter_templates(item, (*path, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from iter_templates(item, (*path, index))


def references(value: Any) -> list[Expression]:
    """Every expression in a JSON value; raises ExpressionError on the first malformed one."""
    return [expr for _, text in iter_templates(value) for expr in parse(text).expressions]
