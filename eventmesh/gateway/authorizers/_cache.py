"""Authorizer results kept for a TTL on the mesh's clock, keyed by the identity's values."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

from eventmesh._clock import Clock

__all__ = ["ResultCache"]

V = TypeVar("V")

MAX_ENTRIES = 10_000
"""Entries kept at most; past it the oldest go first (a flood of distinct tokens cannot grow
the cache without bound)."""


class ResultCache(Generic[V]):
    """``ttl`` seconds per entry; a ``ttl`` of 0 keeps nothing."""

    def __init__(self, clock: Clock, ttl: float, max_entries: int = MAX_ENTRIES) -> None:
        self._clock = clock
        self.ttl = ttl
        self._max = max_entries
        self._entries: dict[Hashable, tuple[float, V]] = {}

    def get(self, key: Hashable) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if self._clock.now() >= expires:
            del self._entries[key]
            return None
        return value

    def put(self, key: Hashable, value: V) -> None:
        if self.ttl <= 0:
            return
        self._entries.pop(key, None)
        while len(self._entries) >= self._max:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (self._clock.now() + self.ttl, value)

    def __len__(self) -> int:
        return len(self._entries)
