"""Edge cases of the memory queue store found in review: a purge frees what it purged, two
heap places that tie do not crash a receive, a change of visibility after the timeout
answers as SQS does whatever came before, and a long poll never sleeps past a visible
message."""

from __future__ import annotations

import asyncio

from eventmesh import Mesh, Telemetry
from eventmesh.backends import OutgoingMessage
from eventmesh.backends.memory import MemoryQueueStore
from eventmesh.testing import VirtualClock


def _places(store: MemoryQueueStore, queue: str) -> int:
    state = store._queues[queue]
    return sum(len(messages) for _, messages in state.timeline) + len(state.hidden)


async def test_a_purge_drops_the_places_of_delayed_and_hidden_messages(
    clock: VirtualClock,
) -> None:
    """Purged messages (bodies included) are not kept until their delay (up to 900 s) or
    their changed visibility (up to 12 h) ends."""
    store = MemoryQueueStore(clock)
    await store.send("q", [OutgoingMessage(b"x" * 1000, {}, 900) for _ in range(100)])
    await store.send("q", [OutgoingMessage(b"live") for _ in range(10)])
    taken = store.receive_now("q", 10, 43_200)
    for delivery in taken:
        assert await store.change_visibility("q", delivery.receipt, 43_200)
    assert await store.purge("q", clock.time() + 1) == 110
    stats = await store.stats("q")
    assert (stats.visible, stats.in_flight, stats.delayed) == (0, 0, 0)
    assert _places(store, "q") == 0


async def test_after_a_purge_the_stale_count_matches_the_stale_places(clock: VirtualClock) -> None:
    store = MemoryQueueStore(clock)
    await store.send("q", [OutgoingMessage(b"m") for _ in range(10)])
    taken = store.receive_now("q", 10, 30)
    store.delete_now("q", [taken[0].receipt])
    await store.send("q", [OutgoingMessage(b"n") for _ in range(10)])
    store.receive_now("q", 10, 60)
    assert await store.purge("q", clock.time() + 1) == 19
    state = store._queues["q"]
    stale_places = sum(
        1
        for deadline, messages in state.timeline
        for message in messages
        if not message.in_flight or message.visible_at != deadline
    )
    assert state.stale == stale_places == 0


async def test_two_heap_places_with_one_time_and_sequence_do_not_break_a_receive(
    clock: VirtualClock,
) -> None:
    """A stale place of a message and its later copy's place can tie on time and sequence;
    the receive that makes the tie hands the copy out, and it comes back after its
    visibility timeout like any other."""
    store = MemoryQueueStore(clock)
    await store.send("q", [OutgoingMessage(b"a"), OutgoingMessage(b"b")])
    (a,) = store.receive_now("q", 1, 5)
    store.receive_now("q", 1, 30)  # the timeline now ends at 30
    assert await store.change_visibility("q", a.receipt, 5)
    await clock.advance(1)
    assert await store.change_visibility("q", a.receipt, 0)  # back now; its place at 5 stale
    (again,) = store.receive_now("q", 1, 4)  # hidden until 5: the same time and sequence
    assert (again.body, again.receive_count) == (b"a", 2)
    await clock.advance(4)
    (third,) = store.receive_now("q", 10, 30)
    assert (third.body, third.receive_count) == (b"a", 3)


async def test_a_change_of_visibility_after_the_timeout_finds_the_message_not_in_flight(
    clock: VirtualClock,
) -> None:
    """SQS answers MessageNotInflight once the visibility timeout ended, with or without
    another call in between; the message stays visible."""
    store = MemoryQueueStore(clock)
    await store.send("q", [OutgoingMessage(b"a")])
    (delivery,) = store.receive_now("q", 1, 5)
    await clock.advance(6)
    assert not await store.change_visibility("q", delivery.receipt, 30)
    assert [d.body for d in store.receive_now("q", 1, 5)] == [b"a"]


async def test_a_long_poll_after_empty_returns_a_message_already_visible_at_once(
    clock: VirtualClock,
) -> None:
    store = MemoryQueueStore(clock)
    await store.send("q", [OutgoingMessage(b"m")])
    poll = asyncio.create_task(store.receive_after_empty("q", 10, 30, 20))
    await clock.advance(0)
    assert poll.done()
    assert [d.body for d in poll.result()] == [b"m"]


async def test_a_long_poll_whose_take_all_went_to_the_dead_letters_takes_no_more(
    clock: VirtualClock,
) -> None:
    """When the wait is over and everything a take found was moved to the dead-letter queue,
    the receive returns empty, as the general path does: a second message past its maximum
    receive count stays where it is until the next receive."""
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False))
    queue = mesh.queue("work", max_receive_count=1, dead_letter="dead")
    dead = mesh.queue("dead")
    async with mesh:
        await queue.send({"n": 1})
        await queue.send({"n": 2})
        assert len(await queue.take_records(10, 0, 1)) == 2  # both at their maximum count
        await clock.advance(0.5)
        poll = asyncio.create_task(queue.take_records(1, 0.5, 0))  # ends as they come back
        await clock.advance(0.5)
        assert len(poll.result()) == 0
        assert (queue.limit.pending, dead.limit.pending) == (1, 1)
        assert len(await queue.take_records(1, 0, 0)) == 0  # the next receive moves the other
        assert (queue.limit.pending, dead.limit.pending) == (0, 2)
