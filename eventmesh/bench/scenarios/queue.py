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
)
from eventmesh.bench.workload import make_handler, sqs_times

__all__ = ["DEFAULT_BATCH", "POLLERS", "QueueScenario"]

DEFAULT_BATCH = 10
POLLERS = 5
"""The baseline's workers: as many as the pollers a queue mapping starts with (Lambda's)."""


class QueueScenario(Scenario):
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
        if which == "baseline":
            dumps = orjson.dumps

            async def deliver(bodies: list[bytes]) -> None:
                await handler({"Records": [{"body": body.decode()} for body in bodies]}, None)

            pool = QueueWorkers(deliver, workers=POLLERS, batch=batch)
            put = pool.queue.put_nowait

            async def send(event: dict[str, Any]) -> None:
                put(dumps(event))

            async with closing_workers([pool]):
                yield Side(self.baseline_name, send, blocking=False)
            return
        mesh = bench_mesh(options)
        mesh.function(name="bench", timeout=FUNCTION_TIMEOUT)(handler)
        queue = mesh.queue("bench", visibility_timeout=900)
        queue.subscribe("bench", batch_size=batch)
        async with mesh:
            yield Side(
                self.ours_name,
                queue.send,
                blocking=False,
                settle=mesh.drain,
                stats=mesh_stats(mesh),
            )
