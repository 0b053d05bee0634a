"""One deadline watcher for every running invocation.

``asyncio.timeout`` schedules a timer per call, which costs about as much as a warm
invocation should in all. Instead, running invocations are kept in one insertion-ordered
dict per timeout duration ("lanes"): within a lane, deadlines increase in insertion order,
so the head of each lane is its earliest deadline and a finished invocation leaves its lane
in O(1). A single clock timer is armed for the earliest head.

Re-arming the timer on every call would cost a timer per call again, so the watcher keeps a
lease: when its lanes empty it stays armed for the shortest duration it has seen. Any
invocation that starts meanwhile has a deadline past the armed time and needs no new timer.
"""

from __future__ import annotations

import math
from typing import Protocol

from eventmesh._clock import Clock, TimerHandle

__all__ = ["DeadlineWatcher", "Watched"]


class Watched(Protocol):
    def on_deadline(self) -> None: ...


class DeadlineWatcher:
    __slots__ = ("_activity", "_clock", "_handle", "_lanes", "_shortest", "_target")

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lanes: dict[float, dict[Watched, float]] = {}
        self._handle: TimerHandle | None = None
        self._target = math.inf
        self._shortest = math.inf
        self._activity = False

    def watch(self, item: Watched, duration: float, deadline: float) -> None:
        """Call ``item.on_deadline()`` at ``deadline`` unless it is unwatched first."""
        lane = self._lanes.get(duration)
        if lane is None:
            lane = self._lanes[duration] = {}
            self._shortest = min(self._shortest, duration)
        lane[item] = deadline
        self._activity = True
        if deadline < self._target:
            self._arm(deadline)

    def unwatch(self, item: Watched, duration: float) -> None:
        lane = self._lanes.get(duration)
        if lane is not None:
            lane.pop(item, None)

    def _arm(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._target = when
        self._handle = self._clock.call_at(when, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._target = math.inf
        now = self._clock.now()
        earliest = math.inf
        for lane in self._lanes.values():
            while lane:
                item = next(iter(lane))
                deadline = lane[item]
                if deadline > now:
                    earliest = min(earliest, deadline)
                    break
                del lane[item]
                item.on_deadline()
        if earliest < math.inf:
            self._arm(earliest)
        elif self._activity:
            self._activity = False
            self._arm(now + self._shortest)
