"""Test-side helpers of the multi-process tests: worker processes started the way a user
starts them (``eventmesh run MODULE:mesh --storage URL``), their readiness, the ledger.

Each worker's output goes to a file in the test's directory (a pipe nobody reads could fill
and stall the worker), which the test reads for the ``running`` line and shows on failure.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import redis.asyncio as aioredis

__all__ = ["Worker", "Workers", "ledger_key", "read_ledger", "wait_for", "worker_processes"]

HERE = Path(__file__).resolve().parent
READY_WITHIN = 30.0
"""Seconds a worker may take to start (imports on a loaded machine)."""


def ledger_key(storage_url: str, name: str) -> str:
    """A ledger key under the storage URL's prefix, so the test's clean-up deletes it."""
    prefix = parse_qs(urlsplit(storage_url).query)["prefix"][0]
    return f"{{{prefix}:ledger}}:{name}"


async def read_ledger(server: str, key: str) -> list[dict[str, Any]]:
    client = aioredis.Redis.from_url(server)
    try:
        return [orjson.loads(raw) for raw in await client.lrange(key, 0, -1)]
    finally:
        await client.aclose()


async def wait_for(what: str, check: Callable[[], Any], within: float, every: float = 0.05) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy; fail after ``within``."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {within:g} s: {what}")
        await asyncio.sleep(every)


@dataclass
class Worker:
    process: asyncio.subprocess.Process
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        if self.process.returncode is None:
            os.kill(self.pid, signum)


@dataclass
class Workers:
    """The worker processes of one test."""

    directory: Path
    env: dict[str, str]
    started: list[Worker] = field(default_factory=list)

    async def start(self, app: str, storage: str, count: int) -> list[Worker]:
        """``count`` processes of ``eventmesh run app --storage storage``, once each runs."""
        new = await self.launch(app, storage, count)
        await self.ready(*new)
        return new

    async def launch(self, app: str, storage: str, count: int) -> list[Worker]:
        """``count`` processes of ``eventmesh run app --storage storage``, just started."""
        new = []
        for _ in range(count):
            log = self.directory / f"worker-{len(self.started)}.log"
            with log.open("wb") as out:
                process = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "eventmesh.cli", "run", app, "--storage", storage,
                    stdout=out, stderr=asyncio.subprocess.STDOUT, env=self.env,
                )  # fmt: skip
            worker = Worker(process, log)
            self.started.append(worker)
            new.append(worker)
        return new

    async def ready(self, *workers: Worker) -> None:
        """Once each of ``workers`` runs its mesh (its ``running`` line is out)."""
        for worker in workers:
            await wait_for(
                f"worker pid {worker.pid} running:\n{worker.output()}",
                lambda w=worker: "running <Mesh" in w.output() or w.process.returncode,
                READY_WITHIN,
            )
            assert worker.process.returncode is None, worker.output()

    def outputs(self) -> str:
        return "\n".join(f"--- pid {w.pid}:\n{w.output()}" for w in self.started)

    def __iter__(self) -> Iterator[Worker]:
        return iter(self.started)

    async def stop(self) -> None:
        """SIGKILL whatever still runs (after SIGCONT, in case it was stopped) and reap it."""
        for worker in self.started:
            if worker.process.returncode is None:
                worker.signal(signal.SIGCONT)
                worker.signal(signal.SIGKILL)
            await worker.process.wait()


@asynccontextmanager
async def worker_processes(
    directory: Path, ledger_url: str, key: str, extra_env: Mapping[str, str] | None = None
) -> AsyncIterator[Workers]:
    """Workers whose environment names the ledger (and has ``extra_env``); all of them killed
    and reaped at the end."""
    env = {
        **os.environ,
        **(extra_env or {}),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), *sys.path])),
        "LEDGER_URL": ledger_url,
        "LEDGER_KEY": key,
    }
    workers = Workers(directory, env)
    try:
        yield workers
    finally:
        await workers.stop()
