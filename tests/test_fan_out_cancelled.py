"""A publisher cancelled while a topic or a bus hands out its deliveries inline.

A publication, once its deliveries are being handed out, reaches every subscriber or target
(SNS and EventBridge deliver an accepted message to all of them); a publisher cancelled in
the middle (a timeout around ``publish``, a cancelled request) must not leave the later ones
without it. The cancellation lands at a point where an inline delivery yields: a pending
limit yields to the loop on every ``YIELD_EVERY``-th call (``eventmesh._backpressure``), so
the first subscriber's function is first given ``YIELD_EVERY - 1`` Event invocations, and
the publisher is cancelled while its delivery to that function yields.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from eventmesh import Context, Mesh
from eventmesh._backpressure import YIELD_EVERY
from eventmesh.testing import VirtualClock


def recorders(mesh: Mesh, names: list[str]) -> dict[str, list[Any]]:
    received: dict[str, list[Any]] = {name: [] for name in names}
    for name in names:

        def handler(name: str) -> Any:
            async def record(event: Any, context: Context) -> None:
                received[name].append(event)

            return record

        mesh.function(name=name)(handler(name))
    return received


async def cancelled_while_handing_out(mesh: Mesh, clock: VirtualClock, publish: Any) -> None:
    """Cancel ``publish()`` at its first yield, "first" being one call short of a yield."""
    for _ in range(YIELD_EVERY - 1):
        await mesh.invoke("first", {"warm": True}, "Event")
    publisher = asyncio.create_task(publish())
    await asyncio.sleep(0)  # it runs until the delivery to "first" yields
    assert not publisher.done()
    publisher.cancel()
    with pytest.raises(asyncio.CancelledError):
        await publisher
    await clock.advance(1)


async def test_a_topic_publisher_cancelled_mid_fan_out_still_reaches_every_subscriber(
    mesh: Mesh, clock: VirtualClock
) -> None:
    names = ["first", "second", "third"]
    received = recorders(mesh, names)
    topic = mesh.topic("news")
    for name in names:
        topic.subscribe(name)
    async with mesh:
        await cancelled_while_handing_out(mesh, clock, lambda: topic.publish("hello"))
    messages = {
        name: [e["Records"][0]["Sns"]["Message"] for e in events if "Records" in e]
        for name, events in received.items()
    }
    assert messages == {"first": ["hello"], "second": ["hello"], "third": ["hello"]}


async def test_a_bus_publisher_cancelled_mid_dispatch_still_reaches_every_target(
    mesh: Mesh, clock: VirtualClock
) -> None:
    names = ["first", "second", "third"]
    received = recorders(mesh, names)
    bus = mesh.bus()
    bus.rule("all", pattern={"source": ["app"]}, targets=names)
    entry = {"Source": "app", "DetailType": "order", "Detail": {"id": 7}}
    async with mesh:
        await cancelled_while_handing_out(mesh, clock, lambda: bus.put_events([entry]))
    details = {
        name: [e["detail"] for e in events if "detail" in e] for name, events in received.items()
    }
    assert details == {"first": [{"id": 7}], "second": [{"id": 7}], "third": [{"id": 7}]}
