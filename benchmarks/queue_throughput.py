"""Queue -> mapping -> function, beside a hand-written asyncio.Queue + workers loop.

Both sides do the same work in the same run: produce N small JSON messages, consume them
in batches of 10 and hand each batch to the same no-op handler as a Lambda-shaped event.

* baseline: ``asyncio.Queue`` + 5 reusable worker tasks, each taking up to 10 messages,
  decoding them and awaiting ``handler({"Records": [...]}, context)``;
* eventmesh: ``queue.send`` N times, then the SQS mapping (batch size 10) until drained.

Run: ``uv run python benchmarks/queue_throughput.py [--messages N] [--rounds R]``
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import orjson

from eventmesh import Context, Mesh, Telemetry

BATCH = 10
WORKERS = 5  # the mapping starts five pollers, as Lambda does


async def handler(event: dict[str, Any], context: Context) -> None:
    return None


async def baseline(messages: int) -> float:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    done = asyncio.Event()
    remaining = messages

    async def worker() -> None:
        nonlocal remaining
        while True:
            batch = [await queue.get()]
            while len(batch) < BATCH and not queue.empty():
                batch.append(queue.get_nowait())
            records = [{"body": body.decode(), "parsed": orjson.loads(body)} for body in batch]
            await handler({"Records": records}, None)  # type: ignore[arg-type]
            remaining -= len(batch)
            if remaining == 0:
                done.set()

    started = time.perf_counter()
    workers = [asyncio.create_task(worker()) for _ in range(WORKERS)]
    for i in range(messages):
        queue.put_nowait(orjson.dumps({"id": i, "item": "book"}))
    await done.wait()
    elapsed = time.perf_counter() - started
    for task in workers:
        task.cancel()
    return messages / elapsed


async def eventmesh(messages: int) -> float:
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    mesh.function(name="consume")(handler)
    queue = mesh.queue("bench", visibility_timeout=300)
    queue.subscribe("consume", batch_size=BATCH)
    async with mesh:
        started = time.perf_counter()
        for i in range(messages):
            await queue.send({"id": i, "item": "book"})
        await mesh.drain(timeout=600)
        elapsed = time.perf_counter() - started
    return messages / elapsed


async def main(messages: int, rounds: int) -> tuple[float, float]:
    best_baseline = best_ours = 0.0
    for _ in range(rounds):
        best_baseline = max(best_baseline, await baseline(messages))
        best_ours = max(best_ours, await eventmesh(messages))
    return best_baseline, best_ours


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    base, ours = asyncio.run(main(arguments.messages, arguments.rounds))
    print(f"{'case':<44}{'messages/s':>12}")
    print(f"{'asyncio.Queue + 5 workers, batches of 10':<44}{base:>12,.0f}")
    print(f"{'queue -> mapping (batch 10) -> function':<44}{ours:>12,.0f}")
    print(f"ratio eventmesh / baseline: {ours / base:.3f}")
