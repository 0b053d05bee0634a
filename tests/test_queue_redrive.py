"""Redrive to the dead-letter queue: one atomic step in a store that declares it, the send
then the delete in one that does not, with the same messages and pending counts either way."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from eventmesh import BackpressureError, Mesh, Telemetry
from eventmesh.backends import Delivery, OutgoingMessage, Redrive, redrives_in_receive
from eventmesh.backends.memory import MemoryQueueStore
from eventmesh.testing import VirtualClock


class RecordingQueues(MemoryQueueStore):
    """The memory queue store, with the calls the queue resource makes written down."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__(clock)
        self.calls: list[tuple[str, str]] = []
        self.policies: list[Redrive | None] = []

    async def send(self, queue: str, messages: Sequence[OutgoingMessage]) -> list[str]:
        self.calls.append(("send", queue))
        return await super().send(queue, messages)

    async def receive(self, queue: str, *args: Any, **kwargs: Any) -> list[Delivery]:
        self.policies.append(kwargs.get("redrive"))
        return await super().receive(queue, *args, **kwargs)

    async def delete(self, queue: str, receipts: Sequence[str]) -> int:
        self.calls.append(("delete", queue))
        return await super().delete(queue, receipts)


class TwoStepQueues(RecordingQueues):
    """A store that does not redrive in its receive (a third-party store's default)."""

    redrives_in_receive = False

    async def receive(self, queue: str, *args: Any, **kwargs: Any) -> list[Delivery]:
        assert "redrive" not in kwargs, "a store that does not declare it is not given one"
        return await super().receive(queue, *args, **kwargs)


def _mesh(clock: VirtualClock, queues: MemoryQueueStore) -> Mesh:
    """A memory mesh (whose queues keep ``max_pending``) on ``queues``."""
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False))
    mesh.backend.queues = queues
    return mesh


def test_a_store_declares_the_redrive_with_a_true_attribute(clock: VirtualClock) -> None:
    assert redrives_in_receive(MemoryQueueStore(clock))
    assert not redrives_in_receive(TwoStepQueues(clock))
    assert not redrives_in_receive(object())  # type: ignore[arg-type]

    class Truthy(MemoryQueueStore):
        redrives_in_receive = 1  # type: ignore[assignment]

    assert not redrives_in_receive(Truthy(clock)), "only True declares it"


async def test_a_store_that_declares_it_moves_the_message_in_the_receive(
    clock: VirtualClock,
) -> None:
    queues = RecordingQueues(clock)
    mesh = _mesh(clock, queues)
    queue = mesh.queue("src", visibility_timeout=10, max_receive_count=2, dead_letter="dlq")
    dlq = mesh.queue("dlq")
    async with mesh:
        sent_id = await queue.send("poison", {"kind": "x"})
        sent = clock.time()
        for _ in range(2):
            assert len(await queue.receive()) == 1
            await clock.advance(10)
        queues.calls.clear()
        assert await queue.receive() == []
        assert queues.calls == [], "no send to the dead-letter queue, no delete: one step"
        assert queues.policies[-1] == Redrive("dlq", 2)
        (dead,) = await dlq.receive()
    assert (dead.message_id, dead.body) == (sent_id, "poison")
    assert dead.message_attributes == {"kind": {"DataType": "String", "StringValue": "x"}}
    assert dead.attributes["SentTimestamp"] == str(int(sent * 1000))
    assert dead.attributes["ApproximateReceiveCount"] == "1"


async def test_a_queue_without_a_redrive_policy_gives_the_store_none(
    clock: VirtualClock,
) -> None:
    queues = RecordingQueues(clock)
    mesh = _mesh(clock, queues)
    queue = mesh.queue("plain")
    async with mesh:
        await queue.send("m")
        assert len(await queue.receive()) == 1
    assert queues.policies == [None]


