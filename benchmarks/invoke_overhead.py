"""What an invocation costs beyond awaiting the handler, measured in one run.

Three loops over the same no-op handler, each repeated for several rounds (the best round
counts, as the machine is shared and noisy):

* baseline: ``await handler(event, context)``, a new event dict per call;
* ``mesh.invoke(name, event)``: a warm RequestResponse invocation;
* ``mesh.invoke(name, event, invocation_type="Event")`` for N events, then until drained.

Run: ``uv run python benchmarks/invoke_overhead.py [--events N] [--rounds R]``
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from eventmesh import Context, Mesh, Telemetry


async def noop(event: Any, context: Context) -> None:
    return None


async def bare_await(events: int) -> float:
    context = object()
    started = time.perf_counter()
    for i in range(events):
        await noop({"id": i}, context)  # type: ignore[arg-type]
    return events / (time.perf_counter() - started)


async def warm_request_response(mesh: Mesh, events: int) -> float:
    invoke = mesh.invoke
    await invoke("noop", {"id": -1})  # the cold start, outside the measurement
    started = time.perf_counter()
    for i in range(events):
        await invoke("noop", {"id": i})
    return events / (time.perf_counter() - started)


async def event_drained(mesh: Mesh, events: int) -> float:
    invoke = mesh.invoke
    started = time.perf_counter()
    for i in range(events):
        await invoke("noop", {"id": i}, invocation_type="Event")
    await mesh.drain(timeout=600)
    return events / (time.perf_counter() - started)


async def main(events: int, rounds: int) -> dict[str, float]:
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    mesh.function(noop)
    best = {"bare": 0.0, "request_response": 0.0, "event": 0.0}
    async with mesh:
        for _ in range(rounds):
            best["bare"] = max(best["bare"], await bare_await(events))
            best["request_response"] = max(
                best["request_response"], await warm_request_response(mesh, events)
            )
            best["event"] = max(best["event"], await event_drained(mesh, events // 4))
    return best


def report(best: dict[str, float]) -> str:
    bare = best["bare"]
    lines = [
        f"{'case':<34}{'invocations/s':>15}{'us/call':>10}{'vs bare':>10}",
        f"{'bare await handler(event, ctx)':<34}{bare:>15,.0f}{1e6 / bare:>10.2f}{1.0:>10.3f}",
    ]
    for label, key in (
        ("mesh.invoke RequestResponse, warm", "request_response"),
        ("mesh.invoke Event, drained", "event"),
    ):
        rate = best[key]
        lines.append(f"{label:<34}{rate:>15,.0f}{1e6 / rate:>10.2f}{rate / bare:>10.3f}")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    print(report(asyncio.run(main(arguments.events, arguments.rounds))))
