"""``eventmesh run app:mesh --workers N``: N worker processes sharing one mesh's storage.

The supervisor runs no mesh itself. It starts N ``eventmesh run`` processes on the same app
and storage, restarts one that dies (a crash, a SIGKILL, an out-of-memory kill), and on SIGINT
or SIGTERM sends SIGTERM to every worker, so each drains as a single worker does, then exits
0 when every worker did. A second signal is passed on too, so the workers stop at once. The
workers share their work through the storage: several processes need storage they can share
(SQLite on one machine, Redis across machines), never the memory backend.

A worker that keeps dying right after it starts (an import error, a storage it cannot open)
is not restarted forever: after :data:`MAX_QUICK_DEATHS` deaths in a row within
:data:`QUICK_DEATH` seconds of their start, the supervisor stops everything and exits 1.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from eventmesh._errors import ConfigurationError

__all__ = ["MAX_QUICK_DEATHS", "QUICK_DEATH", "supervise"]

logger = logging.getLogger("eventmesh.workers")

QUICK_DEATH = 2.0
"""A worker that dies within this many seconds of its start counts as a quick death."""
MAX_QUICK_DEATHS = 5
RESTART_PAUSE = 1.0
"""Seconds before a dead worker is started again (a pause, not a storm of restarts)."""


@dataclass
class _Worker:
    number: int
    process: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    quick_deaths: int = 0
    exits: list[int] = field(default_factory=list)


def check_workers(workers: int, storage: str) -> None:
    """Several workers share work only through storage several processes can open."""
    if workers < 1:
        raise ConfigurationError(f"--workers must be at least 1, not {workers}")
    if workers > 1 and (storage == "memory" or storage.startswith("memory")):
        raise ConfigurationError(
            f"--workers {workers} needs storage that several processes share (sqlite:///app.db "
            "on one machine, redis://... across machines); memory storage is one process's"
        )


async def supervise(
    app: str,
    workers: int,
    storage: str | None,
    log_level: str,
    options: Sequence[str] = (),
    environment: Mapping[str, str] | None = None,
) -> int:
    """Run ``workers`` worker processes until a signal; returns the exit status. Each runs
    ``eventmesh run app`` with ``options`` (a template's region, say) and this process's
    environment updated with ``environment``. The storage URL goes by the environment
    (``EVENTMESH_STORAGE``), not the command line, which every user of the machine can read:
    it may hold a password (``redis://:secret@host``); so should other secrets (a template's
    parameter values)."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    signals: list[int] = []

    def on_signal(signum: int) -> None:
        signals.append(signum)
        stopping.set()
        for worker in pool:
            if worker.process is not None and worker.process.returncode is None:
                worker.process.send_signal(signal.SIGTERM)

    pool = [_Worker(number) for number in range(1, workers + 1)]
    command = [sys.executable, "-m", "eventmesh.cli", "run", app, "--log-level", log_level]
    command += options
    extra = dict(environment or {})
    if storage is not None:
        extra["EVENTMESH_STORAGE"] = storage
    env = {**os.environ, **extra}
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        failed = False
        for worker in pool:
            await _start(worker, command, env)
        logger.info("supervising %d workers of %s; Ctrl-C to stop", workers, app)
        while not stopping.is_set():
            waits = {
                asyncio.ensure_future(worker.process.wait()): worker
                for worker in pool
                if worker.process is not None
            }
            stop_wait = asyncio.ensure_future(stopping.wait())
            done, _ = await asyncio.wait({*waits, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
            for future in {*waits, stop_wait} - done:
                future.cancel()
            if stopping.is_set():
                break
            for future in done - {stop_wait}:
                worker = waits[future]
                if not await _replace(worker, command, env):
                    failed = True
                    on_signal(signal.SIGTERM)
                    break
        statuses = [await worker.process.wait() for worker in pool if worker.process]
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    if failed:
        return 1
    if any(status != 0 for status in statuses):
        logger.warning("stopped; worker exit statuses %s", statuses)
        return 1
    logger.info("stopped: every worker drained")
    return 0


async def _start(worker: _Worker, command: list[str], env: Mapping[str, str]) -> None:
    env = {**env, "EVENTMESH_WORKER": str(worker.number)}
    worker.process = await asyncio.create_subprocess_exec(*command, env=env)
    worker.started_at = time.monotonic()
    logger.info("worker %d started (pid %d)", worker.number, worker.process.pid)


async def _replace(worker: _Worker, command: list[str], env: Mapping[str, str]) -> bool:
    """A worker ended on its own: start it again, unless it keeps dying at once."""
    assert worker.process is not None
    status = worker.process.returncode
    assert status is not None
    worker.exits.append(status)
    lived = time.monotonic() - worker.started_at
    worker.quick_deaths = worker.quick_deaths + 1 if lived < QUICK_DEATH else 0
    how = f"signal {-status}" if status < 0 else f"status {status}"
    if worker.quick_deaths >= MAX_QUICK_DEATHS:
        logger.error(
            "worker %d (pid %d) ended with %s %d times in a row within %g s of starting; stopping",
            worker.number,
            worker.process.pid,
            how,
            worker.quick_deaths,
            QUICK_DEATH,
        )
        return False
    logger.warning(
        "worker %d (pid %d) ended with %s after %.1f s; starting it again",
        worker.number,
        worker.process.pid,
        how,
        lived,
    )
    await asyncio.sleep(RESTART_PAUSE)
    await _start(worker, command, env)
    return True
