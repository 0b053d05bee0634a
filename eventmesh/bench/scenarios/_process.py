"""What the scenarios with process environments share: their code directory, the check that
process isolation can run here, and a side whose latency is taken when the call returns.

A handler in a process environment cannot append to the bench's recorder, so the samples of
these scenarios are taken by the caller when ``mesh.invoke`` returns, on both sides alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import shutil
import tempfile
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from time import perf_counter
from typing import Any

from eventmesh.bench.cpu_meter import CpuMeter
from eventmesh.bench.recorder import Recorder
from eventmesh.bench.scenarios._base import ScenarioUnavailable

__all__ = [
    "BENCH_MODULE",
    "CODE",
    "check_process_extra",
    "code_directory",
    "outside_private_tmp",
    "start_environments",
    "timed_call",
]

BENCH_MODULE = "bench_app"
"""The handler module written into the code directory (``bench_app.lambda_handler``)."""

CODE = """\
import os
import time

IMPORTED = time.monotonic()
BURN = int(os.environ.get("EVENTMESH_BENCH_BURN", "0"))


def lambda_handler(event, context):
    return None


def imported(event, context):
    return {"imported": IMPORTED, "called": time.monotonic()}


def spin(n):
    total = 0
    for i in range(n):
        total += i
    return total


def burn(event, context):
    spin(BURN)
    return None
"""
"""The handlers, as a Lambda user writes them. ``IMPORTED`` is when the module was imported,
on ``CLOCK_MONOTONIC`` (``time.monotonic``, the bench's clock too on Linux)."""

_CANDIDATES = ("/var/tmp", "~/.cache", ".")


def check_process_extra() -> None:
    """ScenarioUnavailable when the ``process`` extra (AWS's runtime client, h11) is missing."""
    missing = [name for name in ("awslambdaric", "h11") if importlib.util.find_spec(name) is None]
    if missing:
        raise ScenarioUnavailable(
            f"--isolation process needs {' and '.join(missing)}, in the 'process' extra: "
            "pip install 'eventmesh[process]' (in a checkout: uv sync --extra process)"
        )


def outside_private_tmp() -> Path:
    """A writable directory that a sandboxed environment's process can see.

    The sandbox's private ``/tmp`` hides the host's from the process (``Sandbox.hides``), so a
    code directory under ``tempfile.gettempdir()`` would be invisible there; the first
    candidate the sandbox this machine gives does not hide is used.
    """
    from eventmesh.process.sandbox import open_sandbox

    root = Path(tempfile.mkdtemp(prefix="eventmesh-bench-probe-"))
    try:
        with open_sandbox("eventmesh-bench-probe", 128, 512, root) as sandbox:
            for candidate in (tempfile.gettempdir(), *_CANDIDATES):
                path = Path(candidate).expanduser().resolve()
                if path.is_dir() and not sandbox.hides(path / "code"):
                    with contextlib.suppress(OSError):
                        probe = Path(tempfile.mkdtemp(dir=path))
                        probe.rmdir()
                        return path
    finally:
        shutil.rmtree(root, ignore_errors=True)
    raise ScenarioUnavailable(
        "no writable directory outside /tmp for the benchmark's code: tried "
        + ", ".join(_CANDIDATES)
    )


@contextlib.contextmanager
def code_directory() -> Iterator[Path]:
    """A code directory holding :data:`CODE` as ``bench_app.py``, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="eventmesh-bench-", dir=outside_private_tmp()))
    try:
        (path / f"{BENCH_MODULE}.py").write_text(CODE)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


Call = Callable[[dict[str, Any]], Coroutine[Any, Any, Any]]


def timed_call(call: Call, recorder: Recorder, meter: CpuMeter | None = None) -> Call:
    """``call``, recording one sample when it returns: from the event's intended send time to
    the return (the handler's own finish is in another process); counted in ``meter``."""
    if meter is not None:
        counted = call

        async def counting(event: dict[str, Any]) -> Any:
            meter.calls += 1
            return await counted(event)

        call = counting
    latency = recorder.latencies.append
    finished = recorder.finishes.append
    clock = perf_counter

    async def timed(event: dict[str, Any]) -> Any:
        result = await call(event)
        now = clock()
        latency(now - event["t"])
        finished(now)
        return result

    return timed


async def start_environments(call: Call, count: int) -> None:
    """``count`` calls at once, before the measurement: as many environments started (the
    samples are of warm invocations, also with ``--warmup 0``)."""
    await asyncio.gather(*(call({"t": perf_counter()}) for _ in range(count)))
