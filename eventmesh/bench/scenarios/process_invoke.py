"""``invoke --isolation process``: warm RequestResponse invocations of a trivial Python
handler in a process execution environment, against the in-process path in the same run.

eventmesh's side declares the function by Lambda's handler string and a code directory the
bench writes (``bench_app.lambda_handler``, a plain ``def`` returning None); each call goes
over the Runtime API to AWS's runtime client in the environment's process and back. The
baseline is the same call on a function in the mesh's process (an ``async def`` returning
None): what process isolation costs per warm invocation is the difference of the medians,
reported as ``process.overhead_p50_ms``. Both sides take a sample when ``mesh.invoke``
returns (the process's handler cannot record in the bench's process).

Each side also reports the CPU time a call costs (warm-up and measured calls), in the bench's
process and in the environment's: on a shared machine the latency grows with others' load,
the CPU per call much less (:mod:`eventmesh.bench.cpu_meter`).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator
from typing import Any

from eventmesh.bench.cpu_meter import CpuMeter
from eventmesh.bench.options import BenchOptions, OptionsError
from eventmesh.bench.recorder import Recorder, SideResult
from eventmesh.bench.runner import Side
from eventmesh.bench.scenarios._base import (
    FUNCTION_TIMEOUT,
    Scenario,
    Which,
    bench_mesh,
    mesh_stats,
)
from eventmesh.bench.scenarios._process import (
    BENCH_MODULE,
    check_process_extra,
    code_directory,
    start_environments,
    timed_call,
)

__all__ = ["OVERHEAD_TARGET_MS", "ProcessInvoke"]

OVERHEAD_TARGET_MS = 0.5
"""Issue 15's target for a warm invocation's overhead in a process environment (p50)."""


async def _trivial(event: Any, context: Any = None, /) -> None:
    return None


class ProcessInvoke(Scenario):
    name = "invoke"
    isolation = "process"
    summary = "warm RequestResponse invocations in a process environment against in-process"
    ours_name = "mesh.invoke, process environment (warm)"
    baseline_name = "mesh.invoke, in-process (warm)"
    default_concurrency = 1

    def __init__(self) -> None:
        self.meters: dict[Which, CpuMeter] = {}

    def check(self, options: BenchOptions) -> None:
        check_process_extra()
        if options.handler is not None and options.handler.kind != "noop":
            raise OptionsError(
                "invoke --isolation process measures a trivial handler's round trip to its "
                "process: drop --handler (cpu-scaling --isolation process measures work)"
            )

    def describe(self, options: BenchOptions) -> dict[str, Any]:
        return {**super().describe(options), "isolation": "process"}

    @contextlib.asynccontextmanager
    async def open_side(
        self, options: BenchOptions, recorder: Recorder, which: Which
    ) -> AsyncIterator[Side]:
        mesh = bench_mesh(options)
        meter = self.meters[which] = CpuMeter()
        with contextlib.ExitStack() as stack:
            if which == "baseline":
                mesh.function(name="bench", timeout=FUNCTION_TIMEOUT)(_trivial)
                name = self.baseline_name
            else:
                mesh.function(
                    name="bench",
                    handler=f"{BENCH_MODULE}.lambda_handler",
                    code=stack.enter_context(code_directory()),
                    timeout=FUNCTION_TIMEOUT,
                )
                name = self.ours_name
            async with mesh:
                call = functools.partial(mesh.invoke, "bench")
                await start_environments(call, self.concurrency(options))
                meter.start()
                yield Side(
                    name,
                    timed_call(call, recorder, meter),
                    blocking=True,
                    stats=mesh_stats(mesh),
                )
                meter.stop()

    def conclude(self, result: dict[str, Any], ours: SideResult, baseline: SideResult) -> None:
        overhead = {
            key: round(getattr(ours.latency, key) - getattr(baseline.latency, key), 4)
            for key in ("p50", "p90", "p99")
        }
        ours_cpu, base_cpu = self.meters["ours"], self.meters["baseline"]
        cpu = {
            "mesh_us": ours_cpu.own_us,
            "environment_us": ours_cpu.children_us,
            "in_process_us": base_cpu.own_us,
        }
        result["process"] = {
            "overhead_ms": overhead,
            "cpu_per_call_us": cpu,
            "overhead_p50_ms": overhead["p50"],
            "target_p50_ms": OVERHEAD_TARGET_MS,
            "within_target": overhead["p50"] < OVERHEAD_TARGET_MS,
        }
        result["summary_lines"] = [
            "process isolation's overhead per warm invocation (process - in-process): "
            + ", ".join(f"{key} {value:.3f} ms" for key, value in overhead.items())
            + f" (target: p50 under {OVERHEAD_TARGET_MS} ms)",
            f"CPU per warm call: process environment {cpu['mesh_us']:.0f} us in the mesh's "
            f"process + {cpu['environment_us']:.0f} us in the environment's; in-process "
            f"{cpu['in_process_us']:.1f} us",
        ]
