"""The memory queue store's own structures: visible messages in two places merged by
sequence, hidden ones on an in-order timeline or a heap, and long polls sharing one timer.

Each test pins a case where the fast structure and the general one meet (a message coming
back among fresh ones, a deadline out of order, a change of visibility, a wake-up that is not
used), on the virtual clock.
"""

from __future__ import annotations

import asyncio

from eventmesh.backends.memory import MemoryQueueStore
from eventmesh.backends.protocols import Delivery, OutgoingMessage
from eventmesh.testing import VirtualClock


async def send(store: MemoryQueueStore, *bodies: bytes, delay: float = 0.0) -> list[str]:
    return await store.send("q", [OutgoingMessage(body, delay=delay) for body in bodies])


def bodies(deliveries: list[Delivery]) -> list[bytes]:
    return [delivery.body for delivery in deliveries]


async def test_a_message_that_comes_back_is_taken_before_those_sent_after_it(
    clock: VirtualClock,
) -> None:
    store = MemoryQueueStore(clock)
    await send(store, b"1", b"2")
    (first,) = await store.receive("q", 1, 5)
    await send(store, b"3")
    await clock.advance(5)
    again = await store.receive("q", 10, 5)
    assert bodies(again) == [b"1", b"2", b"3"]
    assert [d.receive_count for d in again] == [2, 1, 1]
    assert again[0].message_id == first.message_id
    assert again[0].first_received_at == first.first_received_at


async def test_a_delayed_message_takes_its_place_by_send_order_when_its_delay_ends(
    clock: VirtualClock,
) -> None:
    store = MemoryQueueStore(clock)
    await send(store, b"late", delay=10)
    await send(store, b"on time")
    assert bodies(await store.receive("q", 10, 30)) == [b"on time"]
    await send(store, b"after")
    await clock.advance(10)
    await store.change_visibility("q", "nothing", 0)  # a stale receipt changes nothing
    assert bodies(await store.receive("q", 10, 30)) == [b"late", b"after"]


async def test_deadlines_out_of_order_come_back_each_at_its_time(clock: VirtualClock) -> None:
    store = MemoryQueueStore(clock)
    await send(store, b"long", b"short", b"middle")
    await store.receive("q", 1, 30)  # on the timeline
    await store.receive("q", 1, 10)  # earlier than the timeline's last: the heap
    await store.receive("q", 1, 20)
    seen = []
    for _ in range(3):
        await clock.advance(10)
        seen.append(bodies(await store.receive("q", 10, 100)))
    assert seen == [[b"short"], [b"middle"], [b"long"]]


async def test_a_changed_visibility_moves_a_message_off_the_timeline(
    clock: VirtualClock,
) -> None:
    store = MemoryQueueStore(clock)
    await send(store, b"a", b"b")
    a, b = await store.receive("q", 2, 30)
    assert await store.change_visibility("q", a.receipt, 5)
    assert await store.change_visibility("q", b.receipt, 60)
    await clock.advance(5)
    (a_again,) = await store.receive("q", 10, 30)
    assert (a_again.body, a_again.receive_count) == (b"a", 2)
    assert await store.delete("q", [a_again.receipt]) == 1
    await clock.advance(30)  # b's first deadline passed: it stays hidden until 60
    assert await store.receive("q", 10, 30) == []
    assert (await store.stats("q")).in_flight == 1
    await clock.advance(25)
    (again,) = await store.receive("q", 10, 30)
    assert (again.body, again.receive_count) == (b"b", 2)
    assert await store.delete("q", [b.receipt]) == 0  # its old receipt is stale


async def test_deleted_messages_leave_no_entries_behind(clock: VirtualClock) -> None:
    """Deleting what was received (the common case) leaves the timeline's entries stale; the
    next receive drops them, so the store holds nothing once everything is deleted."""
    store = MemoryQueueStore(clock)
    for _ in range(3000):
        await send(store, b"m")
        (delivery,) = await store.receive("q", 1, 30)
        assert await store.delete("q", [delivery.receipt]) == 1
    await send(store, b"last")
    await store.receive("q", 1, 30)
    assert (await store.stats("q")).in_flight == 1
    await clock.advance(30)
    (back,) = await store.receive("q", 1, 30)
    assert (back.body, back.receive_count) == (b"last", 2)


