"""``stream``: put_record -> stream mapping (shards x parallelization) -> function."""

from __future__ import annotations

import base64
import contextlib
import itertools
import zlib
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
from eventmesh.bench.scenarios.storage import is_redis, raw_stream_side, storage_memory
from eventmesh.bench.workload import kinesis_times, make_handler

__all__ = ["DEFAULT_BATCH", "PARTITION_KEYS", "StreamScenario"]

DEFAULT_BATCH = 100  # Kinesis mappings' default
PARTITION_KEYS = 256


class StreamScenario(Scenario):
    supports_backlog = True
    name = "stream"
    summary = "stream.put_record -> stream mapping (per shard, in order) -> function"
    ours_name = "stream -> mapping -> function"
    baseline_name = "per-shard asyncio.Queue loop"

    def batch_size(self, options: BenchOptions) -> int:
        return options.batch_size or DEFAULT_BATCH

    def describe(self, options: BenchOptions) -> dict[str, Any]:
        return {
            **super().describe(options),
            "batch_size": self.batch_size(options),
            "shards": options.shards,
            "parallelization": options.parallelization,
        }

    @contextlib.asynccontextmanager
    async def open_side(
        self, options: BenchOptions, recorder: Recorder, which: Which
    ) -> AsyncIterator[Side]:
        handler = make_handler(recorder, self.work(options), kinesis_times)
        batch = self.batch_size(options)
        keys = [f"key-{index}" for index in range(PARTITION_KEYS)]
        backlog = options.backlog is not None
        if which == "baseline" and is_redis(options.storage):
            async with raw_stream_side(options, handler, batch, keys) as side:
                yield side
            return
        if which == "baseline":
            dumps, b64encode = orjson.dumps, base64.b64encode

            async def deliver(items: list[tuple[bytes, str]]) -> None:
                records = [
                    {"kinesis": {"data": b64encode(data).decode(), "partitionKey": key}}
                    for data, key in items
                ]
                await handler({"Records": records}, None)

            # One lane (a queue and its one worker) per shard and parallelization slot; a
            # key always goes to the same lane, so each key's records stay in order.
            lanes = [
                QueueWorkers(deliver, workers=1, batch=batch, start=not backlog)
                for _ in range(options.shards * options.parallelization)
            ]
            routes = itertools.cycle(
                [
                    (key, lanes[zlib.crc32(key.encode()) % len(lanes)].queue.put_nowait)
                    for key in keys
                ]
            )

            async def send(event: dict[str, Any]) -> None:
                key, put = next(routes)
                put((dumps(event), key))

            async def fill(events: list[dict[str, Any]]) -> None:
                for event in events:
                    await send(event)

            async def start() -> None:
                for lane in lanes:
                    lane.start()

            async with closing_workers(lanes):
                yield Side(self.baseline_name, send, blocking=False, fill=fill, start=start)
            return
        mesh = bench_mesh(options)
        mesh.function(name="bench", timeout=FUNCTION_TIMEOUT)(handler)
        stream = mesh.stream("bench", shards=options.shards)
        mapping = stream.subscribe(
            "bench",
            batch_size=batch,
            parallelization_factor=options.parallelization,
            starting_position="TRIM_HORIZON",
            enabled=not backlog,
        )
        cycle = itertools.cycle(keys)
        put_record, put_records = stream.put_record, stream.put_records
        async with mesh, storage_memory(options) as memory:
            filled = 0

            async def fill(events: list[dict[str, Any]]) -> None:
                nonlocal filled
                await put_records(
                    [{"data": event, "partition_key": next(cycle)} for event in events]
                )
                filled += len(events)

            side = Side(
                self.ours_name,
                lambda event: put_record(event, next(cycle)),
                blocking=False,
                settle=mesh.drain,
                stats=mesh_stats(mesh),
                fill=fill,
            )

            async def start() -> None:
                await memory.per_pending(side.extra, filled)
                mapping.enabled = True
                await mapping.start()

            side.start = start
            yield side
