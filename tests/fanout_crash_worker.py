"""A mesh on SQLite whose topic and bus deliveries wait to retry when
tests/test_fanout_durability.py SIGKILLs it.

    python tests/fanout_crash_worker.py DB_PATH URL READY_PATH

:func:`build` subscribes URL to the topic ``alerts`` and makes it the target of the default
bus's rule ``orders``; the test's endpoint answers 503 while this process runs, so each
delivery fails and waits to retry. Once the store holds both, READY_PATH is created and the
process waits to be killed. The test builds the same mesh on the same file afterwards.

Not a test module (no ``test_`` prefix); the test imports :func:`build`.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

from eventmesh import Mesh, Target, Telemetry

TOPIC_QUEUE = "eventmesh.topic.alerts"
BUS_QUEUE = "eventmesh.bus.default"
POLL = 0.01


def build(mesh: Mesh, url: str) -> None:
    mesh.topic("alerts").subscribe(url)
    mesh.bus().rule("orders", pattern={"source": ["shop"]}, targets=[Target(url)])


async def run(path: str, url: str, ready: str) -> None:
    mesh = Mesh(storage=f"sqlite:///{path}", telemetry=Telemetry(enabled=False))
    build(mesh, url)
    async with mesh:
        await mesh.topic("alerts").publish("hello", subject="Greeting")
        entry = {"Source": "shop", "DetailType": "order", "Detail": '{"id": 7}'}
        await mesh.bus().put_events([entry])
        queues = mesh.backend.queues
        while True:
            topic, bus = await queues.stats(TOPIC_QUEUE), await queues.stats(BUS_QUEUE)
            if (
                topic.delayed == 1
                and bus.total == 1
                and mesh.topic("alerts").subscriptions[0].attempts
            ):
                break
            await asyncio.sleep(POLL)
        _touch(ready)
        await asyncio.Event().wait()  # until the kill


def _touch(path: str) -> None:
    Path(path).touch()


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    path, url, ready = argv
    asyncio.run(run(path, url, ready))


if __name__ == "__main__":
    main(sys.argv[1:])
