"""The receive side's fast paths against the general one.

``Queue.take_records`` on the memory store takes at once (``receive_now``), checks what
``_all_admitted`` checks while it builds the records, and after an empty take waits in the
store without taking again first (``receive_after_empty``); the store keeps one timeline
entry per receive. A store whose ``receive`` and ``delete`` are overridden takes none of
these shortcuts (``takes_now`` is False): each scenario here runs on both, and on the
general ``Queue.take`` with ``Message.to_record``, and the records must be the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest

from eventmesh import Mesh, Telemetry
from eventmesh.backends import Backend, OutgoingMessage, Redrive
from eventmesh.backends.memory import MemoryQueueStore, memory_backend
from eventmesh.resources.queue import Queue
from eventmesh.testing import VirtualClock


class GeneralStore(MemoryQueueStore):
    """The memory store with ``receive`` and ``delete`` overridden: no shortcuts."""

    async def receive(self, *args: Any, **kwargs: Any) -> Any:
        return await super().receive(*args, **kwargs)

    async def delete(self, queue: str, receipts: Sequence[str]) -> int:
        return await super().delete(queue, receipts)


def normal(record: dict[str, Any]) -> dict[str, Any]:
    """A record with its id's random prefix cut (the stores' ids differ only there)."""
    return {
        **record,
        "messageId": record["messageId"][-12:],
        "receiptHandle": record["receiptHandle"].rpartition("-")[2],
    }


Take = Callable[[Queue, int, float], Awaitable[list[dict[str, Any]]]]


async def take_records(queue: Queue, most: int, visibility: float) -> list[dict[str, Any]]:
    return (await queue.take_records(most, 0, visibility)).records


async def take_messages(queue: Queue, most: int, visibility: float) -> list[dict[str, Any]]:
    region = queue.context.region
    return [m.to_record(queue.arn, region) for m in await queue.take(most, 0, visibility)]


Scenario = Callable[[Mesh, VirtualClock, Take], Awaitable[list[Any]]]


async def on_each_path(scenario: Scenario) -> list[Any]:
    """The scenario's results on the fast path; asserted equal on the two general ones."""
    results = []
    for store_class, take in (
        (MemoryQueueStore, take_records),
        (GeneralStore, take_records),
        (MemoryQueueStore, take_messages),
    ):
        clock = VirtualClock()
        default = memory_backend(clock)
        store = store_class(clock)
        assert store.takes_now is (store_class is MemoryQueueStore)
        backend = Backend(
            queues=store, logs=default.logs, values=default.values, blobs=default.blobs,
            in_memory=True,
        )  # fmt: skip
        mesh = Mesh(clock=clock, storage=backend, telemetry=Telemetry(enabled=False))
        async with mesh:
            results.append(await scenario(mesh, clock, take))
    normalised = [
        [[normal(r) for r in step] if isinstance(step, list) else step for step in result]
        for result in results
    ]
    assert normalised[1] == normalised[0]
    assert normalised[2] == normalised[0]
    return normalised[0]


def bodies(records: list[dict[str, Any]]) -> list[str]:
    return [r["body"] for r in records]


def counts(records: list[dict[str, Any]]) -> list[str]:
    return [r["attributes"]["ApproximateReceiveCount"] for r in records]


async def test_a_visibility_expiry_brings_back_what_was_not_deleted(clock: VirtualClock) -> None:
    async def scenario(mesh: Mesh, clock: VirtualClock, take: Take) -> list[Any]:
        queue = mesh.queue("work")
        for n in range(4):
            await queue.send({"n": n})
        await clock.advance(1)
        first = await take(queue, 3, 5)
        assert await queue.delete(first[1]["receiptHandle"])
        assert await queue.change_visibility(first[2]["receiptHandle"], 20)
        await clock.advance(2)
        rest = await take(queue, 10, 30)
        early = await take(queue, 10, 30)  # nothing has come back yet
        await clock.advance(3)
        back = await take(queue, 10, 30)  # the first one, at its deadline
        await clock.advance(15)
        changed = await take(queue, 10, 30)  # the one whose visibility was changed
        stale = await queue.delete(first[0]["receiptHandle"])
        return [first, rest, early, back, changed, stale]

    first, rest, early, back, changed, stale = await on_each_path(scenario)
    assert bodies(first) == ['{"n":0}', '{"n":1}', '{"n":2}']
    assert bodies(rest) == ['{"n":3}'] and early == []
    assert bodies(back) == ['{"n":0}'] and counts(back) == ["2"]
    assert bodies(changed) == ['{"n":2}'] and counts(changed) == ["2"]
    assert back[0]["receiptHandle"] != first[0]["receiptHandle"]
    for again, before in ((back[0], first[0]), (changed[0], first[2])):
        assert (
            again["attributes"]["ApproximateFirstReceiveTimestamp"]
            == before["attributes"]["ApproximateFirstReceiveTimestamp"]
        )
        assert again["md5OfBody"] == before["md5OfBody"]
    assert stale is False  # a receipt of an earlier receive deletes nothing


