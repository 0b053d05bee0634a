"""``cold-start --isolation process``: the Init Duration of a Python process environment.

Each sample changes ``$LATEST``'s configuration (an environment variable), so the next
invocation has no environment and starts one: the mesh prepares it, spawns ``python -m
awslambdaric`` through the sandbox, the runtime client imports the handler's module and asks
for its first invocation. The sample is the Init Duration the invocation reports, as Lambda's
REPORT line does; the previous version's process is left 50 ms to end, outside the timing,
so its teardown does not overlap the next start. The baseline is the in-process cold start
(a new ``$LATEST`` of an ``async def``, no init hook), in the same run.

The handler returns when its module was imported (``CLOCK_MONOTONIC``), which splits each
Init Duration in two: from the call to the handler's module imported, and from there to the
runtime's first ``/next``. The first part is split further by
:func:`eventmesh.bench.process_stages.measure_stages`, timed after the samples.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import statistics
from time import monotonic, perf_counter
from typing import Any

from eventmesh.bench.options import BenchOptions, OptionsError
from eventmesh.bench.process_stages import measure_stages
from eventmesh.bench.progress import ProgressHook, ticking
from eventmesh.bench.recorder import Recorder, SideResult, summarise
from eventmesh.bench.scenarios._base import (
    FUNCTION_TIMEOUT,
    Scenario,
    Which,
    bench_mesh,
    mesh_stats,
)
from eventmesh.bench.scenarios._process import BENCH_MODULE, check_process_extra, code_directory

__all__ = ["COLD_START_TARGET_MS", "SETTLE", "ProcessColdStart"]

COLD_START_TARGET_MS = 300.0
"""Issue 15's target for a Python environment's cold start with awslambdaric."""
SETTLE = 0.05
"""Seconds left between samples for the previous environment's process to end."""
STAGE_ROUNDS = 10


async def _trivial(event: Any, context: Any = None, /) -> None:
    return None


def _spread(values: list[float]) -> dict[str, float]:
    if not values:
        return {"min": 0.0, "median": 0.0, "max": 0.0}
    return {
        "min": round(min(values), 3),
        "median": round(statistics.median(values), 3),
        "max": round(max(values), 3),
    }


