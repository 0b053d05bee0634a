"""Where a Python environment's cold start goes: its stages timed outside the mesh.

A process environment's Init Duration is the mesh preparing the environment (its Runtime API
endpoint, its sandbox), spawning the process through the sandbox's wrapper, the interpreter
starting, ``python -m awslambdaric`` importing AWS's runtime client, the client importing the
handler's module, and the client's first ``GET /next``. The first four are timed here with the
same interpreter and the same sandbox as the mesh's, each as the difference of two medians:

- spawn: ``true`` from the call that spawns it to its exit (fork, exec, exit);
- interpreter: ``python -c`` printing ``time.monotonic()`` as its first statement, from the
  spawn call to that reading, less the spawn;
- sandbox wrapper: the same ``python -c`` started through ``Sandbox.wrap`` (a fresh memory
  cgroup, ``unshare`` and the private ``/tmp``), less the unwrapped one;
- awslambdaric import: ``python -c`` importing ``awslambdaric.__main__`` (what ``-m
  awslambdaric`` runs) before its reading, less the plain one.

The kinds of command are interleaved, round by round, so a noisy moment spreads over all.
The clocks agree: ``time.monotonic`` is ``CLOCK_MONOTONIC``, one clock for every process.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from time import monotonic
from typing import Any

__all__ = ["measure_stages"]

_READING = "import time; print(time.monotonic())"


async def _spawn_to_exit(argv: Sequence[str]) -> float:
    started = monotonic()
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    await process.wait()
    return monotonic() - started


async def _spawn_to_reading(
    argv: Sequence[str], cwd: Path, env: dict[str, str], attach: Any = None
) -> float:
    """Seconds from the spawn call to the child's reading of the clock."""
    started = monotonic()
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    if attach is not None:
        attach(process.pid)
    out, err = await process.communicate()
    if process.returncode != 0 or not out.strip():
        raise RuntimeError(
            f"{argv[-1]!r} exited {process.returncode}: {err.decode(errors='replace')[-300:]}"
        )
    return float(out.split()[-1]) - started


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000.0, 3)


async def measure_stages(code: Path, rounds: int = 10) -> dict[str, Any]:
    """The stages' medians in milliseconds over ``rounds`` rounds (see the module docstring),
    with ``code`` as the working directory, as an environment's process has it."""
    from eventmesh.process.sandbox import open_sandbox

    true = shutil.which("true") or "/bin/true"
    python = sys.executable
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    plain = [python, "-c", _READING]
    runtime = [python, "-c", "import awslambdaric.__main__; " + _READING]
    samples: dict[str, list[float]] = {"spawn": [], "python": [], "wrapped": [], "runtime": []}
    root = Path(tempfile.mkdtemp(prefix="eventmesh-bench-stages-"))
    try:
        with open_sandbox("eventmesh-bench-stages", 128, 512, root) as sandbox:
            wrapped_env = {**env, **sandbox.environment()}
            for _ in range(rounds):
                samples["spawn"].append(await _spawn_to_exit([true]))
                samples["python"].append(await _spawn_to_reading(plain, code, env))
                samples["wrapped"].append(
                    await _spawn_to_reading(
                        sandbox.wrap(plain), code, wrapped_env, attach=sandbox.attach
                    )
                )
                samples["runtime"].append(await _spawn_to_reading(runtime, code, env))
            mechanisms = str(sandbox.mechanisms)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    spawn, started = _median_ms(samples["spawn"]), _median_ms(samples["python"])
    return {
        "rounds": rounds,
        "sandbox": mechanisms,
        "spawn_ms": spawn,
        "interpreter_ms": round(started - spawn, 3),
        "sandbox_wrapper_ms": round(_median_ms(samples["wrapped"]) - started, 3),
        "awslambdaric_import_ms": round(_median_ms(samples["runtime"]) - started, 3),
    }
