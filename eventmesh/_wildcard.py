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
limit (or the exploration exceeds its bounds, see :data:`_WORK_AT_MOST`: then the pattern is
refused as too complex, though event-ruler might measure it within the limit). The texts
of one ``anything-but`` ``wildcard`` list are one pattern to event-ruler: their states
before and at the first star, when the text so far is the same, are one state, and so is their
end; a value added twice shares those states and has the rest twice. Which values share a
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
and the pattern is refused as too complex."""
_WORK_AT_MOST: Final = 20_000_000
_SET_COST: Final = 100
_STATE_COST: Final = 16
"""The exploration's work, in units of about 25 ns: a state copied between sets is one unit, a
state walked in Python 16, a set or a step 100. Past 20 million (half a second) the pattern is
refused as too complex whatever its size: an ``anything-but`` list of hundreds of wildcards can
keep every state set large while its complexity stays low."""


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

    The states of all texts are numbered once, each with its successor, whether it loops (it
    follows a star) and its event-ruler identity as a number, so a step costs no slicing or
    hashing of text. A state set's looping states reach themselves on every byte: they are set
    apart once per set, and a step only walks the states that advance. The work is counted in
    states visited; past :data:`_WORK_AT_MOST` the pattern is refused as too complex, so no
    pattern, however built, takes long to validate.
    """
    states = _States()
    for identity_of_pattern, texts in patterns:
        for segments in dict.fromkeys(map(tuple, texts)):
            states.add(_tokens(segments), identity_of_pattern)
    if not states.starts:
        return 0
    most_explored = _EXPLORED_AT_LEAST + _EXPLORED_PER_TOKEN * len(states.expects)
    expects, following, loops, ident = states.expects, states.following, states.loops, states.ident
    closure = states.closure
    start = closure(states.starts)
    seen = {start}
    pending = [start]
    worst = work = 0
    while pending:
        current = pending.pop()
        work += _SET_COST + _STATE_COST * len(current)
        looping = frozenset(state for state in current if loops[state])
        looping_idents = {ident[state] for state in looping}
        advancing: dict[int, list[int]] = {}
        for state in current:
            byte = expects[state]
            if byte >= 0:
                advancing.setdefault(byte, []).append(following[state])
        # Every byte no state expects leads to the looping states alone.
        for advanced in (*advancing.values(), []):
            moved = closure(advanced)
            reached = looping | moved if moved else looping
            if not reached:
                continue
            work += _SET_COST + _STATE_COST * len(moved) + len(reached)
            moved_idents = {ident[state] for state in moved}
            worst = max(worst, len(looping_idents) + len(moved_idents - looping_idents))
            if worst > limit or len(seen) > most_explored or work > _WORK_AT_MOST:
                return limit + 1
            if reached not in seen:
                seen.add(reached)
                pending.append(reached)
    return worst


class _States:
    """The states of a machine's wildcard texts, numbered; per state, what a step needs."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.expects: list[int] = []  # the byte a state advances on; -1 at a star or the end
        self.following: list[int] = []  # the state it advances to
        self.skips: list[bool] = []  # a star state: the next state is reached without a byte
        self.loops: list[bool] = []  # a state after a star loops on every byte
        self.ident: list[int] = []  # the state's identity in event-ruler's machine, numbered
        self._idents: dict[Hashable, int] = {}

    def add(self, tokens: tuple[int, ...], owner: Hashable) -> None:
        """One text's states: the same owner's texts share states up to the first star and
        their end (as ``(owner, tokens so far)`` and ``(owner, "end")``)."""
        base = len(self.expects)
        first_star = tokens.index(_STAR) if _STAR in tokens else len(tokens)
        self.starts.append(base)
        prefix = self._number((owner, "start"))
        for position in range(len(tokens) + 1):
            token = tokens[position] if position < len(tokens) else None
            self.expects.append(token if token is not None and token != _STAR else -1)
            self.following.append(base + position + 1)
            self.skips.append(token == _STAR)
            self.loops.append(position > 0 and tokens[position - 1] == _STAR)
            if position == len(tokens):
                key: Hashable = (owner, "end")
            elif position <= first_star + 1:
                key = ("prefix", prefix)
            else:
                key = ("state", base + position)  # after the first star, each copy's own
            self.ident.append(self._number(key))
            if token is not None:
                prefix = self._number((owner, prefix, token))

    def _number(self, key: Hashable) -> int:
        return self._idents.setdefault(key, len(self._idents))

    def closure(self, states: Iterable[int]) -> frozenset[int]:
        """``states`` and those reached by skipping a star (a star may match nothing; stars
        are never consecutive, so one skip is enough)."""
        skips, following = self.skips, self.following
        result = set(states)
        result.update([following[state] for state in result if skips[state]])
        return frozenset(result)
