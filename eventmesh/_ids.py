"""Ids the mesh makes: request ids and message ids, unique across processes."""

from __future__ import annotations

import os

__all__ = ["RequestIds"]


class RequestIds:
    """Unique request ids in UUID form, cheaply: a random per-process prefix and a counter.

    ``uuid.uuid4()`` costs about a microsecond (an ``os.urandom`` call and object creation)
    on every invocation; a formatted counter costs a fifth of that and is just as unique
    within one process, and the random prefix keeps ids apart across processes.
    """

    __slots__ = ("_counter", "_format")

    def __init__(self) -> None:
        raw = os.urandom(10).hex()
        variant = "89ab"[int(raw[16], 16) % 4]  # RFC 4122's variant, so ids parse as v4
        self._format = f"{raw[:8]}-{raw[8:12]}-4{raw[13:16]}-{variant}{raw[17:20]}-%012x"
        self._counter = 0

    def next(self) -> str:
        self._counter += 1
        return self._format % self._counter
