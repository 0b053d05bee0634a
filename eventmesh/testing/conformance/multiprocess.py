"""Multi-process conformance: the place for tests that need several OS processes.

What belongs here (the research notes on distributed backends, section 11): T8 (K processes x
M messages, each deleted exactly once), T10 (SIGKILL a consumer between receive and delete:
nothing lost, its messages back within the declared ``crash_redelivery`` bound), T12 (shard
leases: one live owner per shard, re-owned within TTL after a SIGKILL, a stale owner's
checkpoint refused), T14 (one firer per schedule tick across processes, with SIGKILL and
SIGSTOP). They run only on a backend whose record declares ``multi_process`` and gives a
``url`` that other processes open; the Redis adapter's issue writes them, with
:class:`~eventmesh.testing.conformance.suites.MultiProcessSuite` as their home.

The ``workers`` fixture starts such processes: ``await workers.spawn("pkg.module:function",
*arguments)`` runs ``function(*arguments)`` in a new Python process (its own connections, its
own clock), and every process still running when the test ends is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator

import pytest_asyncio

__all__ = ["Workers", "workers"]

_RUN = (
    "import importlib, sys\n"
    "module, _, name = sys.argv[1].partition(':')\n"
    "getattr(importlib.import_module(module), name)(*sys.argv[2:])\n"
)


class Workers:
    """Worker processes of one test."""

    def __init__(self) -> None:
        self.processes: list[asyncio.subprocess.Process] = []

    async def spawn(self, target: str, *arguments: str) -> asyncio.subprocess.Process:
        """Run ``target`` (``"module:function"``) with ``arguments`` in a new process."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _RUN,
            target,
            *arguments,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        self.processes.append(process)
        return process

    async def kill_all(self) -> None:
        for process in self.processes:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.communicate()


@pytest_asyncio.fixture
async def workers() -> AsyncIterator[Workers]:
    """Spawn worker processes for a multi-process test; all are killed at its end."""
    pool = Workers()
    try:
        yield pool
    finally:
        await pool.kill_all()