async def test_a_long_poll_returns_at_once_when_a_message_is_sent(clock: VirtualClock) -> None:
    store = MemoryQueueStore(clock)
    poll = asyncio.create_task(store.receive("q", 10, 30, wait=20))
    await clock.advance(3)
    assert not poll.done()
    await send(store, b"now")
    await clock.advance(0)
    assert bodies(poll.result()) == [b"now"]
    assert clock.now() == 3


async def test_a_long_poll_ends_empty_after_its_wait(clock: VirtualClock) -> None:
    store = MemoryQueueStore(clock)
    poll = asyncio.create_task(store.receive("q", 10, 30, wait=20))
    await clock.advance(19.5)
    assert not poll.done()
    await clock.advance(0.5)
    assert poll.result() == []


async def test_long_polls_share_one_timer(clock: VirtualClock) -> None:
    store = MemoryQueueStore(clock)
    polls = [asyncio.create_task(store.receive("q", 10, 30, wait=20)) for _ in range(50)]
    await clock.advance(0)
    assert clock.pending_timers == 1
    await clock.advance(20)
    assert [p.result() for p in polls] == [[]] * 50
    assert clock.pending_timers == 0


async def test_a_long_poll_gets_a_message_whose_visibility_ends_while_it_waits(
    clock: VirtualClock,
) -> None:
    store = MemoryQueueStore(clock)
    polls = [asyncio.create_task(store.receive("q", 10, 30, wait=20)) for _ in range(2)]
    await clock.advance(0)
    await send(store, b"m")  # wakes one poll, but another receiver takes it first
    (taken,) = await store.receive("q", 1, 5)
    await clock.advance(4.5)
    assert not any(p.done() for p in polls)
    await clock.advance(0.5)
    (again,) = [d for p in polls if p.done() for d in p.result()]
    assert (again.message_id, again.receive_count) == (taken.message_id, 2)


async def test_a_long_poll_gets_a_delayed_message_when_its_delay_ends(
    clock: VirtualClock,
) -> None:
    store = MemoryQueueStore(clock)
    poll = asyncio.create_task(store.receive("q", 10, 30, wait=20))
    await clock.advance(1)
    await send(store, b"later", delay=4)
    await clock.advance(3.5)
    assert not poll.done()
    await clock.advance(0.5)
    assert bodies(poll.result()) == [b"later"]


async def test_one_receiver_wakes_for_a_message_it_can_take_with_others(
    clock: VirtualClock,
) -> None:
    """A send wakes one waiting receiver per ``max_messages`` visible messages: the others
    go on waiting instead of waking to find nothing."""
    store = MemoryQueueStore(clock)
    polls = [asyncio.create_task(store.receive("q", 2, 30, wait=20)) for _ in range(3)]
    await clock.advance(0)
    await send(store, b"1")
    await send(store, b"2")
    await clock.advance(0)
    assert [p.done() for p in polls] == [True, False, False]
    assert bodies(polls[0].result()) == [b"1", b"2"]
    await send(store, b"3", b"4", b"5")
    await clock.advance(0)
    assert [p.done() for p in polls] == [True, True, True]
    assert sorted(bodies(polls[1].result() + polls[2].result())) == [b"3", b"4", b"5"]


async def test_a_receiver_cancelled_after_its_wake_up_passes_it_on(clock: VirtualClock) -> None:
    store = MemoryQueueStore(clock)
    first = asyncio.create_task(store.receive("q", 10, 30, wait=20))
    second = asyncio.create_task(store.receive("q", 10, 30, wait=20))
    await clock.advance(0)
    await send(store, b"m")  # wakes the first: it is cancelled before it runs
    first.cancel()
    await clock.advance(0)
    assert first.cancelled()
    assert bodies(second.result()) == [b"m"]
    assert clock.now() == 0


