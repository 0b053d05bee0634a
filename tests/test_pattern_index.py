"""The bus's index of rules by ``source`` and ``detail-type``: it only skips rules that cannot
match, so a bus gives the same rules, in the same order, as trying every rule in turn.

The differential test generates patterns and events from a small alphabet (so that values
collide often) and compares the index's answer, each candidate then matched, with every
pattern matched one by one: the expected answer comes from the pattern engine alone.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventmesh import Mesh
from eventmesh import _pattern_index as pattern_index
from eventmesh._errors import PatternError
from eventmesh._pattern_index import MISSING, PatternIndex
from eventmesh.patterns import Pattern
from eventmesh.resources.bus import Bus
from eventmesh.testing import VirtualClock

WORDS = ["a", "b", "ab", "A", ""]

exact_value = st.one_of(st.sampled_from(WORDS), st.integers(-2, 2), st.none(), st.booleans())
operator = st.one_of(
    st.builds(lambda word: {"prefix": word}, st.sampled_from(["a", "b"])),
    st.builds(lambda words: {"anything-but": words}, st.lists(st.sampled_from(WORDS), min_size=1)),
    st.builds(lambda flag: {"exists": flag}, st.booleans()),
    st.builds(lambda word: {"wildcard": word}, st.sampled_from(["a*", "*b", "*"])),
    st.builds(lambda word: {"equals-ignore-case": word}, st.sampled_from(["a", "AB"])),
    st.builds(lambda n: {"numeric": [">", n]}, st.integers(-2, 2)),
)
allowed = st.lists(st.one_of(exact_value, operator), min_size=1, max_size=3)
strings_only = st.lists(st.sampled_from(WORDS), min_size=1, max_size=3)
field_values = st.one_of(strings_only, strings_only, allowed)
leaf_object = st.dictionaries(
    st.sampled_from(["source", "detail-type", "x"]), field_values, min_size=1, max_size=3
)


@st.composite
def patterns(draw: st.DrawFn) -> dict[str, Any] | None:
    if draw(st.integers(0, 9)) == 0:
        return None  # a schedule-only rule
    pattern: dict[str, Any] = draw(leaf_object)
    if draw(st.booleans()):
        pattern["detail"] = {"x": draw(field_values)}
    if draw(st.integers(0, 3)) == 0:
        pattern["$or"] = draw(st.lists(leaf_object, min_size=2, max_size=3))
    return pattern


event_value = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from(WORDS),
    st.lists(st.sampled_from(WORDS), max_size=3),
    st.integers(-2, 2),
    st.none(),
    st.just({"x": "a"}),
)


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    event: dict[str, Any] = {}
    for field in ("source", "detail-type", "x"):
        if draw(st.integers(0, 5)):
            event[field] = draw(event_value)
    if draw(st.booleans()):
        event["detail"] = {"x": draw(event_value)}
    return event


def compile_all(sources: list[dict[str, Any] | None]) -> list[Pattern | None]:
    compiled: list[Pattern | None] = []
    for source in sources:
        try:
            compiled.append(None if source is None else Pattern(source))
        except PatternError:
            compiled.append(None)
    return compiled


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(patterns(), min_size=1, max_size=12), st.lists(events(), min_size=1, max_size=6))
def test_the_index_gives_what_trying_every_pattern_gives(
    sources: list[dict[str, Any] | None], sample: list[dict[str, Any]]
) -> None:
    compiled = compile_all(sources)
    index = PatternIndex(list(enumerate(compiled)))
    for event in sample:
        one_by_one = [n for n, p in enumerate(compiled) if p is not None and p.matches(event)]
        candidates = list(index.candidates(event))
        assert candidates == sorted(set(candidates))  # the order rules were added, no repeats
        pattern_of = dict(enumerate(compiled))
        indexed = [n for n in candidates if (p := pattern_of[n]) is not None and p.matches(event)]
        assert indexed == one_by_one, (sources, event)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(patterns(), min_size=1, max_size=12), st.lists(events(), min_size=1, max_size=6))
def test_the_routes_leave_unchecked_only_patterns_that_match(
    sources: list[dict[str, Any] | None], sample: list[dict[str, Any]]
) -> None:
    """``routes`` gives the candidates, in order, each with its pattern or None; a candidate
    given without its pattern matches (the bus does not run it), and running the patterns
    given gives what trying every pattern gives; asking again (from the cache) gives the
    same."""
    compiled = compile_all(sources)
    index = PatternIndex(list(enumerate(compiled)))
    for event in sample:
        one_by_one = [n for n, p in enumerate(compiled) if p is not None and p.matches(event)]
        first, second = event.get("source", MISSING), event.get("detail-type", MISSING)
        routes = index.routes(first, second)
        assert [n for n, _ in routes] == list(index.candidates(event))
        for n, check in routes:
            assert check is None or check is compiled[n]
            if check is None:
                assert n in one_by_one, (sources[n], event)
        matched = [n for n, check in routes if check is None or check.matches(event)]
        assert matched == one_by_one, (sources, event)
        assert index.routes(first, second) == routes


def test_a_pattern_on_source_and_detail_type_alone_needs_no_check() -> None:
    """Exact strings on the indexed fields only (one, the other, both, or nothing at all: an
    empty pattern matches every event) surely match what they are filed under; anything more
    (another field, an operator, $or, too many pairs to file by both) is checked."""
    sure = [
        Pattern({"source": ["a"], "detail-type": ["t"]}),
        Pattern({"source": ["a", "b"]}),
        Pattern({"detail-type": ["t"]}),
        Pattern({}),
    ]
    checked = [
        Pattern({"source": ["a"], "detail": {"x": [1]}}),
        Pattern({"source": ["a"], "detail-type": [{"prefix": "t"}]}),
        Pattern({"source": ["a"], "$or": [{"detail-type": ["t"]}, {"x": ["y"]}]}),
        Pattern({"source": ["a", *[f"s{n}" for n in range(8)]], "detail-type": list("tuvwxyzq")}),
    ]
    index = PatternIndex(list(enumerate([*sure, *checked])))
    routes = index.routes("a", "t")
    assert [n for n, _ in routes] == list(range(8))
    assert [check for _, check in routes] == [None] * 4 + checked
    assert index.routes(MISSING, "t") == ((2, None), (3, None))
    assert [n for n, _ in index.routes("b", MISSING)] == [1, 3]


def test_the_routes_of_values_that_are_not_strings_check_every_pattern() -> None:
    """An array or a number where the index looks: every pattern is a candidate and checked
    (an array is not even hashable: nothing is kept for it)."""
    one, two = Pattern({"source": ["a"]}), Pattern({})
    index = PatternIndex([("one", one), ("two", two)])
    assert index.routes(["a", "b"], MISSING) == (("one", one), ("two", two))
    assert index.routes(7, "t") == (("one", one), ("two", two))
    assert index.routes("a", MISSING) == (("one", None), ("two", None))


def test_the_routes_kept_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past ``MAX_ROUTES`` pairs of values the cache starts over; the answers stay right."""
    monkeypatch.setattr(pattern_index, "MAX_ROUTES", 3)
    index = PatternIndex([("a", Pattern({"source": ["s1"]})), ("b", Pattern({"source": ["x"]}))])
    for round_ in range(3):
        for n in range(10):
            expected = (("a", None),) if n == 1 else ()
            assert index.routes(f"s{n}", "t") == expected, round_
    assert len(index._routes) <= 3


