"""``cold-start``: what creating an execution environment costs beyond the user's init.

Each sample deploys a new ``$LATEST`` (``update_code``, outside the timing), so the next
invocation is a cold start: a new environment, the (empty) init hook, then the handler. A
warm invocation follows. The cold invocations are the measured events; the overhead of a
cold start is the median cold latency minus the median warm latency minus the median time
of the init hook itself, awaited directly (the baseline: the user's own init code, then
the handler, awaited directly).
"""

from __future__ import annotations

import gc
from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import Any

from eventmesh.bench.options import BenchOptions, OptionsError
from eventmesh.bench.progress import ProgressHook, ticking
from eventmesh.bench.recorder import Recorder, SideResult, summarise
from eventmesh.bench.scenarios._base import (
    FUNCTION_TIMEOUT,
    Scenario,
    Which,
    bench_mesh,
    mesh_stats,
)
from eventmesh.bench.workload import empty_init, make_handler

__all__ = ["ColdStart"]

Sample = Callable[[], Awaitable[None]]


def _p50(recorder: Recorder) -> float:
    return summarise("", recorder, 0.0, expected=recorder.count).latency.p50


class ColdStart(Scenario):
    name = "cold-start"
    summary = "cold invocations (new environment + empty init hook) against warm ones"
    ours_name = "cold mesh.invoke (empty init)"
    baseline_name = "await init(ctx); await handler(...)"
    unit = "cold starts/s"
    default_concurrency = 1
    supports_open_loop = False

    def check(self, options: BenchOptions) -> None:
        if options.rate is not None:
            raise OptionsError("cold-start runs closed loop, one cold start at a time: no --rate")

    def describe(self, options: BenchOptions) -> dict[str, Any]:
        return {"concurrency": 1, "handler": str(self.work(options))}

    async def run(
        self,
        options: BenchOptions,
        which: Which,
        recorder: Recorder,
        progress: ProgressHook,
    ) -> SideResult:
        gc.collect()
        warm, init = Recorder(), Recorder()
        cold_handler = make_handler(recorder, self.work(options))
        warm_handler = make_handler(warm, self.work(options))

        async def handler(event: Any, context: Any = None) -> None:
            await (cold_handler if "cold" in event else warm_handler)(event, context)

        if which == "baseline":
            record_init = init.record

            async def direct() -> None:
                t = perf_counter()
                await empty_init(None)
                now = perf_counter()
                record_init(now - t, now)
                await handler({"t": t, "cold": 1}, None)
                await handler({"t": perf_counter()}, None)

            result = await self._measure(options, which, direct, recorder, warm, progress)
        else:
            mesh = bench_mesh(options)
            function = mesh.function(name="bench", timeout=FUNCTION_TIMEOUT)(handler)
            function.init(empty_init)
            invoke = mesh.invoke
            stats = mesh_stats(mesh)

            async def cold_then_warm() -> None:
                function.update_code(handler)  # a new $LATEST: no environment yet
                await invoke("bench", None, "DryRun")  # resolves it, outside the timing
                await invoke("bench", {"t": perf_counter(), "cold": 1})
                await invoke("bench", {"t": perf_counter()})

            async with mesh:
                if options.warmup > 0:
                    await self._warm_up(options, cold_then_warm)
                before = stats()
                result = await self._measure(
                    options, which, cold_then_warm, recorder, warm, progress
                )
                after = stats()
            result.errors += after[0] - before[0]
            result.cold_starts = after[1] - before[1]
        cold, warm_p50 = result.latency.p50, _p50(warm)
        init_p50 = _p50(init) if init.count else 0.0
        result.extra = {"cold_p50_ms": cold, "warm_p50_ms": warm_p50, "init_p50_ms": init_p50}
        return result

    async def _warm_up(self, options: BenchOptions, sample: Sample) -> None:
        until = perf_counter() + options.warmup
        while perf_counter() < until:
            await sample()

    async def _measure(
        self,
        options: BenchOptions,
        which: Which,
        sample: Sample,
        recorder: Recorder,
        warm: Recorder,
        progress: ProgressHook,
    ) -> SideResult:
        if which == "baseline" and options.warmup > 0:
            await self._warm_up(options, sample)
        recorder.reset()
        warm.reset()
        events = options.planned_events()
        duration = options.planned_duration()
        label = self.ours_name if which == "ours" else self.baseline_name
        started = perf_counter()
        deadline = started + duration if duration is not None else float("inf")
        async with ticking(progress, f"{which}: {label}", recorder, events=events,
                           seconds=duration):  # fmt: skip
            while (events is None or recorder.sent < events) and perf_counter() < deadline:
                recorder.sent += 1
                await sample()
        return summarise(label, recorder, started, expected=recorder.sent)