class ProcessColdStart(Scenario):
    name = "cold-start"
    isolation = "process"
    summary = "Init Duration of a Python process environment against an in-process cold start"
    ours_name = "Init Duration, process environment"
    baseline_name = "Init Duration, in-process"
    unit = "cold starts/s"
    default_concurrency = 1
    supports_open_loop = False

    def check(self, options: BenchOptions) -> None:
        check_process_extra()
        if options.rate is not None:
            raise OptionsError("cold-start runs closed loop, one cold start at a time: no --rate")
        if options.handler is not None and options.handler.kind != "noop":
            raise OptionsError(
                "cold-start --isolation process times an empty handler: no --handler"
            )

    def describe(self, options: BenchOptions) -> dict[str, Any]:
        return {"concurrency": 1, "handler": "noop", "isolation": "process"}

    async def run(
        self,
        options: BenchOptions,
        which: Which,
        recorder: Recorder,
        progress: ProgressHook,
    ) -> SideResult:
        gc.collect()
        with contextlib.ExitStack() as stack:
            return await self._run(options, which, recorder, progress, stack)

    async def _run(
        self,
        options: BenchOptions,
        which: Which,
        recorder: Recorder,
        progress: ProgressHook,
        stack: contextlib.ExitStack,
    ) -> SideResult:
        mesh = bench_mesh(options)
        stats = mesh_stats(mesh)
        cold_ms: list[float] = []
        to_import_ms: list[float] = []
        to_ready_ms: list[float] = []
        if which == "baseline":
            function = mesh.function(name="bench", timeout=FUNCTION_TIMEOUT)(_trivial)

            def renew(sample: int) -> None:
                function.update_code(_trivial)
        else:
            code = stack.enter_context(code_directory())
            function = mesh.function(
                name="bench",
                handler=f"{BENCH_MODULE}.imported",
                code=code,
                timeout=FUNCTION_TIMEOUT,
            )

            def renew(sample: int) -> None:
                function.update_configuration(environment={"EVENTMESH_BENCH_SAMPLE": str(sample)})

        invoke = mesh.invoke
        count = 0

        async def sample(measured: bool) -> None:
            nonlocal count
            count += 1
            renew(count)  # a new $LATEST: no environment yet
            await invoke("bench", None, "DryRun")  # resolves it, outside the timing
            if which == "ours":
                await asyncio.sleep(SETTLE)
            started = monotonic()
            result = await invoke("bench", {})
            ended = monotonic()
            if not measured:
                return
            init_ms = result.init_duration_ms or 0.0
            recorder.record(init_ms / 1000.0, perf_counter())
            cold_ms.append((ended - started) * 1000.0)
            times = result.payload
            if isinstance(times, dict) and "imported" in times:
                to_import_ms.append((times["imported"] - started) * 1000.0)
                to_ready_ms.append((started + init_ms / 1000.0 - times["imported"]) * 1000.0)

        async with mesh:
            until = perf_counter() + options.warmup
            while perf_counter() < until:
                await sample(measured=False)
            recorder.reset()
            before = stats()
            events = options.planned_events()
            duration = options.planned_duration()
            label = self.ours_name if which == "ours" else self.baseline_name
            started = perf_counter()
            deadline = started + duration if duration is not None else float("inf")
            async with ticking(progress, f"{which}: {label}", recorder, events=events,
                               seconds=duration):  # fmt: skip
                while (events is None or recorder.sent < events) and (perf_counter() < deadline):
                    recorder.sent += 1
                    await sample(measured=True)
            after = stats()
        result = summarise(label, recorder, started, expected=recorder.sent)
        result.errors += after[0] - before[0]
        result.cold_starts = after[1] - before[1]
        result.extra = {
            "init_duration_ms": _spread([value * 1000.0 for value in recorder.latencies]),
            "cold_invocation_ms": _spread(cold_ms),
        }
        if which == "ours":
            result.extra["call_to_handler_imported_ms"] = _spread(to_import_ms)
            result.extra["handler_imported_to_first_next_ms"] = _spread(to_ready_ms)
            result.extra["stages"] = await measure_stages(code, STAGE_ROUNDS)
        return result

    def conclude(self, result: dict[str, Any], ours: SideResult, baseline: SideResult) -> None:
        init = ours.extra["init_duration_ms"]
        stages = ours.extra["stages"]
        assert isinstance(init, dict) and isinstance(stages, dict)
        result["process"] = {
            "init_duration_ms": init,
            "cold_invocation_ms": ours.extra["cold_invocation_ms"],
            "call_to_handler_imported_ms": ours.extra["call_to_handler_imported_ms"],
            "handler_imported_to_first_next_ms": ours.extra["handler_imported_to_first_next_ms"],
            "stages": stages,
            "in_process_init_duration_ms": baseline.extra["init_duration_ms"],
            "target_ms": COLD_START_TARGET_MS,
            "within_target": init["median"] < COLD_START_TARGET_MS,
        }
        imported = ours.extra["call_to_handler_imported_ms"]
        ready = ours.extra["handler_imported_to_first_next_ms"]
        assert isinstance(imported, dict) and isinstance(ready, dict)
        result["summary_lines"] = [
            f"Init Duration of a process environment over {ours.handled} cold starts: "
            f"min {init['min']:.1f} / median {init['median']:.1f} / max {init['max']:.1f} ms "
            f"(target: under {COLD_START_TARGET_MS:g} ms)",
            f"  call to the handler's module imported: median {imported['median']:.1f} ms; "
            f"from there to the first /next: median {ready['median']:.1f} ms",
            f"  timed apart (medians of {stages['rounds']}): spawn {stages['spawn_ms']:.1f} ms, "
            f"interpreter start {stages['interpreter_ms']:.1f} ms, sandbox wrapper "
            f"{stages['sandbox_wrapper_ms']:.1f} ms, awslambdaric import "
            f"{stages['awslambdaric_import_ms']:.1f} ms",
            f"  (the stages' sandbox, the strongest this machine allows: {stages['sandbox']})",
        ]
