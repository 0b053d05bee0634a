"""Memory held by pending work: RSS per 100,000 pending items for each kind of resource.

Each case fills one resource while no consumer makes progress (handlers and subscribers wait
on a gate that never opens; queues and streams have no reader), in a fresh subprocess, and
reports the growth of the resident set size per 100,000 items accepted. With a ``max_pending``
limit (eventmesh with backpressure) the producer uses ``timeout=0`` and stops at the first
``BackpressureError``, so the figures also show where the limit caps memory.

Cases: ``queue`` (messages sent, never received), ``event`` (Event invocations of a function
whose one running invocation never finishes), ``topic`` (publishes to 5 callable subscribers
that never finish: 5 deliveries each), ``bus`` (events matched by one rule with one callable
target that never finishes), ``stream`` (records on one shard, no mapping), and on SQLite:
``sqlite-queue`` and ``sqlite-bus``.

Run: ``uv run python benchmarks/pending_memory.py [--count N] [--cases queue,bus]
[--eventmesh PATH]`` (``--eventmesh`` runs another checkout's code, e.g. an older commit).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

CASES = ("queue", "event", "topic", "bus", "stream", "sqlite-queue", "sqlite-bus")
PAYLOAD = {"id": 12345, "item": "book", "quantity": 2}


def rss_bytes() -> int:
    """The resident set size now (Linux), else the peak."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


async def fill(case: str, count: int, folder: str) -> dict[str, Any]:
    import eventmesh
    from eventmesh import Context, Mesh, Telemetry

    limited = hasattr(eventmesh, "BackpressureError")
    full: tuple[type[BaseException], ...] = (
        (getattr(eventmesh, "BackpressureError"),) if limited else ()  # noqa: B009 (old code)
    )
    extra: dict[str, Any] = {"timeout": 0} if limited else {}
    storage = f"sqlite:///{folder}/mesh.db" if case.startswith("sqlite") else "memory"
    mesh = Mesh(storage=storage, telemetry=Telemetry(enabled=False))
    gate = asyncio.Event()  # never set: nothing finishes

    async def wait(*_: Any) -> None:
        await gate.wait()

    produce: Callable[[int], Awaitable[Any]]
    if case in ("queue", "sqlite-queue"):
        queue = mesh.queue("bench")

        def produce(n: int) -> Awaitable[Any]:
            return queue.send(PAYLOAD, **extra)

    elif case == "event":

        async def handler(event: Any, context: Context) -> None:
            await gate.wait()

        mesh.function(name="stuck", reserved_concurrency=1, timeout=900)(handler)

        def produce(n: int) -> Awaitable[Any]:
            return mesh.invoke("stuck", PAYLOAD, "Event", **extra)

    elif case == "topic":
        topic = mesh.topic("bench")
        for index in range(5):

            async def subscriber(envelope: dict[str, Any], index: int = index) -> None:
                await gate.wait()

            topic.subscribe(subscriber)

        def produce(n: int) -> Awaitable[Any]:
            return topic.publish(PAYLOAD, **extra)

    elif case in ("bus", "sqlite-bus"):
        bus = mesh.bus("bench")

        async def target(event: Any) -> None:
            await gate.wait()

        bus.rule("all", {"source": ["shop"]}, targets=[target])
        entry = [{"Source": "shop", "DetailType": "order", "Detail": PAYLOAD}]

        def produce(n: int) -> Awaitable[Any]:
            return bus.put_events(entry, **extra)

    elif case == "stream":
        stream = mesh.stream("bench")

        def produce(n: int) -> Awaitable[Any]:
            return stream.put_record(PAYLOAD, str(n), **extra)

    else:
        raise SystemExit(f"unknown case {case!r}")

    await mesh.start()
    for n in range(100):  # warm up: imports, first allocations
        await produce(n)
    await asyncio.sleep(0.05)
    before = rss_bytes()
    accepted = 0
    capped = False
    for n in range(count):
        try:
            await produce(n)
        except full:
            capped = True
            break
        accepted += 1
    await asyncio.sleep(0.05)  # let the last deliveries start
    after = rss_bytes()
    return {
        "case": case,
        "accepted": accepted,
        "capped": capped,
        "rss_growth": after - before,
        "rss": after,
    }


def child(case: str, count: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        result = asyncio.run(fill_and_report(case, count, folder))
    print(json.dumps(result), flush=True)
    os._exit(0)  # skip draining and stopping what never finishes


async def fill_and_report(case: str, count: int, folder: str) -> dict[str, Any]:
    return await fill(case, count, folder)


def run_case(case: str, count: int, code: str | None) -> dict[str, Any]:
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = code
    output = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", case, "--count", str(count)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="items to try per case")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--eventmesh", default=None, help="a checkout whose eventmesh to run")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        child(arguments.child, arguments.count)
        return
    print(f"{'case':<14}{'accepted':>10}{'capped':>8}{'RSS growth MB':>15}{'MB/100k':>10}")
    for case in arguments.cases.split(","):
        result = run_case(case, arguments.count, arguments.eventmesh)
        accepted = result["accepted"]
        growth = result["rss_growth"] / 1e6
        per = growth / accepted * 100_000 if accepted else 0.0
        capped = "yes" if result["capped"] else "no"
        print(f"{case:<14}{accepted:>10,}{capped:>8}{growth:>15.1f}{per:>10.1f}", flush=True)


if __name__ == "__main__":
    main()
