"""``queue``: queue -> event source mapping (batches) -> function."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson

from eventmesh.bench.options import BenchOptions
from eventmesh.bench.recorder import Recorder
from eventmesh.bench.runner import Side
from eventmesh.bench.scenarios._base import (
    FUNCTION_TIMEOUT,
    QueueWorkers,
    Scenario,
    Which,
    bench_mesh,
    closing_workers,
    mesh_stats,
    send_all,
)
from eventmesh.bench.scenarios.storage import (
    concurrent_calls,
    is_redis,
    is_sqlite,
    raw_queue_side,
    raw_sqlite_queue_side,
    send_concurrently,
    storage_memory,
)
from eventmesh.bench.workload import make_handler, sqs_times

__all__ = ["DEFAULT_BATCH", "POLLERS", "QueueScenario"]

DEFAULT_BATCH = 10
POLLERS = 5
"""The baseline's workers: as many as the pollers a queue mapping starts with (Lambda's)."""


class QueueScenario(Scenario):
    supports_backlog = True
    name = "queue"
    summary = "queue.send -> queue mapping (batches) -> function"
    ours_name = "queue -> mapping -> function"
    baseline_name = f"asyncio.Queue + {POLLERS} workers, batches"

    def batch_size(self, options: BenchOptions) -> int:
        return options.batch_size or DEFAULT_BATCH

    def describe(self, options: BenchOptions) -> dict[str, Any]:
        return {**super().describe(options), "batch_size": self.batch_size(options)}

    @contextlib.asynccontextmanager
    async def open_side(
        self, options: BenchOptions, recorder: Recorder, which: Which
    ) -> AsyncIterator[Side]:
        handler = make_handler(recorder, self.work(options), sqs_times)
        batch = self.batch_size(options)
        backlog = options.backlog is not None
        dumps = orjson.dumps

        async def deliver(bodies: list[bytes]) -> None:
            await handler({"Records": [{"body": body.decode()} for body in bodies]}, None)

        if which == "baseline" and is_redis(options.storage):
            async with raw_queue_side(options, deliver, batch, POLLERS) as side:
                yield side
            return
        sqlite = is_sqlite(options.storage)
        if which == "baseline" and sqlite:
            async with raw_sqlite_queue_side(options, deliver, batch, POLLERS) as side:
                side.call, side.settle = concurrent_calls(side.call, recorder)
                yield side
            return
        if which == "baseline":
            pool = QueueWorkers(deliver, workers=POLLERS, batch=batch, start=not backlog)
            put = pool.queue.put_nowait

            async def send(event: dict[str, Any]) -> None:
                put(dumps(event))

            async def fill(events: list[dict[str, Any]]) -> None:
                for event in events:
                    put(dumps(event))

            async def start() -> None:
                pool.start()

            async with closing_workers([pool]):
                yield Side(self.baseline_name, send, blocking=False, fill=fill, start=start)
            return
        mesh = bench_mesh(options)
        mesh.function(name="bench", timeout=FUNCTION_TIMEOUT)(handler)
        queue = mesh.queue("bench", visibility_timeout=900)
        mapping = queue.subscribe("bench", batch_size=batch, enabled=not backlog)
        async with mesh:
            await queue.stats()  # connected, scripts loaded: memory counts messages only
            async with storage_memory(options) as memory:
                filled = 0

                async def fill_mesh(events: list[dict[str, Any]]) -> None:
                    nonlocal filled
                    await send_all(queue.send, events)
                    filled += len(events)

                side = Side(
                    self.ours_name,
                    queue.send,
                    blocking=False,
                    settle=mesh.drain,
                    stats=mesh_stats(mesh),
                    fill=fill_mesh,
                )

                async def start_mesh() -> None:
                    await memory.per_pending(side.extra, filled)
                    mapping.enabled = True
                    await mapping.start()

                side.start = start_mesh
                if sqlite:
                    # A durable send returns after its commit: awaited one by one, every
                    # message would be a transaction of its own (an fsync with FULL).
                    # Concurrent sends are what group commit is for; the raw loop's too.
                    send_concurrently(side, recorder, mesh.drain)
                yield side
