"""The time driver: the one way the conformance suite lets time pass.

On the mesh's clock (memory, SQLite) the driver advances a
:class:`~eventmesh.testing.VirtualClock`: every step is exact and instantaneous, and the
assertions are exact. On a server's own clock (a real broker) it waits in real time, the only
place in eventmesh where a real wait is right, and widens each assertion by the tolerance the
backend declares: a step taken to stay *before* a deadline is shortened by it, a step taken to
be *past* one is lengthened by it (and by what earlier steps were shortened), and a wall time
compares equal within it.

Scale: the suite's durations are written for the virtual clock (visibility timeouts of 30 s,
an expiry checked after a minute), too long to wait for in real time. A server-clock driver
takes a ``scale`` (``BackendUnderTest.time_scale``) and applies it to every duration: the
suites pass each duration they give a store through :meth:`TimeDriver.seconds` and each one
they give the driver is scaled by the driver, so a test keeps its shape at a tenth of its
length. On the virtual clock the scale is 1 and nothing changes. A scale must leave the
shortest scaled steps well above the tolerance; a test whose margin is a wait or a delay of
under a second takes it from :func:`~eventmesh.testing.conformance.suites.durations.sub_second`,
which lengthens it where the scale does not.
"""

from __future__ import annotations

import asyncio
import time as _time
from collections.abc import Awaitable, Callable
from typing import Any

from eventmesh._clock import Clock, RealClock, VirtualClock

__all__ = ["ServerTime", "TimeDriver", "VirtualTime"]


class Near:
    """A wall time that compares equal to any float within ``tolerance`` of it."""

    __slots__ = ("tolerance", "value")

    def __init__(self, value: float, tolerance: float) -> None:
        self.value = value
        self.tolerance = tolerance

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Near):
            other = other.value
        if not isinstance(other, int | float):
            return NotImplemented
        return abs(other - self.value) <= self.tolerance

    def __hash__(self) -> int:
        return hash(round(self.value))

    def __repr__(self) -> str:
        return f"{self.value!r} ± {self.tolerance}"


class TimeDriver:
    """What the suite asks of time; see the module docstring."""

    clock: Clock
    """The clock the backend under test is given."""
    start: float
    """Wall time (epoch seconds) when the test began."""
    tolerance: float
    scale: float = 1.0
    """The factor applied to the suite's durations (1 on the virtual clock)."""

    def seconds(self, duration: float) -> float:
        """A duration as the test passes it to the store under test: scaled."""
        return duration * self.scale

    def wall(self) -> float:
        """Wall time now."""
        return self.clock.time()

    def at(self, seconds: float) -> Any:
        """The wall time ``seconds`` after the start, as an assertion compares it."""
        raise NotImplementedError

    async def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass."""
        raise NotImplementedError

    async def advance_before(self, seconds: float) -> None:
        """Let ``seconds`` pass, staying before a deadline that ends then."""
        raise NotImplementedError

    async def advance_past(self, seconds: float, slack: float = 0.0) -> None:
        """Let ``seconds`` pass, going past a deadline that ends then (``slack``: a further
        margin the backend declares for this deadline, e.g. its TTL resolution)."""
        raise NotImplementedError

    def leaves_no_timers(self) -> bool:
        """No timer of the mesh's clock is left pending (a server clock has none)."""
        raise NotImplementedError


class VirtualTime(TimeDriver):
    """Exact, instantaneous time on a :class:`~eventmesh.testing.VirtualClock`."""

    def __init__(self, clock: VirtualClock | None = None) -> None:
        self.virtual = clock or VirtualClock()
        self.clock = self.virtual
        self.start = self.virtual.time()
        self.tolerance = 0.0

    def at(self, seconds: float) -> float:
        return self.start + seconds

    async def advance(self, seconds: float) -> None:
        await self.virtual.advance(seconds)

    async def advance_before(self, seconds: float) -> None:
        await self.virtual.advance(seconds)

    async def advance_past(self, seconds: float, slack: float = 0.0) -> None:
        await self.virtual.advance(seconds + slack)

    def leaves_no_timers(self) -> bool:
        return self.virtual.pending_timers == 0


class ServerTime(TimeDriver):
    """Real time for a backend that keeps its own: waits, and widens by ``tolerance``.

    ``sleep`` and ``wall`` default to :func:`asyncio.sleep` and :func:`time.time`; ``scale``
    multiplies every duration a test asks for (the tolerance and a deadline's ``slack``, the
    backend's own figures, are not scaled).
    """

    def __init__(
        self,
        tolerance: float,
        *,
        scale: float = 1.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        wall: Callable[[], float] = _time.time,
        clock: Clock | None = None,
    ) -> None:
        if scale <= 0:
            raise ValueError("scale must be > 0")
        self.clock = clock or RealClock()
        self.tolerance = tolerance
        self.scale = scale
        self._sleep = sleep
        self._wall = wall
        self._owed = 0.0  # how much earlier steps were shortened
        self._drift = 0.0  # how far real time has run from the steps asked for
        self.start = wall()

    def wall(self) -> float:
        return self._wall()

    def at(self, seconds: float) -> Near:
        return Near(self.start + seconds * self.scale, self.tolerance + abs(self._drift))

    async def advance(self, seconds: float) -> None:
        await self._sleep(seconds * self.scale)

    async def advance_before(self, seconds: float) -> None:
        seconds *= self.scale
        shortened = min(seconds, self.tolerance)
        self._owed += shortened
        self._drift -= shortened
        await self._sleep(seconds - shortened)

    async def advance_past(self, seconds: float, slack: float = 0.0) -> None:
        seconds *= self.scale
        owed, self._owed = self._owed, 0.0
        self._drift += owed + self.tolerance + slack
        await self._sleep(seconds + owed + self.tolerance + slack)

    def leaves_no_timers(self) -> bool:
        return True
