"""Ids and timestamps the mesh makes: request, message and event ids, unique across
processes, and the ISO 8601 times AWS's events carry, formatted cheaply."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from itertools import chain, count

__all__ = ["IsoTimes", "RequestIds"]


_LOW_DIGITS = tuple(f"{low:03x}" for low in range(4096))
"""The last three hex digits of a counter, made once: an id is two strings joined."""

ID_BLOCK = 512
"""Ids a generator formats at once (a divisor of 4,096): about 45 KB held per generator."""


class RequestIds:
    """Unique request ids in UUID form, cheaply: a random per-process prefix and a counter.

    ``uuid.uuid4()`` costs about a microsecond (an ``os.urandom`` call and object creation)
    on every invocation; a counter is just as unique within one process, and the random
    prefix keeps ids apart across processes. Topics and buses use it for their message and
    event ids too (UUIDs in AWS's shapes). The counter's 12 hex digits are not formatted per
    id: the first nine change every 4,096 ids and are formatted once with the prefix, the
    last three come from a table; and ids are joined :data:`ID_BLOCK` at a time, in a list
    comprehension, so that :attr:`next` is a C iterator's ``__next__``: no Python frame per
    id (half the cost of a method joining one id per call).
    """

    __slots__ = ("_prefix", "next")

    def __init__(self) -> None:
        raw = os.urandom(10).hex()
        variant = "89ab"[int(raw[16], 16) % 4]  # RFC 4122's variant, so ids parse as v4
        self._prefix = f"{raw[:8]}-{raw[8:12]}-4{raw[13:16]}-{variant}{raw[17:20]}-"
        self.next: Callable[[], str] = chain.from_iterable(_blocks(self._prefix)).__next__
        """The next id: the counter's 1, 2, 3... after the prefix (never ends)."""


def _blocks(prefix: str) -> Iterator[list[str]]:
    """The ids after ``prefix`` in blocks of :data:`ID_BLOCK`, made as they are reached (the
    first block when the first id is asked for)."""
    for high in count():
        head = f"{prefix}{high:09x}"
        for start in range(0, 4096, ID_BLOCK):
            first = 1 if high == 0 and start == 0 else start  # the counter starts at 1
            yield [head + low for low in _LOW_DIGITS[first : start + ID_BLOCK]]


class IsoTimes:
    """UTC times of epoch seconds as AWS writes them, the date and time of day formatted once
    per second: ``millis`` gives ``2019-11-14T18:16:05.568Z`` (SNS's ``Timestamp``, Lambda's
    records), ``seconds`` gives ``2019-11-14T18:16:05Z`` (EventBridge's ``time``).

    Both equal what ``datetime.fromtimestamp(epoch, UTC)`` formats, rounding included (a
    time 0.4 µs before a whole second is that second, as ``datetime`` rounds to the
    microsecond, half to even), for any epoch, in any order (a virtual clock may go back).
    """

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second: int | None = None
        self._prefix = ""

    def millis(self, epoch: float) -> str:
        second, micros = _split(epoch)
        return f"{self._date_time(second)}.{micros // 1000:03d}Z"

    def seconds(self, epoch: float) -> str:
        second = int(epoch)
        if not 0.0 <= epoch - second < _SURE_FRACTION:
            second = _split(epoch)[0]  # it may round up to the next second, or is before 1970
        return f"{self._date_time(second)}Z"

    def _date_time(self, second: int) -> str:
        if second != self._second:
            moment = datetime.fromtimestamp(second, UTC)
            self._prefix = moment.strftime("%Y-%m-%dT%H:%M:%S")
            self._second = second
        return self._prefix


_SURE_FRACTION = 0.999999
"""Below this fraction of a second, rounding to the microsecond stays in the same second."""


def _split(epoch: float) -> tuple[int, int]:
    """Whole seconds and microseconds of ``epoch``, rounded as ``datetime.fromtimestamp``
    rounds (CPython's ``_PyTime_DoubleToDenominator``, half to even)."""
    fraction, whole = math.modf(epoch)
    micros = round(fraction * 1e6)
    if micros >= 1_000_000:
        micros -= 1_000_000
        whole += 1.0
    elif micros < 0:
        micros += 1_000_000
        whole -= 1.0
    return int(whole), micros