async def test_a_cancelled_long_poll_leaves_no_waiter(clock: VirtualClock) -> None:
    store = MemoryQueueStore(clock)
    poll = asyncio.create_task(store.receive("q", 10, 30, wait=20))
    await clock.advance(1)
    poll.cancel()
    await clock.advance(0)
    later = asyncio.create_task(store.receive("q", 1, 30, wait=20))
    await clock.advance(0)
    await send(store, b"m")
    await clock.advance(0)
    assert bodies(later.result()) == [b"m"]


async def test_close_ends_every_long_poll(clock: VirtualClock) -> None:
    store = MemoryQueueStore(clock)
    polls = [asyncio.create_task(store.receive(name, 10, 30, wait=20)) for name in "abc"]
    await clock.advance(1)
    await store.close()
    await clock.advance(0)
    assert [p.result() for p in polls] == [[], [], []]
    assert clock.pending_timers == 0


async def test_a_fifo_group_blocked_in_flight_wakes_a_receiver_when_it_is_deleted(
    clock: VirtualClock,
) -> None:
    store = MemoryQueueStore(clock)
    await store.send(
        "q", [OutgoingMessage(b"1", group_id="g"), OutgoingMessage(b"2", group_id="g")]
    )
    (first, second) = await store.receive("q", 10, 30)
    await store.send("q", [OutgoingMessage(b"3", group_id="g")])
    poll = asyncio.create_task(store.receive("q", 10, 30, wait=20))
    await clock.advance(1)
    assert not poll.done()  # 3 waits for its group's batch in flight
    await store.delete("q", [first.receipt, second.receipt])
    await clock.advance(0)
    assert bodies(poll.result()) == [b"3"]


async def test_purge_drops_fresh_returned_delayed_and_in_flight_messages(
    clock: VirtualClock,
) -> None:
    store = MemoryQueueStore(clock)
    await send(store, b"in flight", b"returned")
    await store.receive("q", 2, 5)
    await send(store, b"delayed", delay=100)
    await clock.advance(5)
    await store.receive("q", 1, 30)  # "in flight" is in flight, "returned" came back
    await send(store, b"fresh")
    cut = clock.time() + 1
    await clock.advance(2)
    await send(store, b"kept")
    assert await store.purge("q", cut) == 4
    (kept,) = await store.receive("q", 10, 30)
    assert kept.body == b"kept"
    await store.delete("q", [kept.receipt])
    await clock.advance(200)
    assert await store.receive("q", 10, 30) == []
    assert (await store.stats("q")).total == 0


async def test_a_delivery_stays_as_it_was_handed_out(clock: VirtualClock) -> None:
    """The first receive hands out the stored message itself; whatever happens to the
    message after (it comes back and is received again, deleted, moved), the delivery keeps
    its receipt, receive count and body."""
    store = MemoryQueueStore(clock)
    await send(store, b"m")
    (first,) = await store.receive("q", 1, 5)
    await clock.advance(5)
    (second,) = await store.receive("q", 1, 5)
    assert (first.receipt, first.receive_count) != (second.receipt, second.receive_count)
    assert (first.receive_count, second.receive_count) == (1, 2)
    assert first.receipt.endswith(":1") and second.receipt.endswith(":2")
    assert second.first_received_at == first.first_received_at
    assert await store.delete("q", [first.receipt]) == 0  # a stale receipt
    assert await store.delete("q", [second.receipt]) == 1
    assert (first.body, second.body) == (b"m", b"m")
    assert not first.dead_lettered and not second.dead_lettered
    assert (await store.stats("q")).total == 0


def _slots(message: object) -> dict[str, object]:
    names = [
        name
        for cls in type(message).__mro__
        for name in getattr(cls, "__slots__", ())
        if name not in ("message_id", "sequence")  # each message's own
    ]
    return {name: getattr(message, name) for name in names}


