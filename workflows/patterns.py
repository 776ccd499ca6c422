"""The guard around the `matches` operator's regular expressions.

A condition's pattern is written by a user and its input comes from a webhook, so both are
untrusted. Python's `re` is a backtracking engine: when a pattern can match the same text in
many ways, a failing match tries every one of them. `(a+)+$` on thirty "a"s and a "!" takes
about 2^30 steps, minutes of a worker's time for one condition (catastrophic backtracking,
the "ReDoS" behind outages at Stack Overflow in 2016 and Cloudflare in 2019). `re` has no
timeout, so patterns are checked before they run:

- a pattern is at most 200 characters and an input at most 10,000;
- nested or alternating repeats (`(a+)+`, `(a|aa)+`, `(\\w+\\s?)*`), a backreference or a
  conditional group inside a repeat are refused outright, whatever the input, since their
  work can grow exponentially;
- every other pattern gets a work estimate for the input at hand: each unbounded repeat can
  multiply the work by the input's length (`.*a.*b` is cubic when unanchored), and the
  product must stay under MATCH_BUDGET.

The check reads the pattern's parse tree from `re._parser`, which is private but has been
stable since Python 3.11.
"""

from __future__ import annotations

import functools
import re
import re._constants as sre  # the parse tree's opcodes; private, but stable since 3.11
import re._parser as sre_parser
from dataclasses import dataclass
from typing import Any

from workflows.values import quote

MAX_PATTERN_LENGTH = 200
MAX_MATCH_INPUT = 10_000
# Backtracking steps allowed for one match: enough for any pattern with one unbounded repeat
# (`\d+`, `.*`) on the longest input, which takes CPython's `re` a few tenths of a second at
# worst. `a*a*b` on 10,000 "a"s would take minutes, and is refused.
MATCH_BUDGET = (MAX_MATCH_INPUT + 1) ** 2

_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT)


class RefusedPattern(ValueError):
    """A pattern that is not run: malformed, too long, or able to backtrack for too long."""


@dataclass(frozen=True)
class SafePattern:
    """A compiled pattern that passed the static checks, and its choice points."""

    compiled: re.Pattern[str]
    # How many ways each repeat or alternation may go; None for "as many as the input is long".
    choices: tuple[int | None, ...]
    anchored: bool

    def cost(self, length: int) -> int:
        """An upper bound on backtracking work for an input of this length."""
        work = 1 if self.anchored else length + 1
        for choice in self.choices:
            work *= length + 1 if choice is None else min(choice, length + 1)
            if work > MATCH_BUDGET:
                break
        return work

    def search(self, subject: str) -> bool:
        """Whether the pattern finds a match in `subject`; raises RefusedPattern when the
        input is too long, or too long for this pattern."""
        if len(subject) > MAX_MATCH_INPUT:
            raise RefusedPattern(
                f"the input is {len(subject):,} characters; at most {MAX_MATCH_INPUT:,} are matched"
            )
        if self.cost(len(subject)) > MATCH_BUDGET:
            raise RefusedPattern(
                f"the pattern {quote(self.compiled.pattern)} could take too long on an "
                f"input of {len(subject):,} characters; use fewer unbounded repeats (.*, +) or "
                "anchor it with ^"
            )
        return self.compiled.search(subject) is not None


@functools.lru_cache(maxsize=512)
def compile_pattern(pattern: str) -> SafePattern:
    """Compile and check a pattern whatever its input; raises RefusedPattern."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise RefusedPattern(
            f"the pattern is longer than {MAX_PATTERN_LENGTH} characters: {quote(pattern)}"
        )
    try:
        compiled = re.compile(pattern)
        tree = sre_parser.parse(pattern)
    except re.error as exc:
        raise RefusedPattern(f"invalid regular expression {quote(pattern)}: {exc}") from None
    choices: list[int | None] = []
    problem = _scan(tree, choices, repeated=False)
    if problem:
        raise RefusedPattern(
            f"the pattern {quote(pattern)} may backtrack catastrophically ({problem})"
        )
    first = tree.data[0] if tree.data else None
    anchored = first == (sre.AT, sre.AT_BEGINNING_STRING) or (
        first == (sre.AT, sre.AT_BEGINNING) and not tree.state.flags & re.MULTILINE
    )
    return SafePattern(compiled, tuple(choices), anchored)


def _scan(tree: Any, choices: list[int | None], *, repeated: bool) -> str:
    """Collect the choice points of a parsed pattern; return why it is refused, or ""."""
    for op, arg in tree:
        problem = ""
        if op in _REPEATS:
            low, high, body = arg
            if high != low:
                if repeated:
                    return "a repeat inside a repeated group, as in (a+)+"
                choices.append(None if high == sre.MAXREPEAT else high - low + 1)
            problem = _scan(body, choices, repeated=repeated or high > 1)
        elif op == sre.BRANCH:
            if repeated:
                return "an alternation inside a repeated group, as in (a|aa)+"
            choices.append(len(arg[1]))
            problem = next((p for b in arg[1] if (p := _scan(b, choices, repeated=False))), "")
        elif op == sre.GROUPREF_EXISTS:
            if repeated:
                return "a conditional group inside a repeated group"
            choices.append(2)
            problem = _scan(arg[1], choices, repeated=repeated) or (
                _scan(arg[2], choices, repeated=repeated) if arg[2] else ""
            )
        elif op == sre.GROUPREF and repeated:
            return "a backreference inside a repeated group"
        elif op == sre.SUBPATTERN:
            problem = _scan(arg[3], choices, repeated=repeated)
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            problem = _scan(arg[1], choices, repeated=repeated)
        elif op == sre.ATOMIC_GROUP:
            problem = _scan(arg, choices, repeated=repeated)
        if problem:
            return problem
    return ""
