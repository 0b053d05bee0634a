"""Property tests: no pattern, policy or event can make the pattern engine raise or misjudge.

Generated patterns and events are JSON-ish on purpose, and then some: operator objects with
arbitrary operands, deep nesting, NaN and infinities, huge integers, lone surrogates, dotted and
``$or`` keys, non-string keys. Constructing ``Pattern`` / ``FilterPolicy`` either raises
``PatternError`` or succeeds; ``matches`` always returns a bool. The wildcard matcher is checked
against a plain dynamic-programming reference written here. Speed is held by
``benchmarks/pattern_worst_case.py``, not here.
"""

from __future__ import annotations

import math
import re
from functools import cache
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventmesh._errors import PatternError
from eventmesh.patterns import FilterPolicy, Pattern

# Fast, deterministic and free of a local example database, so the suite behaves the same on a
# loaded CI machine (no deadline) as on a laptop.
settings.register_profile(
    "eventmesh-patterns",
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROFILE = settings.get_profile("eventmesh-patterns")

OPERATORS = [
    "anything-but",
    "cidr",
    "equals-ignore-case",
    "exists",
    "numeric",
    "prefix",
    "suffix",
    "wildcard",
]

# Any code point, lone surrogates included.
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
keys = st.one_of(st.sampled_from(["a", "b", "a.b", "b.a", "$or", "", ".", "a."]), any_text)
numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([10**400, -(10**400), 2**53 + 1, 5_000_000_001]),
    st.floats(allow_nan=True, allow_infinity=True),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    numbers,
    any_text,
    st.sampled_from(["*", "a*b", "**", "\\", "\\*", ">", ">=", "=", "<", "10.0.0.0/8"]),
)


def json_ish(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.tuples(inner, inner),
            st.dictionaries(keys, inner, max_size=4),
            st.builds(lambda name, operand: {name: operand}, st.sampled_from(OPERATORS), inner),
        ),
        max_leaves=20,
    )


values = json_ish(scalars)


@st.composite
def deep(draw: st.DrawFn, inner: st.SearchStrategy[Any]) -> Any:
    """A value wrapped in up to 1500 levels of objects and arrays, past Python's recursion limit."""
    value = draw(inner)
    levels = draw(st.integers(min_value=0, max_value=1500))
    kinds = draw(st.lists(st.sampled_from(["object", "array"]), min_size=1, max_size=3))
    names = draw(st.lists(keys, min_size=1, max_size=2))
    for level in range(levels):
        if kinds[level % len(kinds)] == "object":
            value = {names[level % len(names)]: value}
        else:
            value = [value]
    return value


def shaped_like(draw: st.DrawFn, pattern: Any, depth: int = 0) -> Any:
    """An event that follows the pattern's keys, so matching reaches its leaves."""
    if isinstance(pattern, dict) and depth < 200:
        event = {key: shaped_like(draw, value, depth + 1) for key, value in pattern.items()}
        if draw(st.booleans()):
            event.update(draw(st.dictionaries(keys, values, max_size=2)))
        return event
    if isinstance(pattern, list) and pattern and draw(st.booleans()):
        chosen = draw(st.sampled_from(pattern))
        return chosen if not isinstance(chosen, dict) else draw(values)
    return draw(values)


patterns = st.one_of(st.dictionaries(keys, values, max_size=5), deep(values))
events = st.one_of(
    st.dictionaries(keys, values, max_size=6),
    deep(values),
    st.dictionaries(st.one_of(keys, st.integers(), st.none()), values, max_size=4),
)


def check_answers(matcher: Pattern | FilterPolicy, event: Any) -> None:
    assert type(matcher.matches(event)) is bool


@PROFILE
@given(pattern=patterns, event=events)
def test_pattern_raises_pattern_error_or_answers(pattern: Any, event: Any) -> None:
    try:
        compiled = Pattern(pattern)
    except PatternError:
        return
    check_answers(compiled, event)


@PROFILE
@given(pattern=patterns, data=st.data())
def test_events_shaped_like_the_pattern_get_an_answer(pattern: Any, data: st.DataObject) -> None:
    for make in (Pattern, FilterPolicy):
        try:
            compiled = make(pattern)
        except PatternError:
            continue
        check_answers(compiled, {})
        check_answers(compiled, shaped_like(data.draw, pattern))


@PROFILE
@given(policy=patterns, event=events, scope=st.sampled_from(["MessageBody", "MessageAttributes"]))
def test_filter_policy_raises_pattern_error_or_answers(policy: Any, event: Any, scope: str) -> None:
    try:
        compiled = FilterPolicy(policy, scope=scope)
    except PatternError:
        return
    check_answers(compiled, event)


operator_objects = st.builds(
    lambda name, operand: {name: operand}, st.sampled_from(OPERATORS), values
)
anything_but_objects = st.builds(
    lambda name, operand: {"anything-but": {name: operand}},
    st.sampled_from([*OPERATORS, "x"]),
    st.one_of(scalars, st.lists(scalars, max_size=3)),
)


@PROFILE
@given(
    field=keys,
    allowed=st.lists(st.one_of(scalars, operator_objects, anything_but_objects), max_size=4),
    event=events,
)
def test_operator_objects_raise_pattern_error_or_answer(
    field: str, allowed: list[Any], event: Any
) -> None:
    """Operator objects with any operand, where the generic strategy seldom reaches."""
    for make in (Pattern, FilterPolicy):
        try:
            compiled = make({field: allowed})
        except PatternError:
            continue
        check_answers(compiled, event)
        check_answers(compiled, {field: event})


