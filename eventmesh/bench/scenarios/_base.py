"""What every scenario shares: the two sides' run, a mesh for benchmarking, queue workers."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, ClassVar, Literal

from eventmesh import Mesh, Telemetry
from eventmesh.bench.options import DEFAULT_DURATION, BenchOptions, OptionsError, Work
from eventmesh.bench.progress import ProgressHook, ticking
from eventmesh.bench.recorder import Recorder, SideResult, summarise
from eventmesh.bench.runner import Plan, Side, complete, fill_backlog, produce
from eventmesh.bench.workload import event_factory

__all__ = [
    "FUNCTION_TIMEOUT",
    "QueueWorkers",
    "Scenario",
    "ScenarioUnavailable",
    "Which",
    "bench_mesh",
    "mesh_stats",
    "send_all",
]

SEND_AT_ONCE = 25
"""Sends in flight at once per ``send_all`` call (a backlog's fill)."""


async def send_all(send: Callable[[Any], Awaitable[Any]], items: Sequence[Any]) -> None:
    """``send`` each item, ``SEND_AT_ONCE`` at a time (filling a backlog over a network)."""
    for first in range(0, len(items), SEND_AT_ONCE):
        await asyncio.gather(*(send(item) for item in items[first : first + SEND_AT_ONCE]))


Which = Literal["ours", "baseline"]

FUNCTION_TIMEOUT = 60.0
"""Long enough that no benchmark handler times out, even behind an open-loop backlog."""


def bench_mesh(options: BenchOptions) -> Mesh:
    """A mesh as a benchmark wants it: the chosen storage, telemetry off."""
    return Mesh(storage=options.storage, telemetry=Telemetry(enabled=False), drain_timeout=60.0)


def mesh_stats(mesh: Mesh) -> Callable[[], tuple[int, int]]:
    """Reads (errors, cold starts) over the mesh's functions."""

    def read() -> tuple[int, int]:
        functions = mesh.functions.values()
        return (
            sum(f.stats.errors + f.stats.throttles for f in functions),
            sum(f.stats.cold_starts for f in functions),
        )

    return read


class ScenarioUnavailable(Exception):
    """This version of eventmesh lacks what the scenario measures (the message says what)."""


class QueueWorkers:
    """The hand-written baseline: an ``asyncio.Queue`` and reusable worker tasks.

    Each worker takes one item, or up to ``batch`` items when more are waiting, and awaits
    ``deliver`` with them. Nothing else: no ids, no receipts, no retries.
    """

    def __init__(
        self,
        deliver: Callable[[list[Any]], Awaitable[None]],
        *,
        workers: int,
        batch: int = 1,
        start: bool = True,
    ) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self._deliver = deliver
        self._batch = batch
        self._workers = workers
        self._tasks: list[asyncio.Task[None]] = []
        if start:
            self.start()

    def start(self) -> None:
        """Start the workers (once; a pool made with ``start=False`` fills first)."""
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._work()) for _ in range(self._workers)]

    async def _work(self) -> None:
        queue, deliver, batch = self.queue, self._deliver, self._batch
        while True:
            items = [await queue.get()]
            while len(items) < batch and not queue.empty():
                items.append(queue.get_nowait())
            await deliver(items)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@contextlib.asynccontextmanager
async def closing_workers(pools: Sequence[QueueWorkers]) -> AsyncIterator[None]:
    try:
        yield
    finally:
        for pool in pools:
            await pool.close()