async def test_a_message_past_the_maximum_receive_count_moves_to_the_dead_letters(
    clock: VirtualClock,
) -> None:
    async def scenario(mesh: Mesh, clock: VirtualClock, take: Take) -> list[Any]:
        queue = mesh.queue("work", max_receive_count=2, dead_letter="dead")
        dead = mesh.queue("dead")
        await queue.send({"n": 1})
        await queue.send("kept", {"kind": "text"})
        received = []
        for _ in range(3):
            received.append(await take(queue, 10, 5))
            await clock.advance(5)
        moved = await take(dead, 10, 30)
        return [*received, moved, queue.limit.pending, dead.limit.pending]

    *received, moved, pending, dead_pending = await on_each_path(scenario)
    assert [counts(r) for r in received] == [["1", "1"], ["2", "2"], []]
    assert bodies(moved) == ['{"n":1}', "kept"]
    assert counts(moved) == ["1", "1"]
    assert moved[0]["attributes"]["SentTimestamp"] == received[0][0]["attributes"]["SentTimestamp"]
    assert moved[1]["messageAttributes"] == received[0][1]["messageAttributes"]
    assert (pending, dead_pending) == (0, 2)


async def test_a_fifo_group_is_blocked_while_in_flight_and_released_by_a_delete(
    clock: VirtualClock,
) -> None:
    async def scenario(mesh: Mesh, clock: VirtualClock, take: Take) -> list[Any]:
        queue = mesh.queue("work.fifo")
        for n, group in ((1, "a"), (2, "a"), (3, "b"), (4, "a")):
            await queue.send({"n": n}, group_id=group, deduplication_id=str(n))
        first = await take(queue, 1, 30)
        blocked = await take(queue, 10, 30)  # group a is in flight: b only
        await queue.delete(first[0]["receiptHandle"])
        released = await take(queue, 10, 30)
        await clock.advance(30)  # nothing deleted: both groups come back in order
        again = await take(queue, 10, 30)
        return [first, blocked, released, again]

    first, blocked, released, again = await on_each_path(scenario)
    assert bodies(first) == ['{"n":1}']
    assert bodies(blocked) == ['{"n":3}']
    assert bodies(released) == ['{"n":2}', '{"n":4}']
    assert bodies(again) == ['{"n":2}', '{"n":3}', '{"n":4}']
    assert counts(again) == ["2", "2", "2"]


async def test_a_message_past_its_retention_is_dropped_among_those_that_go_out(
    clock: VirtualClock,
) -> None:
    async def scenario(mesh: Mesh, clock: VirtualClock, take: Take) -> list[Any]:
        queue = mesh.queue("short", retention=60)
        await queue.send({"n": 1})
        await clock.advance(30)
        await queue.send({"n": 2})
        await clock.advance(30)  # exactly 60 s: still kept
        kept = await take(queue, 10, 1)
        await clock.advance(1)  # the first one is past it now, the second is not
        left = await take(queue, 10, 1)
        return [kept, left, queue.limit.pending]

    kept, left, pending = await on_each_path(scenario)
    assert bodies(kept) == ['{"n":1}', '{"n":2}']
    assert bodies(left) == ['{"n":2}'] and counts(left) == ["2"]
    assert pending == 1


async def test_a_batch_of_every_kind_of_message_has_the_general_paths_records(
    clock: VirtualClock,
) -> None:
    """Plain messages around one with attributes, a redelivered one and a delayed one:
    the fast path's records, one run of texts after another, are the general path's."""

    async def scenario(mesh: Mesh, clock: VirtualClock, take: Take) -> list[Any]:
        queue = mesh.queue("kinds")
        await queue.send({"n": 1})
        await clock.advance(0.0004)
        await queue.send({"n": 2})
        await queue.send({"n": 3}, delay=1)
        await clock.advance(0.0011)
        await queue.send("text", {"kind": "x", "size": 3})
        await queue.send({"n": 5})
        first = await take(queue, 1, 0)  # comes back at once
        await clock.advance(2)
        await queue.send({"n": 6})
        return [first, await take(queue, 10, 30)]

    _, batch = await on_each_path(scenario)
    assert bodies(batch) == ['{"n":1}', '{"n":2}', '{"n":3}', "text", '{"n":5}', '{"n":6}']
    assert counts(batch) == ["2", "1", "1", "1", "1", "1"]
    assert "md5OfMessageAttributes" in batch[3]


