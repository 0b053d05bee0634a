"""EventBridge ``wildcard`` values: parsing, a linear-time matcher, and AWS's complexity limit.

Matching
========

A wildcard is literal segments separated by ``*`` (zero or more characters); ``\\*`` is a
literal star and ``\\\\`` a literal backslash. A value matches when the first segment is its
prefix, the last its suffix, and the middle segments occur in order in between. Taking each
middle segment at its leftmost occurrence is always right (a later occurrence leaves less room
for the rest, never more), so one left-to-right pass of ``str.find`` decides: no backtracking,
no regular expression. The work is linear in the value for a given pattern.

Complexity
==========

EventBridge refuses wildcard patterns its matching engine, aws/event-ruler, would run slowly:
"Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences
after a wildcard character". event-ruler's ``MachineComplexityEvaluator`` measures a field's
byte machine as the largest number of wildcard-pattern states one input can keep active at the
same time (a state counts once per pattern it can still lead to), over every possible input.
:func:`wildcard_complexity` computes that measure for the wildcard values one field holds: each
value is a small automaton over its UTF-8 bytes framed by the JSON quotes event-ruler matches
(``"`` at both ends), a star being a state that loops on any byte and may be skipped; the sets of
states reachable by any input are explored exhaustively, stopping as soon as one exceeds the
limit. The texts of one ``anything-but`` ``wildcard`` list are one pattern to event-ruler: their
states before and at the first star, when the text so far is the same, are one state, and so is
their end; a value added twice shares those states and has the rest twice. Which values share a
machine is ``_rule_machines``'s business. Checked against event-ruler itself on random values
(one or several per field, repeats, lists): the figures agree exactly, e.g. ``"*aa"`` is 3,
``"a*b*bb"`` is 5, ``"*a*a*a*a*a*b"`` is 11.

The limit is not published. event-ruler leaves it to the caller and its README suggests a
per-rule limit of 10; :data:`WILDCARD_COMPLEXITY_LIMIT` is 10, which also reproduces what
EventBridge was seen to do (three ``"*:stack/<name>/*"`` values on one field, complexity 9, were
accepted; a fourth, complexity 12, was refused as too complex).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Final

__all__ = [
    "WILDCARD_COMPLEXITY_LIMIT",
    "WildcardSyntaxError",
    "parse_wildcard",
    "wildcard_complexity",
    "wildcard_matcher",
]

WILDCARD_COMPLEXITY_LIMIT: Final = 10
"""The most wildcard states one input may keep active in one field (see the module notes)."""

_STAR: Final = -1  # the wildcard token among byte tokens
_OTHER: Final = -2  # stands for every byte no pattern names
_QUOTE: Final = ord('"')
_EXPLORED_PER_TOKEN: Final = 16  # state sets explored per pattern byte before giving up
_EXPLORED_AT_LEAST: Final = 1_000
"""Patterns within the limit reach a few state sets per byte (the sets follow the input's
longest partial match, and stars are entered in order); past 16 per byte the exploration stops
and the pattern is refused as too complex, so validation time stays bounded."""


class WildcardSyntaxError(ValueError):
    """A wildcard value AWS refuses: a bad escape or consecutive stars."""


def parse_wildcard(text: str) -> tuple[str, ...]:
    """The literal segments of ``text`` between its unescaped stars (one segment: no star)."""
    segments: list[str] = []
    current: list[str] = []
    index, size = 0, len(text)
    while index < size:
        char = text[index]
        if char == "\\":
            following = text[index + 1] if index + 1 < size else ""
            if following not in ("*", "\\"):
                raise WildcardSyntaxError("a backslash may only escape * or \\")
            current.append(following)
            index += 2
            continue
        if char == "*":
            if index + 1 < size and text[index + 1] == "*":
                raise WildcardSyntaxError("consecutive * characters are not allowed")
            segments.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    segments.append("".join(current))
    return tuple(segments)


def wildcard_matcher(segments: Sequence[str]) -> Callable[[str], bool]:
    """A test of a string against parsed segments, in time linear in the string."""
    if len(segments) == 1:
        exact = segments[0]
        return lambda value: value == exact
    first, last = segments[0], segments[-1]
    middle = tuple(segment for segment in segments[1:-1] if segment)
    shortest = len(first) + len(last) + sum(map(len, middle))
    head, tail = len(first), len(last)

    def match(value: str) -> bool:
        if len(value) < shortest or not value.startswith(first) or not value.endswith(last):
            return False
        position, end = head, len(value) - tail
        for segment in middle:
            found = value.find(segment, position, end)
            if found < 0:
                return False
            position = found + len(segment)
        return True

    return match


def _tokens(segments: Sequence[str]) -> tuple[int, ...]:
    """A parsed wildcard as event-ruler walks it: quoted UTF-8 bytes, each star a token."""
    tokens = [_QUOTE]
    for index, segment in enumerate(segments):
        if index:
            tokens.append(_STAR)
        tokens.extend(segment.encode("utf-8", "surrogatepass"))
    tokens.append(_QUOTE)
    return tuple(tokens)


def wildcard_complexity(
    patterns: Iterable[tuple[Hashable, Sequence[Sequence[str]]]], limit: int
) -> int:
    """event-ruler's complexity of one machine's wildcard patterns, or ``limit + 1`` above it.

    Each pattern added to the machine is ``(identity, texts)``: its parsed values
    (:func:`parse_wildcard`), one for ``wildcard``, the whole list for an ``anything-but``
    ``wildcard`` list. A pattern added twice (two rules, or twice in one array) shares its states
    up to its first star and its end with the other copy, and has the rest to itself, as in
    event-ruler.
    """
    machines: list[tuple[int, ...]] = []
    owner: list[Hashable] = []  # the identity of the pattern each text belongs to
    for identity_of_pattern, texts in patterns:
        for segments in dict.fromkeys(map(tuple, texts)):
            machines.append(_tokens(segments))
            owner.append(identity_of_pattern)
    if not machines:
        return 0
    first_star = [tokens.index(_STAR) if _STAR in tokens else len(tokens) for tokens in machines]
    most_explored = _EXPLORED_AT_LEAST + _EXPLORED_PER_TOKEN * sum(map(len, machines))

    def identity(state: tuple[int, int]) -> Hashable:
        """One state of event-ruler's machine: a pattern's texts share a prefix and an end."""
        machine, position = state
        tokens = machines[machine]
        if position == len(tokens):
            return (owner[machine], "end")
        if position <= first_star[machine] + 1:
            return (owner[machine], tokens[:position])
        return state  # after the first star, each copy's states are its own

    def closure(states: Iterable[tuple[int, int]]) -> frozenset[tuple[int, int]]:
        """Add the states reached by skipping a star (a star may match nothing)."""
        result = set(states)
        pending = list(result)
        while pending:
            machine, position = pending.pop()
            tokens = machines[machine]
            if position < len(tokens) and tokens[position] == _STAR:
                skipped = (machine, position + 1)
                if skipped not in result:
                    result.add(skipped)
                    pending.append(skipped)
        return frozenset(result)

    def step(states: frozenset[tuple[int, int]], byte: int) -> frozenset[tuple[int, int]]:
        reached = []
        for machine, position in states:
            tokens = machines[machine]
            if position < len(tokens) and tokens[position] == byte:
                reached.append((machine, position + 1))
            if position and tokens[position - 1] == _STAR:  # a star state loops on any byte
                reached.append((machine, position))
        return closure(reached)

    start = closure((machine, 0) for machine in range(len(machines)))
    seen = {start}
    pending = [start]
    worst = 0
    while pending:
        states = pending.pop()
        # Only the bytes some state expects can advance a literal; every other byte leads to
        # the same set (the star states looping), so one stands for all of them.
        expected = {
            machines[machine][position]
            for machine, position in states
            if position < len(machines[machine]) and machines[machine][position] != _STAR
        }
        for byte in (*expected, _OTHER):
            reached = step(states, byte)
            if not reached:
                continue
            worst = max(worst, len(set(map(identity, reached))))
            if worst > limit or len(seen) > most_explored:
                return limit + 1
            if reached not in seen:
                seen.add(reached)
                pending.append(reached)
    return worst