class Scenario:
    """A scenario: what eventmesh does, and the baseline doing the same work by hand.

    Subclasses give ``open_side``, an async context manager yielding a ready
    :class:`~eventmesh.bench.runner.Side`, or override :meth:`run` for a measurement of
    another shape (schedules, cold starts).
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    ours_name: ClassVar[str]
    baseline_name: ClassVar[str]
    unit: ClassVar[str] = "events/s"
    default_concurrency: ClassVar[int] = 1000
    default_work: ClassVar[Work] = Work()
    supports_open_loop: ClassVar[bool] = True
    supports_backlog: ClassVar[bool] = False
    isolation: ClassVar[str] = "in_process"
    """Where eventmesh's side runs the handler (``--isolation``)."""

    def check(self, options: BenchOptions) -> None:
        """Raise ScenarioUnavailable, or OptionsError for options the scenario cannot take."""

    def work(self, options: BenchOptions) -> Work:
        """The handler's work: ``--handler``, or the scenario's default."""
        return options.handler or self.default_work

    def concurrency(self, options: BenchOptions) -> int:
        return options.concurrency or self.default_concurrency

    def describe(self, options: BenchOptions) -> dict[str, Any]:
        """Scenario settings as they were used (for the JSON's parameters)."""
        return {"concurrency": self.concurrency(options), "handler": str(self.work(options))}

    async def references(self, options: BenchOptions, events: int) -> dict[str, dict[str, Any]]:
        """Further baselines measured in the same run, after both sides, on ``events`` events:
        ``{key: {"name": ..., "throughput": ...}}`` (none by default). The result gives each
        under its key, with eventmesh's ratio to it."""
        return {}

    def conclude(self, result: dict[str, Any], ours: SideResult, baseline: SideResult) -> None:
        """Add the scenario's own figures to the result, once both sides ran: extra keys,
        and ``summary_lines``, printed under the table (nothing by default)."""

    def open_side(
        self, options: BenchOptions, recorder: Recorder, which: Which
    ) -> AbstractAsyncContextManager[Side]:
        """The scenario's measured side; abstract (or :meth:`run` is overridden instead)."""
        raise NotImplementedError(f"{type(self).__name__} gives neither open_side nor run")

    async def run(
        self,
        options: BenchOptions,
        which: Which,
        recorder: Recorder,
        progress: ProgressHook,
    ) -> SideResult:
        """Warm up, reset, produce as planned, wait for every sample, summarise."""
        gc.collect()
        if options.backlog is not None:
            return await self._run_backlog(options, which, recorder, progress)
        async with self.open_side(options, recorder, which) as side:
            make = event_factory(options.payload_size)
            concurrency = self.concurrency(options)
            if options.warmup > 0:
                warm = Plan(None, options.warmup, options.rate, concurrency, make)
                async with ticking(
                    progress, f"{which}: warming up", recorder, events=None, seconds=warm.duration
                ):
                    production = await produce(side, warm, recorder)
                    expected_warm = (production.sent - recorder.errors) * side.deliveries
                    await complete(side, recorder, expected_warm, 60.0)
            recorder.reset()
            before = side.stats() if side.stats else (0, 0)
            duration = options.planned_duration()
            events = options.planned_events()
            plan = Plan(events, duration, options.rate, concurrency, make)
            expected = None if events is None else events * side.deliveries
            async with ticking(
                progress,
                f"{which}: {side.name}"[:34],
                recorder,
                events=expected,
                seconds=None if expected is not None else (duration or DEFAULT_DURATION),
            ):
                production = await produce(side, plan, recorder)
                timeout = max(30.0, 10.0 * (production.ended - production.started))
                # A call that raised delivers nothing: waiting for its samples would only
                # count it a second time, as missing, after the timeout.
                expected = (production.sent - recorder.errors) * side.deliveries
                await complete(side, recorder, expected, timeout)
            after = side.stats() if side.stats else (0, 0)
            recorder.errors += after[0] - before[0]
            recorder.cold_starts += after[1] - before[1]
        return summarise(
            side.name,
            recorder,
            production.started,
            expected=expected,
            produced_until=production.window_end,
        )

    async def _run_backlog(
        self, options: BenchOptions, which: Which, recorder: Recorder, progress: ProgressHook
    ) -> SideResult:
        """Pre-fill ``--backlog`` events, start the consumers, time the drain (no warm-up:
        the consumers must not run before the backlog is in)."""
        assert options.backlog is not None
        async with self.open_side(options, recorder, which) as side:
            if side.fill is None or side.start is None:
                raise OptionsError(f"{self.name} cannot pre-fill a backlog: drop --backlog")
            make = event_factory(options.payload_size)
            expected = options.backlog * side.deliveries
            before = side.stats() if side.stats else (0, 0)
            async with ticking(
                progress, f"{which}: {side.name}"[:34], recorder, events=expected, seconds=None
            ):
                production = await fill_backlog(side, options.backlog, make, recorder)
                await complete(side, recorder, expected, 600.0)
            after = side.stats() if side.stats else (0, 0)
            recorder.errors += after[0] - before[0]
            recorder.cold_starts += after[1] - before[1]
            extra = dict(side.extra)
        result = summarise(side.name, recorder, production.started, expected=expected)
        result.extra.update(extra)
        return result
