"""``schedule-jitter``: how late schedules fire while the event loop is under load.

EventBridge's ``rate()`` counts in minutes, too slow for a benchmark, so the scenario uses
one-time ``at()`` schedules (second precision) on the real clock: ``--rate`` schedules fall
due on each whole second, for as many seconds as ``--duration`` (or as ``--events``
needs). Each fires a function (an Event invocation, as a scheduled rule does) whose handler
records how long after its scheduled second it finished. Meanwhile ``--concurrency`` load
tasks run the ``--handler`` work in a loop (default ``cpu:200``: the loop is busy, as a
service's would be). The baseline is the same load with ``loop.call_at`` timers that start
a task running the same handler: the lateness the event loop itself imposes.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from time import perf_counter
from typing import Any, ClassVar

from eventmesh.bench.options import DEFAULT_DURATION, BenchOptions, OptionsError, Work
from eventmesh.bench.progress import ProgressHook, ticking
from eventmesh.bench.recorder import Recorder, SideResult, summarise
from eventmesh.bench.scenarios._base import FUNCTION_TIMEOUT, Scenario, Which, bench_mesh
from eventmesh.bench.workload import make_handler

__all__ = ["ScheduleJitter"]

DEFAULT_FIRES_PER_SECOND = 50
LEAD = 0.2
"""At least this long between setting schedules up and the first one falling due."""


class ScheduleJitter(Scenario):
    name = "schedule-jitter"
    summary = "lateness of schedules firing under load (at() schedules, real clock)"
    ours_name = "at() schedules -> function"
    baseline_name = "loop.call_at timers -> task"
    unit = "fires/s"
    default_concurrency = 4
    default_work: ClassVar[Work] = Work("cpu", 200e-6)

    def check(self, options: BenchOptions) -> None:
        if options.concurrency is not None and options.concurrency > 10_000:
            raise OptionsError("schedule-jitter: --concurrency (load tasks) is at most 10000")

    def plan(self, options: BenchOptions) -> list[int]:
        """Schedules due on each whole second."""
        per_second = round(options.rate or DEFAULT_FIRES_PER_SECOND)
        if options.events is not None:
            seconds = max(1, math.ceil(options.events / per_second))
            counts = [per_second] * seconds
            counts[-1] = options.events - per_second * (seconds - 1)
            return counts
        return [per_second] * max(1, round(options.duration or DEFAULT_DURATION))

    def describe(self, options: BenchOptions) -> dict[str, Any]:
        counts = self.plan(options)
        return {
            "mode": "fixed schedule",
            "handler": str(self.work(options)),
            "load_tasks": self.concurrency(options),
            "seconds": len(counts),
            "fires": sum(counts),
        }

    async def run(
        self,
        options: BenchOptions,
        which: Which,
        recorder: Recorder,
        progress: ProgressHook,
    ) -> SideResult:
        gc.collect()
        counts = self.plan(options)
        total = sum(counts)
        handler = make_handler(recorder, Work())
        label = self.ours_name if which == "ours" else self.baseline_name
        async with self._load(options):
            if which == "ours":
                started = await self._ours(options, counts, handler, recorder, progress)
            else:
                started = await self._baseline(counts, handler, recorder, progress)
        recorder.sent = total
        return summarise(label, recorder, started, expected=total)

    @contextlib.asynccontextmanager
    async def _load(self, options: BenchOptions) -> AsyncIterator[None]:
        recorder = Recorder()  # the load's own samples, thrown away
        work = make_handler(recorder, self.work(options))

        async def spin() -> None:
            while True:
                await work({"t": perf_counter()}, None)
                del recorder.latencies[:], recorder.finishes[:]
                await asyncio.sleep(0)

        tasks = [asyncio.create_task(spin()) for _ in range(self.concurrency(options))]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _ours(
        self,
        options: BenchOptions,
        counts: list[int],
        handler: Any,
        recorder: Recorder,
        progress: ProgressHook,
    ) -> float:
        mesh = bench_mesh(options)
        mesh.function(name="bench", timeout=FUNCTION_TIMEOUT)(handler)
        wall, perf = time.time(), perf_counter()
        first = math.ceil(wall + LEAD)
        for second, count in enumerate(counts):
            due = first + second
            at = datetime.fromtimestamp(due, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            for index in range(count):
                mesh.schedule(
                    f"at({at})",
                    "bench",
                    input={"t": due - wall + perf},
                    name=f"bench-{second}-{index}",
                )
        total = sum(counts)
        async with mesh, ticking(progress, f"{'ours'}: {self.ours_name}", recorder,
                           events=total, seconds=None):  # fmt: skip
            await _wait_for(recorder, total, first - time.time() + len(counts) + 30.0)
        return first - wall + perf

    async def _baseline(
        self, counts: list[int], handler: Any, recorder: Recorder, progress: ProgressHook
    ) -> float:
        loop = asyncio.get_running_loop()
        perf, loop_now = perf_counter(), loop.time()
        first = perf + LEAD
        tasks: set[asyncio.Task[None]] = set()

        def fire(intended: float) -> None:
            task = loop.create_task(handler({"t": intended}, None))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        for second, count in enumerate(counts):
            intended = first + second
            for _ in range(count):
                loop.call_at(intended - perf + loop_now, fire, intended)
        total = sum(counts)
        async with ticking(
            progress, f"baseline: {self.baseline_name}", recorder, events=total, seconds=None
        ):
            await _wait_for(recorder, total, LEAD + len(counts) + 30.0)
        return first


async def _wait_for(recorder: Recorder, count: int, timeout: float) -> None:
    deadline = perf_counter() + timeout
    while recorder.count < count and perf_counter() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.005)
    recorder.errors += max(0, count - recorder.count)
