"""``fanout``: topic.publish -> N subscribers (functions or async callables)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
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
from eventmesh.bench.scenarios.invoke import BASELINE_WORKERS
from eventmesh.bench.scenarios.storage import (
    concurrent_calls,
    is_redis,
    is_sqlite,
    raw_fanout_side,
    send_concurrently,
)
from eventmesh.bench.workload import make_handler, sns_envelope_times, sns_times

__all__ = ["RAW_CONSUMERS", "Fanout"]

RAW_CONSUMERS = 16
"""Consumers per subscriber queue of the raw Redis fan-out."""


class Fanout(Scenario):
    name = "fanout"
    summary = "topic.publish -> every subscriber; the rate counts deliveries"
    ours_name = "topic -> N subscribers"
    baseline_name = "asyncio.Queue + workers per subscriber"
    unit = "deliveries/s"
    default_concurrency = 100

    def describe(self, options: BenchOptions) -> dict[str, Any]:
        return {
            **super().describe(options),
            "subscribers": options.subscribers,
            "subscriber": options.subscriber,
        }

    @contextlib.asynccontextmanager
    async def open_side(
        self, options: BenchOptions, recorder: Recorder, which: Which
    ) -> AsyncIterator[Side]:
        functions = options.subscriber == "function"
        times = sns_times if functions else sns_envelope_times
        count = options.subscribers
        handlers = [make_handler(recorder, self.work(options), times) for _ in range(count)]
        redis = is_redis(options.storage)
        if which == "baseline" and redis:
            loads = orjson.loads

            def raw_deliver(handler: Any) -> Callable[[list[bytes]], Awaitable[None]]:
                async def deliver(bodies: list[bytes]) -> None:
                    for body in bodies:
                        text = body.decode()
                        loads(text)  # a subscriber's event is parsed, as the mesh's is
                        if functions:
                            await handler({"Records": [{"Sns": {"Message": text}}]}, None)
                        else:
                            await handler({"Message": text})

                return deliver

            delivers = [raw_deliver(handler) for handler in handlers]
            async with raw_fanout_side(options, delivers, RAW_CONSUMERS) as side:
                side.call, side.settle = concurrent_calls(side.call, recorder)
                yield side
            return
        if which == "baseline":
            dumps = orjson.dumps

            def pool_for(handler: Any) -> QueueWorkers:
                async def deliver(texts: list[str]) -> None:
                    for text in texts:
                        if functions:
                            await handler({"Records": [{"Sns": {"Message": text}}]}, None)
                        else:
                            await handler({"Message": text})

                return QueueWorkers(deliver, workers=BASELINE_WORKERS)

            pools = [pool_for(handler) for handler in handlers]
            puts = [pool.queue.put_nowait for pool in pools]

            async def publish(event: dict[str, Any]) -> None:
                text = dumps(event).decode()
                for put in puts:
                    put(text)

            async with closing_workers(pools):
                yield Side(
                    f"{BASELINE_WORKERS} workers x {count} asyncio.Queues",
                    publish,
                    blocking=False,
                    deliveries=count,
                )
            return
        mesh = bench_mesh(options)
        topic = mesh.topic("bench")
        for index, handler in enumerate(handlers):
            if functions:
                topic.subscribe(
                    mesh.function(name=f"bench-{index}", timeout=FUNCTION_TIMEOUT)(handler)
                )
            else:
                topic.subscribe(handler)
        async with mesh:
            side = Side(
                f"topic -> {count} {options.subscriber}s",
                topic.publish,
                blocking=False,
                deliveries=count,
                settle=mesh.drain,
                stats=mesh_stats(mesh),
            )
            if redis or is_sqlite(options.storage):  # a durable publish is a round trip
                send_concurrently(side, recorder, mesh.drain)
            yield side
