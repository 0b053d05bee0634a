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

Why a pattern filed under ``source`` = ``a`` cannot match an event whose ``source`` is the
string ``b``, or has no ``source``: every top-level field a pattern names must match (AND,
whatever ``$or`` the pattern also holds), and a value array of plain strings matches only an
equal string, or an array holding one. An event whose indexed field holds something other
than a string (an array, a number, an object) therefore gets every pattern as a candidate,
in order: correct, and rare (EventBridge's ``source`` and ``detail-type`` are strings).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from eventmesh.patterns import Pattern

__all__ = ["PatternIndex"]

T = TypeVar("T")

_MISSING = object()
_MAX_PAIRS = 64
"""A pattern with exact values on two indexed fields is filed under each pair of values, when
there are at most this many pairs; otherwise under its first indexed field's values."""


def _exact_strings(pattern: Mapping[str, Any], field: str) -> tuple[str, ...] | None:
    """The field's allowed values when they are all plain strings, else None."""
    values = pattern.get(field, _MISSING)
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

    __slots__ = ("_by_first", "_by_pair", "_by_second", "_everything", "_fields", "_unindexed")

    def __init__(
        self,
        items: Iterable[tuple[T, Pattern | None]],
        fields: tuple[str, str] = ("source", "detail-type"),
    ) -> None:
        self._fields = fields
        first_field, second_field = fields
        self._everything: list[T] = []
        self._unindexed: list[tuple[int, T]] = []
        self._by_first: dict[str, list[tuple[int, T]]] = {}
        self._by_second: dict[str, list[tuple[int, T]]] = {}
        self._by_pair: dict[tuple[str, str], list[tuple[int, T]]] = {}
        for ordinal, (item, pattern) in enumerate(items):
            if pattern is None:
                continue
            self._everything.append(item)
            entry = (ordinal, item)
            first = _exact_strings(pattern.source, first_field)
            second = _exact_strings(pattern.source, second_field)
            if first is not None and second is not None and len(first) * len(second) <= _MAX_PAIRS:
                for one in first:
                    for two in second:
                        self._by_pair.setdefault((one, two), []).append(entry)
            elif first is not None:
                for one in first:
                    self._by_first.setdefault(one, []).append(entry)
            elif second is not None:
                for two in second:
                    self._by_second.setdefault(two, []).append(entry)
            else:
                self._unindexed.append(entry)

    def __len__(self) -> int:
        return len(self._everything)

    def candidates(self, event: Mapping[str, Any]) -> Sequence[T]:
        first_field, second_field = self._fields
        first: object = event.get(first_field, _MISSING)
        second: object = event.get(second_field, _MISSING)
        if not (first is _MISSING or isinstance(first, str)) or not (
            second is _MISSING or isinstance(second, str)
        ):
            return self._everything
        groups: list[list[tuple[int, T]]] = []
        if self._unindexed:
            groups.append(self._unindexed)
        if isinstance(first, str):
            if found := self._by_first.get(first):
                groups.append(found)
            if isinstance(second, str) and (pair := self._by_pair.get((first, second))):
                groups.append(pair)
        if isinstance(second, str) and (found := self._by_second.get(second)):
            groups.append(found)
        if not groups:
            return ()
        if len(groups) == 1:
            return [item for _, item in groups[0]]
        merged = sorted((entry for group in groups for entry in group), key=_ordinal)
        return [item for _, item in merged]


def _ordinal(entry: tuple[int, Any]) -> int:
    return entry[0]