def test_exact_sources_narrow_the_candidates_to_the_rules_that_name_them() -> None:
    items = [(n, Pattern({"source": [f"app.{n}"], "detail-type": ["bench"]})) for n in range(1000)]
    items.append((1000, Pattern({"detail": {"id": [1]}})))  # names neither: always a candidate
    items.append((1001, Pattern({"source": [{"prefix": "app."}]})))  # an operator: the same
    items.append((1002, Pattern({"detail-type": ["bench", "other"]})))
    index = PatternIndex(items)
    event = {"source": "app.42", "detail-type": "bench", "detail": {"id": 1}}
    assert list(index.candidates(event)) == [42, 1000, 1001, 1002]
    assert list(index.candidates({"source": "elsewhere"})) == [1000, 1001]
    assert list(index.candidates({"detail-type": "other"})) == [1000, 1001, 1002]


def test_many_value_pairs_are_filed_by_the_first_field_only() -> None:
    """A pattern with more than 64 (source, detail-type) pairs is filed under its sources."""
    sources = [f"s{n}" for n in range(9)]
    types = [f"t{n}" for n in range(8)]  # 72 pairs
    index = PatternIndex([("wide", Pattern({"source": sources, "detail-type": types}))])
    assert list(index.candidates({"source": "s3", "detail-type": "nope"})) == ["wide"]
    assert list(index.candidates({"source": "other", "detail-type": "t1"})) == []