async def test_a_store_that_does_not_declare_it_is_redriven_in_two_steps(
    clock: VirtualClock,
) -> None:
    queues = TwoStepQueues(clock)
    mesh = _mesh(clock, queues)
    queue = mesh.queue("src", visibility_timeout=10, max_receive_count=1, dead_letter="dlq")
    dlq = mesh.queue("dlq", retention=60)
    async with mesh:
        await queue.send("poison")
        sent = clock.time()
        assert len(await queue.receive()) == 1
        await clock.advance(10)
        queues.calls.clear()
        assert await queue.receive() == []
        assert queues.calls == [("send", "dlq"), ("delete", "src")]
        assert (await queue.stats()).total == 0
        (dead,) = await dlq.receive(visibility_timeout=1)
        assert dead.body == "poison"
        assert dead.attributes["SentTimestamp"] == str(int(sent * 1000))
        assert dead.attributes["ApproximateReceiveCount"] == "1"
        await clock.advance(51)
        assert await dlq.receive() == [], "expired: 61 s since it was first sent"


@pytest.mark.parametrize("store", [RecordingQueues, TwoStepQueues], ids=["atomic", "two-step"])
async def test_a_redrive_moves_one_unit_of_pending_work_between_the_queues(
    clock: VirtualClock, store: type[MemoryQueueStore]
) -> None:
    """The source has room again; the dead-letter queue counts the message, over its limit
    if need be (refusing it would lose the message)."""
    mesh = _mesh(clock, store(clock))
    queue = mesh.queue(
        "src", visibility_timeout=1, max_receive_count=1, dead_letter="dlq", max_pending=1
    )
    dlq = mesh.queue("dlq", max_pending=1)
    async with mesh:
        await dlq.send("earlier")
        await queue.send("poison")
        with pytest.raises(BackpressureError):
            await queue.send("more", timeout=0)
        assert len(await queue.receive()) == 1
        await clock.advance(1)
        assert await queue.receive() == []
        assert (queue.limit.pending, dlq.limit.pending) == (0, 2)
        await queue.send("room again", timeout=0)
        with pytest.raises(BackpressureError):
            await dlq.send("more", timeout=0)
        for message in await dlq.receive(10):
            await dlq.delete(message.receipt_handle)
        assert dlq.limit.pending == 0


@pytest.mark.parametrize("store", [RecordingQueues, TwoStepQueues], ids=["atomic", "two-step"])
async def test_a_fifo_redrive_keeps_the_group_and_frees_it_in_the_source(
    clock: VirtualClock, store: type[MemoryQueueStore]
) -> None:
    """The dead letter keeps its MessageGroupId, MessageDeduplicationId and SequenceNumber;
    the group's next message is received as soon as its head has moved."""
    mesh = _mesh(clock, store(clock))
    queue = mesh.queue("src.fifo", visibility_timeout=10, max_receive_count=1, dead_letter="d.fifo")
    dlq = mesh.queue("d.fifo")
    async with mesh:
        await queue.send("poison", group_id="g7", deduplication_id="dd7")
        await queue.send("next", group_id="g7", deduplication_id="dd8")
        (first,) = await queue.receive()
        await clock.advance(10)
        assert [m.body for m in await queue.receive(10)] == ["next"]
        (dead,) = await dlq.receive()
    assert dead.body == "poison"
    assert dead.attributes["MessageGroupId"] == "g7"
    assert dead.attributes["MessageDeduplicationId"] == "dd7"
    assert dead.attributes["SequenceNumber"] == first.attributes["SequenceNumber"]


@pytest.mark.parametrize("store", [RecordingQueues, TwoStepQueues], ids=["atomic", "two-step"])
async def test_a_long_poll_of_a_queue_with_a_dead_letter_queue_waits_for_a_message(
    clock: VirtualClock, store: type[MemoryQueueStore]
) -> None:
    mesh = _mesh(clock, store(clock))
    queue = mesh.queue("src", max_receive_count=3, dead_letter="dlq")
    mesh.queue("dlq")
    async with mesh:
        polling = asyncio.create_task(queue.receive(wait=20))
        await clock.advance(5)
        assert not polling.done()
        await queue.send("late")
        await clock.advance(0)
        assert [m.body for m in await polling] == ["late"]
        assert clock.now() == 5