async def test_a_long_poll_after_an_empty_take_waits_in_the_store(clock: VirtualClock) -> None:
    store = MemoryQueueStore(clock)
    assert store.receive_now("q", 10, 30) == []
    poll = asyncio.create_task(store.receive_after_empty("q", 10, 30, 20))
    await clock.advance(3)
    assert not poll.done()
    await store.send("q", [OutgoingMessage(b"m")])
    await clock.advance(0)
    assert [d.body for d in poll.result()] == [b"m"]
    empty = asyncio.create_task(store.receive_after_empty("q", 10, 30, 20))
    await clock.advance(20)
    assert empty.result() == []
    closed = asyncio.create_task(store.receive_after_empty("q", 10, 30, 20))
    await clock.advance(1)
    await store.close()
    await clock.advance(0)
    assert closed.result() == []


async def test_a_long_poll_after_an_empty_take_redrives_what_it_wakes_for(
    clock: VirtualClock,
) -> None:
    store = MemoryQueueStore(clock)
    await store.send("q", [OutgoingMessage(b"m")])
    (first,) = store.receive_now("q", 10, 5)
    assert store.receive_now("q", 10, 5) == []
    poll = asyncio.create_task(store.receive_after_empty("q", 10, 5, 20, Redrive("dlq", 1)))
    await clock.advance(5)
    (moved,) = poll.result()
    assert moved.dead_lettered and moved.receive_count == 2
    assert [d.body for d in store.receive_now("dlq", 10, 5)] == [b"m"]
    assert first.receive_count == 1


@pytest.mark.parametrize("deleted_first", [True, False])
async def test_deletes_behind_a_live_receive_are_compacted_and_it_still_comes_back(
    clock: VirtualClock, deleted_first: bool
) -> None:
    """A receive left in flight while thousands after it are deleted: the timeline's
    entries of the deleted are compacted away (counted in messages, not entries), and the
    one in flight comes back at its deadline, with its receive's other messages deleted."""
    store = MemoryQueueStore(clock)
    await store.send("q", [OutgoingMessage(b"kept"), OutgoingMessage(b"gone")])
    _, gone = store.receive_now("q", 2, 60)
    if deleted_first:
        assert store.delete_now("q", [gone.receipt]) == 1
    for _ in range(600):
        await store.send("q", [OutgoingMessage(b"m") for _ in range(5)])
        taken = store.receive_now("q", 10, 60)
        assert store.delete_now("q", [d.receipt for d in taken]) == 5
    state = store._queues["q"]
    assert state.stale <= 1 + state.timed  # compacted: at most half of the places are stale
    assert state.timed < 1100  # 3,002 places without compaction
    await clock.advance(60)
    back = store.receive_now("q", 10, 60)
    assert [(d.body, d.receive_count) for d in back] == [
        (b"kept", 2),
        *([] if deleted_first else [(b"gone", 2)]),
    ]
    assert (await store.stats("q")).in_flight == len(back)


async def test_the_retention_splits_messages_sent_within_one_millisecond(
    clock: VirtualClock,
) -> None:
    """Records share their sent time's text per millisecond, but the retention is checked
    on each message's own time: one sent 0.4 ms before the other expires first."""

    async def scenario(mesh: Mesh, clock: VirtualClock, take: Take) -> list[Any]:
        queue = mesh.queue("short", retention=60)
        await queue.send({"n": 1})
        await clock.advance(0.0004)
        await queue.send({"n": 2})
        await clock.advance(59.9998)  # 60.0002 s after the first, 59.9998 after the second
        return [await take(queue, 10, 30), queue.limit.pending]

    kept, pending = await on_each_path(scenario)
    assert bodies(kept) == ['{"n":2}']
    assert pending == 1


async def test_a_count_given_as_a_float_takes_as_many_on_each_path(clock: VirtualClock) -> None:
    async def scenario(mesh: Mesh, clock: VirtualClock, take: Take) -> list[Any]:
        queue = mesh.queue("counted")
        for n in range(5):
            await queue.send({"n": n})
        messages = await queue.receive(max_messages=2.0)  # type: ignore[arg-type]
        return [len(messages), len(await take(queue, 10, 30))]

    assert await on_each_path(scenario) == [2, 3]


async def test_a_store_without_receive_after_empty_is_long_polled_through_receive(
    clock: VirtualClock,
) -> None:
    """``takes_now`` alone does not make the queue wait through ``receive_after_empty``: a
    store without it is long-polled through its ``receive``."""

    class Older(MemoryQueueStore):
        receive_after_empty = None  # type: ignore[assignment]

    default = memory_backend(clock)
    store = Older(clock)
    backend = Backend(
        queues=store, logs=default.logs, values=default.values, blobs=default.blobs,
        in_memory=True,
    )  # fmt: skip
    mesh = Mesh(clock=clock, storage=backend, telemetry=Telemetry(enabled=False))
    queue = mesh.queue("older")
    async with mesh:
        assert store.takes_now and queue._immediate is None
        poll = asyncio.create_task(queue.take_records(10, 20, 30))
        await clock.advance(1)
        await queue.send({"n": 1})
        await clock.advance(0)
        assert bodies(poll.result().records) == ['{"n":1}']
