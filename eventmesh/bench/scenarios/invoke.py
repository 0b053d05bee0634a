"""``invoke`` (warm RequestResponse) and ``invoke-event`` (Event, until handled)."""

from __future__ import annotations

import contextlib
import functools
import gc
from collections.abc import AsyncIterator
from time import perf_counter
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
from eventmesh.bench.scenarios.storage import (
    concurrent_calls,
    is_redis,
    is_sqlite,
    raw_queue_side,
    raw_sqlite_queue_side,
    send_concurrently,
)
from eventmesh.bench.workload import event_factory, make_handler

__all__ = ["BASELINE_WORKERS", "Invoke", "InvokeEvent"]

BASELINE_WORKERS = 64
"""Reusable workers of the hand-written asynchronous baselines (baselines.md's figure)."""


UNRECORDED_NAME = "bare await loop, nothing recorded"


async def _nothing(event: Any, context: Any = None, /) -> None:
    return None


class Invoke(Scenario):
    """Warm RequestResponse invocations, against two floors.

    The baseline awaits the very handler eventmesh calls, which records each event's latency
    (a clock reading and two appends): that cost, paid alike by both sides, flatters the
    ratio. The ``unrecorded`` reference is the floor without it: a loop awaiting a handler
    that does nothing, on one event, timed as a whole (reported as ``unrecorded`` in the JSON,
    with eventmesh's ratio to it).
    """

    name = "invoke"
    summary = "warm RequestResponse invocations of one function"
    ours_name = "mesh.invoke (RequestResponse, warm)"
    baseline_name = "bare await handler(event, ctx)"
    default_concurrency = 1

    async def references(self, options: BenchOptions, events: int) -> dict[str, dict[str, Any]]:
        if self.work(options).kind != "noop":
            return {}  # a handler with work of its own: the recorded baseline says it all
        event = event_factory(options.payload_size)(0.0)
        nothing = _nothing
        gc.collect()
        started = perf_counter()
        for _ in range(events):
            await nothing(event, None)
        elapsed = max(perf_counter() - started, 1e-9)
        return {"unrecorded": {"name": UNRECORDED_NAME, "throughput": events / elapsed}}

    @contextlib.asynccontextmanager
    async def open_side(
        self, options: BenchOptions, recorder: Recorder, which: Which
    ) -> AsyncIterator[Side]:
        handler = make_handler(recorder, self.work(options))
        # Both sides' calls are C-level callables (the handler itself, whose context
        # defaults to None; a partial of mesh.invoke), not a lambda each: a Python frame per
        # call that is harness, not what either side is measured for.
        if which == "baseline":
            yield Side(self.baseline_name, handler, blocking=True)
            return
        mesh = bench_mesh(options)
        mesh.function(name="bench", timeout=FUNCTION_TIMEOUT)(handler)
        async with mesh:
            yield Side(
                self.ours_name,
                functools.partial(mesh.invoke, "bench"),
                blocking=True,
                stats=mesh_stats(mesh),
            )


class InvokeEvent(Scenario):
    name = "invoke-event"
    summary = "Event invocations, from the call to the handler's finish"
    ours_name = "mesh.invoke (Event)"
    baseline_name = f"asyncio.Queue + {BASELINE_WORKERS} workers"

    @contextlib.asynccontextmanager
    async def open_side(
        self, options: BenchOptions, recorder: Recorder, which: Which
    ) -> AsyncIterator[Side]:
        handler = make_handler(recorder, self.work(options))
        redis = is_redis(options.storage)
        loads, dumps = orjson.loads, orjson.dumps

        async def deliver(items: list[Any]) -> None:
            for body in items:
                await handler(loads(body), None)

        if which == "baseline" and redis:
            # Lambda's event queue takes and deletes events one by one: so does the raw loop.
            async with raw_queue_side(options, deliver, 1, BASELINE_WORKERS) as side:
                side.call, side.settle = concurrent_calls(side.call, recorder)
                side.name = f"raw redis-py: ZSET + hash + Lua, {BASELINE_WORKERS} consumers, 1 by 1"
                yield side
            return
        sqlite = is_sqlite(options.storage)
        if which == "baseline" and sqlite:
            async with raw_sqlite_queue_side(options, deliver, 1, BASELINE_WORKERS) as side:
                side.call, side.settle = concurrent_calls(side.call, recorder)
                yield side
            return
        if which == "baseline":
            pool = QueueWorkers(deliver, workers=BASELINE_WORKERS)
            put = pool.queue.put_nowait

            async def send(event: dict[str, Any]) -> None:
                put(dumps(event))  # a copy, as the mesh's event is the handler's own

            async with closing_workers([pool]):
                yield Side(self.baseline_name, send, blocking=False)
            return
        mesh = bench_mesh(options)
        mesh.function(name="bench", timeout=FUNCTION_TIMEOUT)(handler)
        async with mesh:
            invoke = mesh.invoke
            side = Side(
                self.ours_name,
                lambda event: invoke("bench", event, "Event"),
                blocking=False,
                settle=mesh.drain,
                stats=mesh_stats(mesh),
            )
            if redis or sqlite:  # a durable send is a round trip (a commit on SQLite)
                send_concurrently(side, recorder, mesh.drain)
            yield side
