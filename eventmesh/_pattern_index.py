"""An index of event patterns by the exact values of a few top-level fields.

A bus with a thousand rules should not try a thousand patterns per event. Most rules name the
event's ``source``, its ``detail-type`` or both with exact strings (``{"source":
["orders"]}``), and such a rule cannot match an event whose value there is another string.
:class:`PatternIndex` files each pattern under the exact values of its most selective indexed
field(s) and gives, for an event, only the patterns that could match it: those filed under
the event's values, plus those that name none of the indexed fields with exact strings only.
The caller still runs each candidate's ``matches``, so the answers are the pattern engine's;
the index only skips patterns that cannot match (a differential test checks it against trying
every pattern).

:meth:`PatternIndex.routes` goes one step further for the usual rule: a pattern that names
nothing but the indexed fields, each with exact strings, and that is filed under all the fields
it names (``{"source": ["orders"], "detail-type": ["created"]}``, or ``{}``, which matches
every event) matches every event it is a candidate for, so the caller need not run it: such
candidates come with no pattern to check. The candidates of a pair of values are worked out
once and kept (a bounded cache, emptied when full), so a bus's common event costs one lookup.

Why a pattern filed under ``source`` = ``a`` cannot match an event whose ``source`` is the
string ``b``, or has no ``source``: every top-level field a pattern names must match (AND,
whatever ``$or`` the pattern also holds), and a value array of plain strings matches only an
equal string, or an array holding one. An event whose indexed field holds something other
than a string (an array, a number, an object) therefore gets every pattern as a candidate,
in order: correct, and rare (EventBridge's ``source`` and ``detail-type`` are strings).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Generic, TypeAlias, TypeVar

from eventmesh.patterns import Pattern

__all__ = ["MISSING", "PatternIndex"]

T = TypeVar("T")

MISSING: Any = object()
"""Where an event has no value for an indexed field."""
_MAX_PAIRS = 64
"""A pattern with exact values on two indexed fields is filed under each pair of values, when
there are at most this many pairs; otherwise under its first indexed field's values."""
MAX_ROUTES = 4096
"""Pairs of values whose candidates :meth:`PatternIndex.routes` keeps (then it starts over)."""

Route: TypeAlias = tuple[tuple[T, Pattern | None], ...]
"""Candidates in order, each with the pattern still to check (None: it surely matches)."""


_Entry: TypeAlias = tuple[int, T, Pattern | None]
"""An item as filed: its place in the order given, the item, and the pattern to check (None
when an event filed with it surely matches)."""


def _exact_strings(pattern: Mapping[str, Any], field: str) -> tuple[str, ...] | None:
    """The field's allowed values when they are all plain strings, else None."""
    values = pattern.get(field, MISSING)
    if not isinstance(values, list) or not values:
        return None
    if not all(isinstance(value, str) for value in values):
        return None
    return tuple(dict.fromkeys(values))


class PatternIndex(Generic[T]):
    """Items (rules, say) with their patterns, indexed on two top-level fields.

    ``candidates(event)`` returns, in the order the items were given, a list holding at least
    every item whose pattern matches ``event``; an item without a pattern is never a
    candidate.
    """

    __slots__ = (
        "_by_first",
        "_by_pair",
        "_by_second",
        "_everything",
        "_fields",
        "_routes",
        "_unchecked",
        "_unindexed",
    )

    def __init__(
        self,
        items: Iterable[tuple[T, Pattern | None]],
        fields: tuple[str, str] = ("source", "detail-type"),
    ) -> None:
        self._fields = fields
        first_field, second_field = fields
        self._everything: list[T] = []
        self._unindexed: list[_Entry[T]] = []
        self._by_first: dict[str, list[_Entry[T]]] = {}
        self._by_second: dict[str, list[_Entry[T]]] = {}
        self._by_pair: dict[tuple[str, str], list[_Entry[T]]] = {}
        self._unchecked: list[tuple[T, Pattern]] = []
        """Every item with its pattern, for an event the index cannot narrow down."""
        self._routes: dict[tuple[object, object], Route[T]] = {}
        for ordinal, (item, pattern) in enumerate(items):
            if pattern is None:
                continue
            self._everything.append(item)
            self._unchecked.append((item, pattern))
            source = pattern.source
            first = _exact_strings(source, first_field)
            second = _exact_strings(source, second_field)
            named = len(source)
            if first is not None and second is not None and len(first) * len(second) <= _MAX_PAIRS:
                entry = _entry(ordinal, item, pattern, sure=named == 2)
                for one in first:
                    for two in second:
                        self._by_pair.setdefault((one, two), []).append(entry)
            elif first is not None:
                entry = _entry(ordinal, item, pattern, sure=named == 1)
                for one in first:
                    self._by_first.setdefault(one, []).append(entry)
            elif second is not None:
                entry = _entry(ordinal, item, pattern, sure=named == 1)
                for two in second:
                    self._by_second.setdefault(two, []).append(entry)
            else:
                self._unindexed.append(_entry(ordinal, item, pattern, sure=named == 0))

    def __len__(self) -> int:
        return len(self._everything)

    def candidates(self, event: Mapping[str, Any]) -> Sequence[T]:
        first_field, second_field = self._fields
        first: object = event.get(first_field, MISSING)
        second: object = event.get(second_field, MISSING)
        if not (first is MISSING or isinstance(first, str)) or not (
            second is MISSING or isinstance(second, str)
        ):
            return self._everything
        return [item for item, _ in self.routes(first, second)]

    def routes(self, first: object, second: object) -> Route[T]:
        """The candidates of an event whose indexed fields hold ``first`` and ``second``
        (:data:`MISSING` where it has none), in order, each with its pattern, or None in its
        place when the pattern surely matches (the caller checks nothing else)."""
        key = (first, second)
        try:
            found = self._routes.get(key)
        except TypeError:  # an array, an object: no value the index files anything under
            found = None
        if found is not None:
            return found
        if not (first is MISSING or isinstance(first, str)) or not (
            second is MISSING or isinstance(second, str)
        ):
            return tuple(self._unchecked)  # not kept (rare: EventBridge's fields are strings)
        found = self._route(first, second)
        if len(self._routes) >= MAX_ROUTES:
            self._routes.clear()
        self._routes[key] = found
        return found

    def _route(self, first: object, second: object) -> Route[T]:
        groups: list[list[_Entry[T]]] = []
        if self._unindexed:
            groups.append(self._unindexed)
        if isinstance(first, str):
            if found := self._by_first.get(first):
                groups.append(found)
            if isinstance(second, str) and (pair := self._by_pair.get((first, second))):
                groups.append(pair)
        if isinstance(second, str) and (found := self._by_second.get(second)):
            groups.append(found)
        merged = sorted((entry for group in groups for entry in group), key=_ordinal)
        return tuple((item, check) for _, item, check in merged)


def _entry(ordinal: int, item: T, pattern: Pattern, *, sure: bool) -> _Entry[T]:
    """``sure``: the pattern names only the fields it is filed under, each with exact
    strings, so an event reaching its entry (whose values there are strings) matches it."""
    return (ordinal, item, None if sure else pattern)


def _ordinal(entry: _Entry[Any]) -> int:
    return entry[0]
