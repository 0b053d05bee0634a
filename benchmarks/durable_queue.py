"""Queue -> mapping -> function on SQLite beside the in-memory default, in one run.

The same work each time: send N small JSON messages from 50 concurrent producers, then let
the SQS mapping (batch size 10) drain them into a no-op function. Storages compared: memory,
SQLite with ``synchronous=NORMAL`` and SQLite with ``synchronous=FULL`` (the default). Beside
each SQLite level, the raw ``sqlite3`` loop ``eventmesh bench`` measures SQLite against
(:mod:`eventmesh.bench.sqlite_raw`: the same producers, 5 consumers, a commit per batch of 10
for each of insert, claim and delete, the store's WAL and ``synchronous``).

Producers send concurrently: a durable send returns after its commit, so a single producer
awaiting each send would make every message a transaction of its own (group commit has
nothing to group); that is what ``eventmesh bench`` once measured on SQLite.

Run: ``uv run python benchmarks/durable_queue.py [--messages N] [--rounds R]``
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from typing import Any

import orjson

from eventmesh import Context, Mesh, Telemetry
from eventmesh.bench.sqlite_raw import RawSQLiteLoop, RawSQLiteQueue

PRODUCERS = 50


async def handler(event: dict[str, Any], context: Context) -> None:
    return None


async def run(storage: str, messages: int) -> float:
    mesh = Mesh(storage=storage, telemetry=Telemetry(enabled=False))
    mesh.function(name="consume")(handler)
    queue = mesh.queue("bench", visibility_timeout=300)
    queue.subscribe("consume", batch_size=10)

    async def produce(start: int) -> None:
        for i in range(start, messages, PRODUCERS):
            await queue.send({"id": i, "item": "book"})

    async with mesh:
        started = time.perf_counter()
        await asyncio.gather(*(produce(p) for p in range(PRODUCERS)))
        await mesh.drain(timeout=600)
        elapsed = time.perf_counter() - started
    return messages / elapsed


async def run_raw(path: str, synchronous: str, messages: int) -> float:
    """The raw sqlite3 loop on the same work: 50 producers, 5 consumers, batches of 10."""
    delivered = 0
    drained = asyncio.Event()

    async def deliver(bodies: list[bytes]) -> None:
        nonlocal delivered
        delivered += len(bodies)
        if delivered >= messages:
            drained.set()

    queue = RawSQLiteQueue(path, "NORMAL" if synchronous == "NORMAL" else "FULL")
    raw = RawSQLiteLoop(queue, deliver, batch=10, consumers=5)
    dumps = orjson.dumps

    async def produce(start: int) -> None:
        for i in range(start, messages, PRODUCERS):
            await raw.send(dumps({"id": i, "item": "book"}))

    started = time.perf_counter()
    raw.start()
    try:
        await asyncio.gather(*(produce(p) for p in range(PRODUCERS)))
        await asyncio.wait_for(drained.wait(), 600)
        elapsed = time.perf_counter() - started
    finally:
        await raw.stop()
        queue.close()
    return messages / elapsed


async def main(messages: int, rounds: int) -> dict[str, float]:
    best: dict[str, float] = {}
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as folder:  # a fresh database each round
            for label, storage in (
                ("memory", "memory"),
                ("sqlite NORMAL", f"sqlite:///{folder}/normal.db?synchronous=NORMAL"),
                ("sqlite FULL", f"sqlite:///{folder}/full.db?synchronous=FULL"),
            ):
                best[label] = max(best.get(label, 0.0), await run(storage, messages))
            for level in ("NORMAL", "FULL"):
                label = f"raw sqlite3 {level}"
                rate = await run_raw(f"{folder}/raw-{level}.db", level, messages)
                best[label] = max(best.get(label, 0.0), rate)
    return best


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    arguments = parser.parse_args()
    best = asyncio.run(main(arguments.messages, arguments.rounds))
    memory = best["memory"]
    print(f"{'storage':<20}{'messages/s':>12}{'vs memory':>11}{'vs raw sqlite3':>16}")
    for label, rate in best.items():
        raw = best.get(f"raw sqlite3 {label.removeprefix('sqlite ')}")
        versus = f"{rate / raw:>16.3f}" if label.startswith("sqlite") and raw else ""
        print(f"{label:<20}{rate:>12,.0f}{rate / memory:>11.3f}{versus}")
