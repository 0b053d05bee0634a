"""The closed loop's harness records every call's latency, from the time the call was sent.

A scripted clock (each reading one second after the last) stands in for ``perf_counter`` in
the runner and in the benchmark handler, so every sample is known in advance.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterator
from typing import Any

import pytest

from eventmesh import Mesh
from eventmesh.bench import runner, workload
from eventmesh.bench.options import Work
from eventmesh.bench.recorder import Recorder
from eventmesh.bench.runner import Plan, Side, produce
from eventmesh.bench.workload import event_factory, make_handler
from eventmesh.telemetry import Telemetry


@pytest.fixture
def ticking(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """perf_counter returns 0.0, 1.0, 2.0, ... (one clock for the runner and the handler)."""
    readings = iter(range(1_000_000))

    def clock() -> float:
        return float(next(readings))

    monkeypatch.setattr(runner, "perf_counter", clock)
    monkeypatch.setattr(workload, "perf_counter", clock)
    yield


def side_of(handler: Any) -> Side:
    return Side("handler", handler, blocking=True)


async def test_every_call_of_one_caller_is_recorded_from_its_send_time(ticking: None) -> None:
    recorder = Recorder()
    handler = make_handler(recorder, Work())
    production = await produce(side_of(handler), Plan(3, None, None, 1, event_factory(0)), recorder)
    # Readings: 0 start; per call, 1 send and 2 finish, 3 and 4, 5 and 6; 7 the end.
    assert list(recorder.latencies) == [1.0, 1.0, 1.0]
    assert list(recorder.finishes) == [2.0, 4.0, 6.0]
    assert (production.started, production.ended, production.sent) == (0.0, 7.0, 3)
    assert recorder.sent == 3


async def test_a_duration_stops_at_the_first_send_time_past_it(ticking: None) -> None:
    recorder = Recorder()
    handler = make_handler(recorder, Work())
    production = await produce(
        side_of(handler), Plan(None, 4.5, None, 1, event_factory(0)), recorder
    )
    # Sent at 1 and 3 (finished at 2 and 4); the reading 5 is past 0 + 4.5: no third call.
    assert list(recorder.latencies) == [1.0, 1.0]
    assert list(recorder.finishes) == [2.0, 4.0]
    assert production.sent == 2 and recorder.sent == 2


async def test_callers_share_the_event_count_and_each_call_is_recorded(ticking: None) -> None:
    recorder = Recorder()
    latency, finished = recorder.latencies.append, recorder.finishes.append

    async def waits(event: Any, context: Any = None, /) -> None:
        await asyncio.sleep(0)  # the other caller sends meanwhile
        now = workload.perf_counter()
        latency(now - event["t"])
        finished(now)

    production = await produce(side_of(waits), Plan(5, None, None, 2, event_factory(0)), recorder)
    # Two callers interleave: A sends at 1, B at 2; A finishes at 3 and sends at 4, B
    # finishes at 5 and sends at 6; A 7 and 8, B 9 (no ticket left), A 10.
    assert list(recorder.finishes) == [3.0, 5.0, 7.0, 9.0, 10.0]
    assert list(recorder.latencies) == [2.0, 3.0, 3.0, 3.0, 2.0]
    assert production.sent == 5 and recorder.sent == 5


async def test_a_call_that_raises_is_counted_and_the_loop_goes_on(ticking: None) -> None:
    recorder = Recorder()
    handler = make_handler(recorder, Work())
    calls = 0

    async def every_other_fails(event: dict[str, Any]) -> None:
        nonlocal calls
        calls += 1
        if calls % 2 == 0:
            raise RuntimeError("refused")
        await handler(event)

    production = await produce(
        side_of(every_other_fails), Plan(3, None, None, 1, event_factory(0)), recorder
    )
    # Sent at 1 (finished 2), 3 (raised), 4 (finished 5).
    assert list(recorder.latencies) == [1.0, 1.0]
    assert list(recorder.finishes) == [2.0, 5.0]
    assert production.sent == 3 and recorder.errors == 1
    assert recorder.failures == ["RuntimeError: refused"]


async def test_the_invoke_scenarios_mesh_side_records_every_call(ticking: None) -> None:
    """The mesh's call (a partial of mesh.invoke) through the same loop: every call's
    sample is its handler's, counted from its send time; the mesh reads its own clock."""
    recorder = Recorder()
    handler = make_handler(recorder, Work())
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    mesh.function(name="bench")(handler)
    async with mesh:
        side = Side("mesh", functools.partial(mesh.invoke, "bench"), blocking=True)
        production = await produce(side, Plan(4, None, None, 1, event_factory(8)), recorder)
    assert list(recorder.latencies) == [1.0, 1.0, 1.0, 1.0]
    assert list(recorder.finishes) == [2.0, 4.0, 6.0, 8.0]
    assert production.sent == 4