async def test_send_now_stores_the_message_send_would_field_for_field(clock: VirtualClock) -> None:
    """send_now builds a message visible at once inline (its own copy of the constructor's
    work): every slot equals the one the general send stores, in a FIFO group too."""
    store = MemoryQueueStore(clock)
    attributes = {"a": "1"}
    (general,) = await store.send("q", [OutgoingMessage(b'{"x":1}', attributes, 0.0, "g")])
    store.send_now("q", b'{"x":1}', attributes, 0.0, "g")
    first, second = store._queue("q").fresh
    assert first.message_id == general
    assert second.sequence == first.sequence + 1
    assert _slots(second) == _slots(first)
    assert _slots(first)["receive_count"] == 0 and _slots(first)["receipt"] == ""
    (general,) = await store.send("q", [OutgoingMessage(b"plain")])
    store.send_now("q", b"plain", {})
    third, fourth = list(store._queue("q").fresh)[2:]
    assert _slots(fourth) == {**_slots(third), "attributes": {}}


async def test_a_plain_sender_stores_the_message_send_would_field_for_field(
    clock: VirtualClock,
) -> None:
    """The sender bound to a queue (no delay, no group) stores what the general send does,
    slot for slot, takes the next sequence and id, and wakes a waiting receiver."""
    store = MemoryQueueStore(clock)
    attributes = {"traceparent": "00-1-2-01"}
    (general,) = await store.send("q", [OutgoingMessage(b'{"x":1}', attributes)])
    plain = store.plain_sender("q")
    plain_id = plain(b'{"x":1}', attributes)
    first, second = store._queue("q").fresh
    assert first.message_id == general and second.message_id == plain_id != general
    assert second.sequence == first.sequence + 1
    assert _slots(second) == _slots(first)
    assert type(second) is type(first)
    # A purge replaces the queue's structures: the bound sender still sends to the queue.
    assert await store.purge("q", clock.time() + 1) == 2
    waiting = asyncio.create_task(store.receive("q", 10, 5, wait=20))
    await clock.advance(1)
    plain(b"after", {})
    (delivery,) = await waiting
    assert delivery.body == b"after" and delivery.receive_count == 1
    assert clock.now() == 1  # woken by the send, not by the end of its long poll
    assert delivery.sent_at == clock.time()  # the clock bound once is still read per send


async def test_delete_now_counts_each_current_receipt_once(clock: VirtualClock) -> None:
    """A receipt deleted twice in one call, an unknown one and one made stale by a later
    receive count nothing; a FIFO group's deletion wakes the receiver its group blocked."""
    store = MemoryQueueStore(clock)
    await store.send("q", [OutgoingMessage(b"a"), OutgoingMessage(b"b"), OutgoingMessage(b"c")])
    first, second, third = await store.receive("q", 10, 1)
    await clock.advance(2)  # all three come back: their first receipts are stale
    again = await store.receive("q", 10, 30)
    assert [d.message_id for d in again] == [m.message_id for m in (first, second, third)]
    receipts = [first.receipt, first.receipt, "nobody:1", third.receipt, second.receipt]
    assert store.delete_now("q", receipts) == 0
    receipts = [again[0].receipt, again[0].receipt, "nobody:1", first.receipt, again[1].receipt]
    assert store.delete_now("q", receipts) == 2
    assert store.delete_now("q", [again[0].receipt]) == 0
    stats = await store.stats("q")
    assert (stats.visible, stats.in_flight) == (0, 1)
    await store.send(
        "f", [OutgoingMessage(b"1", group_id="g"), OutgoingMessage(b"2", group_id="g")]
    )
    (one,) = await store.receive("f", 1, 30)  # its group is in flight: "2" waits for it
    waiting = asyncio.create_task(store.receive("f", 10, 30, wait=20))
    await clock.advance(1)
    assert store.delete_now("f", [one.receipt, one.receipt]) == 1
    (two,) = await waiting
    assert two.body == b"2" and clock.now() == 3  # woken by the deletion, not its deadline