def test_a_field_that_is_not_a_string_makes_every_rule_a_candidate() -> None:
    index = PatternIndex([("one", Pattern({"source": ["a"]})), ("two", Pattern({"source": ["b"]}))])
    assert list(index.candidates({"source": ["b", "c"]})) == ["one", "two"]
    assert list(index.candidates({"source": 7})) == ["one", "two"]
    assert list(index.candidates({"source": "b"})) == ["two"]


# -- the bus keeps its index up to date ----------------------------------------------------------
@pytest.fixture
def bus(mesh: Mesh) -> Bus:
    return mesh.resource(Bus, "default")


def targets(found: list[Any]) -> list[Any]:
    async def record(payload: Any) -> None:
        found.append(payload["source"])

    return [record]


async def put(bus: Bus, clock: VirtualClock, source: str) -> None:
    await bus.put_events([{"Source": source, "DetailType": "t", "Detail": {}}])
    await clock.advance(0)


async def test_rules_added_removed_or_repatterned_after_events_are_seen(
    mesh: Mesh, clock: VirtualClock, bus: Bus
) -> None:
    got: list[str] = []
    bus.rule("first", pattern={"source": ["a"]}, targets=targets(got))
    async with mesh:
        await put(bus, clock, "a")
        bus.rule("second", pattern={"source": ["b"]}, targets=targets(got))
        await put(bus, clock, "b")
        bus.rules["first"].pattern = Pattern({"source": ["c"]})
        await put(bus, clock, "a")  # no longer matched
        await put(bus, clock, "c")
        del bus.rules["second"]
        await put(bus, clock, "b")
        assert got == ["a", "b", "c"]
        bus.rules.pop("first")
        await put(bus, clock, "c")
        assert got == ["a", "b", "c"]


async def test_rules_merged_in_with_the_or_operator_are_seen(
    mesh: Mesh, clock: VirtualClock, bus: Bus
) -> None:
    got: list[str] = []
    bus.rule("first", pattern={"source": ["a"]}, targets=targets(got))
    async with mesh:
        await put(bus, clock, "a")
        other = mesh.resource(Bus, "other")
        other.rule("second", pattern={"source": ["b"]}, targets=targets(got))
        bus.rules |= {"second": other.rules["second"]}
        await put(bus, clock, "b")
    assert got == ["a", "b"]


def test_candidates_from_several_groups_come_in_the_order_the_items_were_given() -> None:
    """The merge orders by position, not by the items themselves (rules do not compare)."""
    index = PatternIndex(
        [
            ("zulu", Pattern({"source": ["a"]})),
            ("yankee", Pattern({"detail": {"x": [1]}})),
            ("xray", Pattern({"detail-type": ["t"]})),
            ("whiskey", Pattern({"source": ["a"], "detail-type": ["t"]})),
        ]
    )
    event = {"source": "a", "detail-type": "t"}
    assert list(index.candidates(event)) == ["zulu", "yankee", "xray", "whiskey"]


def test_exactly_64_value_pairs_are_still_filed_by_pair() -> None:
    sources = [f"s{n}" for n in range(8)]
    types = [f"t{n}" for n in range(8)]  # 64 pairs: the limit, still indexed by pair
    index = PatternIndex([("square", Pattern({"source": sources, "detail-type": types}))])
    assert list(index.candidates({"source": "s3", "detail-type": "t7"})) == ["square"]
    assert list(index.candidates({"source": "s3", "detail-type": "nope"})) == []
