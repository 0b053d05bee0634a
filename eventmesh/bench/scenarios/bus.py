"""``bus``: put_events -> the one matching rule of many -> function.

The bus (issue #4) may not be in this version of eventmesh: the scenario then says so
instead of running. It follows the API the issue describes: ``mesh.bus(name)``,
``bus.rule(name, pattern=..., targets=[...])``, ``bus.put_events(entries)``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson

from eventmesh import Mesh
from eventmesh.bench.options import BenchOptions
from eventmesh.bench.recorder import Recorder
from eventmesh.bench.runner import Side
from eventmesh.bench.scenarios._base import (
    FUNCTION_TIMEOUT,
    QueueWorkers,
    Scenario,
    ScenarioUnavailable,
    Which,
    bench_mesh,
    closing_workers,
    mesh_stats,
)
from eventmesh.bench.scenarios.invoke import BASELINE_WORKERS
from eventmesh.bench.workload import eventbridge_times, make_handler

__all__ = ["Bus", "bus_available"]


def bus_available() -> bool:
    return callable(getattr(Mesh, "bus", None))


def _source(index: int) -> str:
    return f"bench.source-{index}"


def _predicate(source: str) -> Callable[[dict[str, Any]], bool]:
    """What a hand-written router tests: the event's source and detail-type."""

    def matches(event: dict[str, Any]) -> bool:
        return bool(event["source"] == source and event["detail-type"] == "bench")

    return matches


class Bus(Scenario):
    name = "bus"
    summary = "bus.put_events -> one matching rule of many -> function (Event)"
    ours_name = "put_events -> rule -> function"
    baseline_name = "list-of-predicates router + workers"

    def check(self, options: BenchOptions) -> None:
        if not bus_available():
            raise ScenarioUnavailable(
                "the bus scenario needs mesh.bus (the event bus of issue #4), which this "
                "version of eventmesh does not have yet"
            )

    def describe(self, options: BenchOptions) -> dict[str, Any]:
        return {**super().describe(options), "rules": options.rules}

    @contextlib.asynccontextmanager
    async def open_side(
        self, options: BenchOptions, recorder: Recorder, which: Which
    ) -> AsyncIterator[Side]:
        self.check(options)
        handler = make_handler(recorder, self.work(options), eventbridge_times)
        matching = _source(options.rules - 1)  # the last rule matches: every one is tried
        if which == "baseline":
            dumps, loads = orjson.dumps, orjson.loads

            async def deliver(bodies: list[bytes]) -> None:
                for body in bodies:
                    await handler(loads(body), None)

            pool = QueueWorkers(deliver, workers=BASELINE_WORKERS)
            put = pool.queue.put_nowait
            routes = [(_predicate(_source(k)), put) for k in range(options.rules)]

            async def put_event(event: dict[str, Any]) -> None:
                envelope = {"source": matching, "detail-type": "bench", "detail": event}
                body = dumps(envelope)
                for matches, target in routes:
                    if matches(envelope):
                        target(body)

            async with closing_workers([pool]):
                yield Side(self.baseline_name, put_event, blocking=False)
            return
        mesh = bench_mesh(options)
        function = mesh.function(name="bench", timeout=FUNCTION_TIMEOUT)(handler)
        bus: Any = getattr(mesh, "bus")("bench")  # noqa: B009 - not in every version
        for index in range(options.rules):
            bus.rule(
                f"rule-{index}",
                pattern={"source": [_source(index)], "detail-type": ["bench"]},
                targets=[function],
            )
        put_events = bus.put_events
        async with mesh:
            yield Side(
                self.ours_name,
                lambda event: put_events(
                    [{"Source": matching, "DetailType": "bench", "Detail": event}]
                ),
                blocking=False,
                settle=mesh.drain,
                stats=mesh_stats(mesh),
            )
