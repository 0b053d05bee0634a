"""Queue -> mapping -> function on SQLite beside the in-memory default, in one run.

The same work each time: send N small JSON messages from 50 concurrent producers, then let
the SQS mapping (batch size 10) drain them into a no-op function. Storages compared: memory,
SQLite with ``synchronous=NORMAL`` and SQLite with ``synchronous=FULL`` (the default).

Run: ``uv run python benchmarks/durable_queue.py [--messages N] [--rounds R]``
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from typing import Any

from eventmesh import Context, Mesh, Telemetry

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
    return best


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    arguments = parser.parse_args()
    best = asyncio.run(main(arguments.messages, arguments.rounds))
    memory = best["memory"]
    print(f"{'storage':<16}{'messages/s':>12}{'vs memory':>11}")
    for label, rate in best.items():
        print(f"{label:<16}{rate:>12,.0f}{rate / memory:>11.3f}")