@PROFILE
@given(text=st.one_of(any_text, st.text(max_size=2000).map(lambda text: "{" + text)))
def test_pattern_text_raises_pattern_error_or_answers(text: str) -> None:
    try:
        compiled = Pattern(text)
    except PatternError:
        return
    check_answers(compiled, {})


# --------------------------------------------------------------------------- wildcard reference


def reference_match(wildcard: str, value: str) -> bool:
    """Shell-style matching of ``*`` with ``\\*`` and ``\\\\`` escapes, by dynamic programming."""
    tokens: list[str | None] = []  # None is the wildcard
    index = 0
    while index < len(wildcard):
        if wildcard[index] == "\\":
            tokens.append(wildcard[index + 1])
            index += 2
        else:
            tokens.append(None if wildcard[index] == "*" else wildcard[index])
            index += 1

    @cache
    def matches_from(token: int, position: int) -> bool:
        if token == len(tokens):
            return position == len(value)
        if tokens[token] is None:
            return matches_from(token + 1, position) or (
                position < len(value) and matches_from(token, position + 1)
            )
        return (
            position < len(value)
            and value[position] == tokens[token]
            and matches_from(token + 1, position + 1)
        )

    return matches_from(0, 0)


wildcard_pieces = st.sampled_from(["a", "b", "ab", "ba", "*", "\\*", "\\\\"])
wildcards = st.lists(wildcard_pieces, max_size=8).map("".join).filter(lambda w: "**" not in w)
subjects = st.lists(st.sampled_from(["a", "b", "*", "\\", "ab"]), max_size=14).map("".join)


@settings(PROFILE, max_examples=400)
@given(wildcard=wildcards, value=subjects)
def test_wildcard_matcher_agrees_with_the_reference(wildcard: str, value: str) -> None:
    try:
        pattern = Pattern({"x": [{"wildcard": wildcard}]})
    except PatternError as exc:
        assert "too complex" in str(exc)
        return
    assert pattern.matches({"x": value}) is reference_match(wildcard, value)
    excluded = Pattern({"x": [{"anything-but": {"wildcard": wildcard}}]})
    assert excluded.matches({"x": value}) is not reference_match(wildcard, value)


# --------------------------------------------------------------------------- SNS Number text

OLD_NUMBER_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
number_texts = st.lists(st.sampled_from(list("0123456789.eE+- x")), max_size=10).map("".join)


@settings(PROFILE, max_examples=300)
@given(text=number_texts)
def test_sns_number_attributes_are_read_as_the_decimal_grammar(text: str) -> None:
    policy = FilterPolicy({"n": [{"exists": True}]})
    attributes = {"n": {"Type": "Number", "Value": text}}
    grammatical = OLD_NUMBER_TEXT.fullmatch(text.strip()) is not None
    expected = grammatical and math.isfinite(float(text))  # "9e999" is no number to SNS
    assert policy.matches(attributes) is expected


# --------------------------------------------------------------------------- dotted paths

plain_keys = st.sampled_from(["a", "b", "c"])
leaf_values = st.one_of(st.sampled_from([1, 2, 2.0, "x", "xy", None, True]))
conditions = st.one_of(
    leaf_values,
    st.builds(lambda flag: {"exists": flag}, st.booleans()),
    st.builds(lambda bound: {"numeric": [">", bound]}, st.sampled_from([0, 1.5])),
    st.just({"prefix": "x"}),
    st.just({"anything-but": "x"}),
)
nested_patterns = st.recursive(
    st.dictionaries(plain_keys, st.lists(conditions, min_size=1, max_size=2), min_size=1),
    lambda inner: st.dictionaries(plain_keys, inner, min_size=1, max_size=2),
    max_leaves=6,
)
nested_events = st.recursive(
    leaf_values,
    lambda inner: st.one_of(
        st.dictionaries(plain_keys, inner, max_size=3), st.lists(inner, max_size=2)
    ),
    max_leaves=10,
)


def dotted(value: Any, prefix: str = "") -> Any:
    """Nested objects written as dotted keys (``{"a": {"b": 1}}`` -> ``{"a.b": 1}``)."""
    if not isinstance(value, dict):
        return value
    flat: dict[str, Any] = {}
    for key, inner in value.items():
        path = f"{prefix}{key}"
        if isinstance(inner, dict) and inner:
            flat.update(dotted(inner, path + "."))
        else:
            flat[path] = inner
    return flat


def satisfying(draw: st.DrawFn, pattern: Any) -> Any:
    """An event shaped like ``pattern`` that often matches it (a leaf takes one of its values)."""
    if isinstance(pattern, dict):
        event = {key: satisfying(draw, value) for key, value in pattern.items()}
        if draw(st.booleans()):
            event.update(draw(st.dictionaries(plain_keys, nested_events, max_size=2)))
        return event
    options = [value for value in pattern if not isinstance(value, dict)]
    if options and draw(st.booleans()):
        return draw(st.sampled_from(options))
    return draw(nested_events)


@PROFILE
@given(pattern=nested_patterns, data=st.data())
def test_dotted_and_nested_spellings_match_alike(pattern: Any, data: st.DataObject) -> None:
    event = satisfying(data.draw, pattern)
    expected = Pattern(pattern).matches(event)
    assert Pattern(dotted(pattern)).matches(event) is expected
    assert Pattern(pattern).matches(dotted(event)) is expected
    assert Pattern(dotted(pattern)).matches(dotted(event)) is expected
