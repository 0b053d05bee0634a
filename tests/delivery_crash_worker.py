"""A process with a DeliveryQueue on SQLite that tests/test_delivery_queue.py SIGKILLs.

    python tests/delivery_crash_worker.py DB_PATH READY_PATH

It puts :data:`ROUTES` into a :class:`~eventmesh.delivery.durable.DeliveryQueue` on the SQLite
file at DB_PATH and starts it. A first attempt of a ``retry-*`` delivery fails with a retry in
:data:`RETRY_DELAY` seconds; a ``hang-*`` delivery's attempt never ends (it is being attempted
when the process dies). Once every ``retry-*`` delivery waits to retry and every ``hang-*``
one is in flight, as the store says, it creates READY_PATH and waits to be killed.

Not a test module (no ``test_`` prefix); the test imports its constants.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

from eventmesh import RealClock
from eventmesh.backends.sqlite import sqlite_backend
from eventmesh.delivery.durable import DeliveryQueue, StoredDelivery

QUEUE = "eventmesh.test.deliveries"
RETRYING = tuple(f"retry-{i}" for i in range(20))
HANGING = tuple(f"hang-{i}" for i in range(3))
ROUTES = RETRYING + HANGING
RETRY_DELAY = 60.0
VISIBILITY = 2.0
"""Wall seconds a delivery whose attempt the kill cut stays hidden."""
WORKERS = 8
POLL = 0.01


async def attempt(delivery: StoredDelivery) -> float | None:
    if delivery.route.startswith("hang-"):
        await asyncio.Event().wait()  # until the kill
    return RETRY_DELAY


async def run(path: str, ready: str) -> None:
    clock = RealClock()
    backend = sqlite_backend(path, clock, synchronous="NORMAL")
    queue = DeliveryQueue(
        QUEUE, lambda: backend.queues, clock, attempt, workers=WORKERS, visibility=VISIBILITY
    )
    await queue.put_many([(route, route.encode()) for route in ROUTES])
    queue.start()
    while True:
        stats = await queue.stats()
        if stats.delayed == len(RETRYING) and stats.in_flight == len(HANGING):
            break
        await asyncio.sleep(POLL)
    _touch(ready)
    await asyncio.Event().wait()  # until the kill


def _touch(path: str) -> None:
    Path(path).touch()


def main(argv: list[str]) -> None:
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    path, ready = argv
    asyncio.run(run(path, ready))


if __name__ == "__main__":
    main(sys.argv[1:])
