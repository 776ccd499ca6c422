"""What the `{{ }}` lookups and the calculate language read the same way: paths and literals.

The two grammars are different on purpose (`workflows.variables` looks data up and formats it;
`workflows.arithmetic` computes), but both read the same words: names, numbers, quoted text
with its escapes, and paths of `.name`, `[0]`, `[-1]` and `["odd key"]` segments. They must
read them identically, so that a path that works in `{{ }}` works in calculate and a quoted
text means the same in both; so those pieces are written once, here. What each grammar
accepts beyond them (filters, operators, calls, `[*]`) and what it refuses stay in its module.

Each grammar's parser subclasses `Reader`, which gives it its tokens and the shared rules;
messages name the grammar's own terms (a calculate literal is a "text", a `{{ }}` one a
"string") through the class attributes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

MAX_PATH_SEGMENTS = 32

NAME = r"[A-Za-z_$][A-Za-z0-9_]*"
NUMBER = r"\d+(?:\.\d+)?"
STRING = r""""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'"""
ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t"}

_NAME_RE = re.compile(NAME)

Segment = str | int


def token_pattern(punctuation: str) -> re.Pattern[str]:
    """A grammar's tokenizer: spaces, names, numbers, strings and its own `punctuation`."""
    return re.compile(
        rf"(?P<space>\s+)|(?P<name>{NAME})|(?P<number>{NUMBER})|(?P<string>{STRING})"
        rf"|(?P<punct>{punctuation})",
        re.DOTALL,
    )


@dataclass(frozen=True)
class Token:
    kind: str  # name | number | string | punct | end | bad (its value is the problem)
    value: str
    pos: int


def tokenize(text: str, pattern: re.Pattern[str], refused: Callable[[str], str], quoted: str):
    """The tokens of `text`, ending with an `end` token, or with a `bad` one at the first
    character the grammar does not know; `refused(char)` says why, `quoted` names a literal."""
    tokens = []
    pos = 0
    while pos < len(text):
        match = pattern.match(text, pos)
        if match is None:
            # Reported only when the parser gets there, so that the first problem in reading
            # order is the one named.
            char = text[pos]
            if char in "\"'":
                problem = f"unterminated {quoted} starting at {text[pos : pos + 20]!r}"
            else:
                problem = f"{char!r} is not allowed: {refused(char)}"
            tokens.append(Token("bad", problem, pos))
            return tokens
        if match.lastgroup != "space":
            tokens.append(Token(match.lastgroup or "", match.group(), pos))
        pos = match.end()
    tokens.append(Token("end", "", pos))
    return tokens


def is_plain_name(key: str) -> bool:
    """Whether `key` can be written as a bare name (`.key`) rather than as `["key"]`."""
    return bool(_NAME_RE.fullmatch(key)) and not key.startswith("_")


def path_text(path: tuple[Segment, ...]) -> str:
    """A path written back in the grammar: `invoice.items[0]["odd key"]`."""
    out = []
    for i, segment in enumerate(path):
        if isinstance(segment, int):
            out.append(f"[{segment}]")
        elif is_plain_name(segment):
            out.append(segment if i == 0 else f".{segment}")
        else:
            out.append(f"[{json.dumps(segment, ensure_ascii=False)}]")
    return "".join(out)


class Reader:
    """A recursive-descent parser's tokens and the rules both grammars share.

    A subclass sets `pattern` (from `token_pattern`) and implements `fail` and `refused`.
    """

    pattern: re.Pattern[str]
    END = "the end"  # how messages name the end of the input
    QUOTED = "string"  # how messages name a quoted literal
    PATH = "path"  # how messages name a path

    def __init__(self, text: str):
        self.text = text
        self.tokens = tokenize(text, self.pattern, self.refused, self.QUOTED)
        self.index = 0

    def fail(self, problem: str) -> ValueError:
        raise NotImplementedError

    def refused(self, char: str) -> str:
        raise NotImplementedError

    @property
    def token(self) -> Token:
        token = self.tokens[self.index]
        if token.kind == "bad":
            raise self.fail(token.value)
        return token

    def describe(self, token: Token) -> str:
        return self.END if token.kind == "end" else repr(token.value)

    def accept(self, *puncts: str) -> str | None:
        token = self.token
        if token.kind == "punct" and token.value in puncts:
            self.index += 1
            return token.value
        return None

    def expect(self, punct: str, why: str) -> None:
        if not self.accept(punct):
            raise self.fail(f"expected {punct!r} {why}, found {self.describe(self.token)}")

    def name(self, what: str, index_hint: bool = True) -> str:
        token = self.token
        if token.kind != "name":
            hint = "; use [0] for an index" if index_hint and token.kind == "number" else ""
            raise self.fail(f"expected a {what} name, found {self.describe(token)}{hint}")
        if token.value.startswith("_"):
            raise self.fail(f"names starting with '_' are not allowed ({token.value!r})")
        self.index += 1
        return token.value

    def path(self) -> list[Segment]:
        """`name ( "." name | "[" segment "]" )*`, at most MAX_PATH_SEGMENTS long."""
        path: list[Segment] = [self.name("variable")]
        while True:
            if self.accept("."):
                path.append(self.name("key"))
            elif self.accept("["):
                path.append(self.segment(path))
                self.expect("]", "to close the index")
            else:
                return path
            if len(path) > MAX_PATH_SEGMENTS:
                raise self.fail(f"a {self.PATH} may have at most {MAX_PATH_SEGMENTS} segments")

    def segment(self, path: list[Segment]) -> Segment:
        """What stands inside [ ]; a grammar may accept more (calculate's `[*]`)."""
        return self.index_or_key()

    def index_or_key(
        self, allowed: str = "an integer or a quoted key", max_digits: int | None = None
    ) -> Segment:
        """`0`, `-1` (from the end) or a quoted key; `allowed` names them all in the message."""
        negative = self.accept("-")
        token = self.token
        if (
            token.kind == "number"
            and "." not in token.value
            and (max_digits is None or len(token.value) <= max_digits)
        ):
            self.index += 1
            return -int(token.value) if negative else int(token.value)
        if token.kind == "string" and not negative:
            self.index += 1
            return self.unquote(token.value)
        raise self.fail(f"only {allowed} may stand inside [ ], not {self.describe(token)}")

    def unquote(self, quoted: str) -> str:
        """The text of a string token: quotes off, escapes (\\\\ \\" \\' \\n \\t) read."""

        def replace(match: re.Match[str]) -> str:
            char = match.group(1)
            if char not in ESCAPES:
                raise self.fail(f"unknown escape '\\{char}' in a {self.QUOTED}")
            return ESCAPES[char]

        return re.sub(r"\\(.)", replace, quoted[1:-1], flags=re.DOTALL)
