"""The `matches` guard: which regular expressions run, on which inputs, and why the rest do not.

The timeout marker is part of the test: a refused pattern must be refused, not run.
"""

import pytest

from workflows.patterns import (
    MATCH_BUDGET,
    MAX_MATCH_INPUT,
    RefusedPattern,
    compile_pattern,
)

pytestmark = pytest.mark.timeout(10)


def search(pattern, subject):
    return compile_pattern(pattern).search(subject)


@pytest.mark.parametrize(
    ("pattern", "subject", "message"),
    [
        # nested and alternating repeats: refused before they run, whatever the input
        ("(a+)+$", "a" * 36 + "!", "may backtrack catastrophically (a repeat inside a repeated"),
        ("(a*)*b", "a" * 36, "a repeat inside a repeated group"),
        ("(a|aa)+$", "a" * 36 + "!", "an alternation inside a repeated group"),
        ("(?:x|y|xy)*z", "xy" * 30, "an alternation inside a repeated group"),
        ("(.*a){20}", "a" * 36, "a repeat inside a repeated group"),
        (r"^(\w+\s?)*$", "a" * 36 + "!", "a repeat inside a repeated group"),
        (r"(a)(?:\1)+", "a" * 36, "a backreference inside a repeated group"),
        (r"(a)(?:(?(1)b|c))+", "ab" * 18, "a conditional group inside a repeated group"),
        # too long or not a pattern at all
        ("a" * 201, "a", "longer than 200 characters"),
        ("(unclosed", "a", "invalid regular expression '(unclosed'"),
        ("[z-a]", "a", "invalid regular expression"),
        # polynomial: fine on short text, refused on input long enough to take minutes
        ("a*a*b", "a" * 5000, "could take too long on an input of 5,000 characters"),
        (r".*a.*b", "a" * 2000, "could take too long"),
        # inputs are capped
        ("x", "a" * (MAX_MATCH_INPUT + 1), "at most 10,000 are matched"),
    ],
)
def test_patterns_that_could_run_for_ever_are_refused(pattern, subject, message):
    with pytest.raises(RefusedPattern) as raised:
        search(pattern, subject)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        # one unbounded repeat is fine on the longest input
        (r"\d+x", "1" * MAX_MATCH_INPUT, False),
        (r"^.*$", "a" * MAX_MATCH_INPUT, True),
        # fixed-count and optional groups are not nested repeats
        (r"^(\d{3})+$", "123456", True),
        (r"^\d+(\.\d+)?$", "1250.00", True),
        (r"^(foo|bar)baz", "barbaz", True),
        (r"(a|b)+c", "ababc", True),  # a character class in disguise
        (r"(a)?(?(1)b|c)", "ab", True),  # a conditional group outside a repeat
        # several repeats are fine on short input, as in an email address
        (r"^\S+@\S+\.\S+$", "billing@acme.example", True),
        ("a*a*b", "a" * 100, False),
    ],
)
def test_reasonable_patterns_run(pattern, subject, expected):
    assert search(pattern, subject) is expected


@pytest.mark.parametrize(
    ("pattern", "cost"),
    [
        # one try per starting point, and one starting point when anchored
        ("abc", 101),
        ("^abc", 1),
        (r"\Aabc", 1),
        ("(?m)^abc", 101),  # ^ in MULTILINE mode matches after every newline
        # each unbounded repeat multiplies by the input's length, a bounded one by its range
        ("a.*b", 101 * 101),
        ("^a.*b.*c", 101 * 101),
        ("a{2,5}", 101 * 4),
        ("a{3}", 101),
        # an alternation by its number of branches (one of single characters is a class)
        ("(ab|cd|ef)", 101 * 3),
        ("(x|y|z)", 101),
    ],
)
def test_the_work_estimate_for_an_input_of_100_characters(pattern, cost):
    assert compile_pattern(pattern).cost(100) == cost


def test_the_budget_admits_one_unbounded_repeat_on_the_longest_input():
    assert compile_pattern(r"\d+x").cost(MAX_MATCH_INPUT) == MATCH_BUDGET
    assert compile_pattern(r"\d+\d+x").cost(MAX_MATCH_INPUT) > MATCH_BUDGET


def test_patterns_are_checked_once():
    assert compile_pattern(r"^INV-\d+$") is compile_pattern(r"^INV-\d+$")
