"""The QueueStore protocol: order, visibility, receive counts, delays, groups, long polls."""

from __future__ import annotations

import asyncio

import pytest

from eventmesh._errors import ConfigurationError
from eventmesh.backends.protocols import (
    OutgoingMessage,
    QueueStore,
    Redrive,
    RedrivingQueueStore,
    redrives_in_receive,
    sends_now,
)
from eventmesh.testing.conformance.capabilities import Capabilities, Fifo
from eventmesh.testing.conformance.suites.attributes import ReadOnlyAttributes
from eventmesh.testing.conformance.suites.durations import sub_second
from eventmesh.testing.conformance.timing import TimeDriver


def messages(*bodies: str, **options: object) -> list[OutgoingMessage]:
    return [OutgoingMessage(body.encode(), **options) for body in bodies]  # type: ignore[arg-type]


class QueueStoreSuite:
    """The QueueStore protocol; subclass as ``class TestQueueStore(QueueStoreSuite)``."""

    async def test_messages_come_back_in_the_order_sent(
        self, queue_store: QueueStore, timing: TimeDriver
    ) -> None:
        ids = await queue_store.send("q", messages("a", "b", "c"))
        got = await queue_store.receive("q", 10, visibility_timeout=timing.seconds(30))
        assert [d.body for d in got] == [b"a", b"b", b"c"]
        assert [d.message_id for d in got] == ids
        assert len(set(ids)) == 3

    async def test_receive_takes_at_most_max_messages(
        self, queue_store: QueueStore, timing: TimeDriver
    ) -> None:
        await queue_store.send("q", messages(*"abcde"))
        assert len(await queue_store.receive("q", 2, timing.seconds(30))) == 2
        assert len(await queue_store.receive("q", 10, timing.seconds(30))) == 3
        assert await queue_store.receive("q", 10, timing.seconds(30)) == []

    async def test_queues_are_separate(self, queue_store: QueueStore) -> None:
        await queue_store.send("one", messages("1"))
        assert await queue_store.receive("two", 10, 30) == []

    async def test_a_received_message_is_hidden_until_its_visibility_ends(
        self, queue_store: QueueStore, timing: TimeDriver
    ) -> None:
        await queue_store.send("q", messages("m", attributes={"k": "v"}))
        first = await queue_store.receive("q", 1, visibility_timeout=timing.seconds(30))
        await timing.advance_before(29.9)
        assert await queue_store.receive("q", 1, timing.seconds(30)) == []
        await timing.advance_past(0.1)
        second = await queue_store.receive("q", 1, timing.seconds(30))
        assert second[0].message_id == first[0].message_id
        assert (first[0].receive_count, second[0].receive_count) == (1, 2)
        assert second[0].receipt != first[0].receipt
        assert second[0].attributes == {"k": "v"}
        assert second[0].first_received_at == first[0].first_received_at

    async def test_attributes_may_be_any_read_only_mapping(
        self, queue_store: QueueStore, timing: TimeDriver
    ) -> None:
        """Attributes are a ``Mapping[str, str]``, not necessarily a dict: a resource hands
        a read-only one (often one empty map shared by many messages). They come back equal,
        whether given to ``send`` or to ``send_now``, and a receiver's own copy is a dict."""
        some, none = ReadOnlyAttributes({"k": "v", "n": "1"}), ReadOnlyAttributes()
        sent = [OutgoingMessage(b"a", some), OutgoingMessage(b"b", none)]
        sent.append(OutgoingMessage(b"c", some))
        await queue_store.send("q", sent)
        if sends_now(queue_store):
            queue_store.send_now("q", b"d", some)
            queue_store.send_now("q", b"e", none)
        got = await queue_store.receive("q", 10, timing.seconds(30))
        expected = [(b"a", {"k": "v", "n": "1"}), (b"b", {}), (b"c", {"k": "v", "n": "1"})]
        if sends_now(queue_store):
            expected += [(b"d", {"k": "v", "n": "1"}), (b"e", {})]
        assert [(d.body, dict(d.attributes)) for d in got] == expected
        await queue_store.change_visibility("q", got[0].receipt, 0)
        (again,) = await queue_store.receive("q", 1, timing.seconds(30))
        assert (again.body, dict(again.attributes)) == (b"a", {"k": "v", "n": "1"})

    async def test_a_deleted_message_never_comes_back(
        self, queue_store: QueueStore, timing: TimeDriver
    ) -> None:
        await queue_store.send("q", messages("m"))
        (delivery,) = await queue_store.receive("q", 1, timing.seconds(30))
        assert await queue_store.delete("q", [delivery.receipt]) == 1
        await timing.advance_past(60)
        assert await queue_store.receive("q", 1, timing.seconds(30)) == []
        assert (await queue_store.stats("q")).total == 0

    async def test_a_stale_receipt_deletes_nothing(
        self, queue_store: QueueStore, timing: TimeDriver, capabilities: Capabilities
    ) -> None:
        await queue_store.send("q", messages("m"))
        (old,) = await queue_store.receive("q", 1, timing.seconds(10))
        await timing.advance_past(10)
        (new,) = await queue_store.receive("q", 1, timing.seconds(10))
        if not capabilities.stale_receipts_rejected:  # the engine deletes by message, not receive
            assert await queue_store.delete("q", [old.receipt]) == 1
            assert await queue_store.delete("q", [new.receipt]) == 0
            return
        assert await queue_store.delete("q", [old.receipt]) == 0
        assert await queue_store.delete("q", [new.receipt]) == 1

    async def test_a_delayed_message_is_invisible_until_its_delay_passes(
        self, queue_store: QueueStore, timing: TimeDriver
    ) -> None:
        await queue_store.send("q", messages("later", delay=timing.seconds(60)))
        await queue_store.send("q", messages("now"))
        now = await queue_store.receive("q", 10, timing.seconds(30))
        assert [d.body for d in now] == [b"now"]
        stats = await queue_store.stats("q")
        assert (stats.visible, stats.in_flight, stats.delayed) == (0, 1, 1)
        await queue_store.delete("q", [now[0].receipt])
        await timing.advance_past(60)
        assert [d.body for d in await queue_store.receive("q", 10, timing.seconds(30))] == [
            b"later"
        ]

    async def test_change_visibility_extends_or_ends_the_hiding(
        self, queue_store: QueueStore, timing: TimeDriver
    ) -> None:
        await queue_store.send("q", messages("m"))
        (delivery,) = await queue_store.receive("q", 1, timing.seconds(10))
        assert await queue_store.change_visibility("q", delivery.receipt, timing.seconds(100))
        await timing.advance_before(50)
        # still hidden past the first 10 s
        assert await queue_store.receive("q", 1, timing.seconds(10)) == []
        await timing.advance_past(50)
        (returned,) = await queue_store.receive("q", 1, timing.seconds(10))
        assert await queue_store.change_visibility("q", returned.receipt, timing.seconds(0))
        assert len(await queue_store.receive("q", 1, timing.seconds(10))) == 1
        assert not await queue_store.change_visibility("q", "no-such-receipt", timing.seconds(5))

    async def test_a_long_poll_returns_as_soon_as_a_message_arrives(
        self, queue_store: QueueStore, timing: TimeDriver
    ) -> None:
        waiting = asyncio.create_task(
            queue_store.receive("q", 10, timing.seconds(30), wait=timing.seconds(20))
        )
        await timing.advance(5)
        assert not waiting.done()
        await queue_store.send("q", messages("arrived"))
        await timing.advance_past(0)
        assert [d.body for d in await waiting] == [b"arrived"]

    async def test_a_long_poll_gives_up_after_its_wait(
        self, queue_store: QueueStore, timing: TimeDriver
    ) -> None:
        waiting = asyncio.create_task(
            queue_store.receive("q", 10, timing.seconds(30), wait=timing.seconds(20))
        )
        await timing.advance_before(19.9)
        assert not waiting.done()
        await timing.advance_past(0.1)
        assert await waiting == []

    async def test_a_long_poll_sees_a_delayed_message_become_visible(
        self, queue_store: QueueStore, timing: TimeDriver
    ) -> None:
        await queue_store.send("q", messages("delayed", delay=timing.seconds(5)))
        waiting = asyncio.create_task(
            queue_store.receive("q", 10, timing.seconds(30), wait=timing.seconds(20))
        )
        await timing.advance_past(5)
        assert [d.body for d in await waiting] == [b"delayed"]

    async def test_a_group_waits_while_an_earlier_message_of_it_is_in_flight(
        self, queue_store: QueueStore, capabilities: Capabilities, timing: TimeDriver
    ) -> None:
        await queue_store.send("q", messages("a1", "a2", group_id="a"))
        await queue_store.send("q", messages("b1", group_id="b"))
        first = await queue_store.receive("q", 1, timing.seconds(30))
        assert [d.body for d in first] == [b"a1"]
        rest = [d.body for d in await queue_store.receive("q", 10, timing.seconds(30))]
        if capabilities.fifo is Fifo.NONE:
            assert rest == [b"a2", b"b1"]  # a group holds nothing back
            return
        if capabilities.fifo is Fifo.EXACT:
            assert rest == [b"b1"]  # a2 must wait for a1; b1 may go.
        else:
            assert rest in ([b"b1"], [])  # b1 waits too when its group shares a's partition
        await queue_store.delete("q", [first[0].receipt])
        after = [d.body for d in await queue_store.receive("q", 10, timing.seconds(30))]
        assert after == ([b"a2"] if rest else [b"a2", b"b1"])

    async def test_a_group_returns_in_order_after_a_visibility_timeout(
        self, queue_store: QueueStore, timing: TimeDriver, capabilities: Capabilities
    ) -> None:
        await queue_store.send("q", messages("1", "2", "3", group_id="g"))
        batch = await queue_store.receive("q", 10, timing.seconds(30))
        assert [d.body for d in batch] == [b"1", b"2", b"3"]
        await timing.advance_past(30)
        again = await queue_store.receive("q", 10, timing.seconds(30))
        if capabilities.fifo is Fifo.NONE:
            assert sorted(d.body for d in again) == [b"1", b"2", b"3"]
        else:
            assert [d.body for d in again] == [b"1", b"2", b"3"]
        assert all(d.group_id == "g" for d in again)

    async def test_many_concurrent_receivers_never_share_a_message(
        self, queue_store: QueueStore, timing: TimeDriver
    ) -> None:
        await queue_store.send("q", messages(*(str(i) for i in range(200))))

        async def consumer() -> list[bytes]:
            got: list[bytes] = []
            while batch := await queue_store.receive("q", 3, timing.seconds(30)):
                got.extend(d.body for d in batch)
                await asyncio.sleep(0)
            return got

        results = await asyncio.gather(*(consumer() for _ in range(8)))
        everything = [body for result in results for body in result]
        assert sorted(everything) == sorted(str(i).encode() for i in range(200))

    async def test_a_message_returned_early_and_received_again_comes_back_once(
        self, queue_store: QueueStore, timing: TimeDriver
    ) -> None:
        await queue_store.send("q", messages("m"))
        (first,) = await queue_store.receive("q", 1, timing.seconds(10))
        assert await queue_store.change_visibility("q", first.receipt, timing.seconds(0))
        assert len(await queue_store.receive("q", 1, timing.seconds(10))) == 1
        await timing.advance_past(10)
        again = await queue_store.receive("q", 10, timing.seconds(10))
        assert [d.receive_count for d in again] == [3]
        assert (await queue_store.stats("q")).delayed == 0

    async def test_purge_removes_what_was_sent_before_a_time(
        self, queue_store: QueueStore, timing: TimeDriver
    ) -> None:
        await queue_store.send("q", messages("old-in-flight", "old-ready"))
        await queue_store.send("q", messages("old-delayed", delay=timing.seconds(50)))
        (in_flight,) = await queue_store.receive("q", 1, timing.seconds(60))
        assert in_flight.body == b"old-in-flight"
        await timing.advance(20)
        cutoff = timing.wall()
        await queue_store.send("q", messages("new"))
        assert await queue_store.purge("q", cutoff) == 3
        assert await queue_store.delete("q", [in_flight.receipt]) == 0
        stats = await queue_store.stats("q")
        assert (stats.visible, stats.in_flight, stats.delayed) == (1, 0, 0)
        await timing.advance_past(40)  # past the delay's end and the receive's visibility
        assert [d.body for d in await queue_store.receive("q", 10, timing.seconds(30))] == [b"new"]

    async def test_purging_a_groups_in_flight_head_frees_the_group_for_a_waiting_receiver(
        self, queue_store: QueueStore, timing: TimeDriver, capabilities: Capabilities
    ) -> None:
        await queue_store.send("q", messages("a", group_id="g"))
        await timing.advance(10)
        await queue_store.send("q", messages("b", group_id="g"))
        assert [d.body for d in await queue_store.receive("q", 1, timing.seconds(600))] == [b"a"]
        if capabilities.fifo is Fifo.NONE:
            got = await queue_store.receive("q", 10, timing.seconds(30))
            assert [d.body for d in got] == [b"b"]  # no hold
            return
        waiting = asyncio.create_task(
            queue_store.receive("q", 10, timing.seconds(30), wait=timing.seconds(20))
        )
        await timing.advance(1)
        assert not waiting.done(), "b waits for a, in flight"
        assert await queue_store.purge("q", timing.wall() - timing.seconds(5)) == 1
        await timing.advance_past(0)
        assert [d.body for d in await waiting] == [b"b"]

    async def test_delete_counts_every_current_receipt_and_skips_stale_ones(
        self, queue_store: QueueStore, timing: TimeDriver
    ) -> None:
        """SQS DeleteMessageBatch deletes each entry on its own: a stale receipt among current ones
        deletes nothing and does not stop the others."""
        await queue_store.send("q", messages("a", "b", "c"))
        (old,) = await queue_store.receive("q", 1, timing.seconds(10))
        await timing.advance_past(10)
        got = await queue_store.receive("q", 10, timing.seconds(10))
        assert [d.body for d in got] == [b"a", b"b", b"c"]
        receipts = [old.receipt] + [d.receipt for d in got]
        assert await queue_store.delete("q", receipts) == 3
        assert (await queue_store.stats("q")).total == 0

    async def test_a_deleted_message_is_not_purged_again(
        self, queue_store: QueueStore, timing: TimeDriver
    ) -> None:
        """purge counts the messages it removes; a message already deleted is not one of them."""
        await queue_store.send("q", messages("gone"))
        (delivery,) = await queue_store.receive("q", 1, timing.seconds(30))
        assert await queue_store.delete("q", [delivery.receipt]) == 1
        await timing.advance(1)
        assert await queue_store.purge("q", timing.wall()) == 0
        assert (await queue_store.stats("q")).total == 0

    async def test_purge_counts_each_removed_message(
        self, queue_store: QueueStore, timing: TimeDriver
    ) -> None:
        await queue_store.send("q", messages("r1", "r2"))
        await queue_store.send("q", messages("d1", "d2", delay=timing.seconds(300)))
        await timing.advance(1)
        assert await queue_store.purge("q", timing.wall()) == 4
        stats = await queue_store.stats("q")
        assert (stats.visible, stats.in_flight, stats.delayed) == (0, 0, 0)

    async def test_purge_keeps_messages_sent_at_its_time(
        self, queue_store: QueueStore, timing: TimeDriver
    ) -> None:
        """purge removes what was sent strictly before ``sent_before``."""
        cutoff = timing.wall()
        await queue_store.send("q", messages("in-flight", "ready"))
        await queue_store.send("q", messages("delayed", delay=timing.seconds(300)))
        (in_flight,) = await queue_store.receive("q", 1, timing.seconds(600))
        assert await queue_store.purge("q", cutoff) == 0
        stats = await queue_store.stats("q")
        assert (stats.visible, stats.in_flight, stats.delayed) == (1, 1, 1)
        assert await queue_store.delete("q", [in_flight.receipt]) == 1

    async def test_stats_count_every_delayed_message(
        self, queue_store: QueueStore, timing: TimeDriver
    ) -> None:
        """SQS ApproximateNumberOfMessagesDelayed: each delayed message counts until its delay
        ends."""
        await queue_store.send("q", messages("a", "b", delay=timing.seconds(60)))
        await queue_store.send("q", messages("c", "d", "e", delay=timing.seconds(120)))
        assert (await queue_store.stats("q")).delayed == 5
        await timing.advance_past(60)
        stats = await queue_store.stats("q")
        assert (stats.visible, stats.in_flight, stats.delayed) == (2, 0, 3)
        await timing.advance_past(60)
        stats = await queue_store.stats("q")
        assert (stats.visible, stats.in_flight, stats.delayed) == (5, 0, 0)

    async def test_a_sub_second_delay_still_hides_the_message(
        self, queue_store: QueueStore, timing: TimeDriver
    ) -> None:
        """A delay under a second is kept, not rounded to none. The checks right after the
        send must come before it ends, by the backend's clock tolerance on a loaded machine
        (see :func:`~eventmesh.testing.conformance.suites.durations.sub_second`)."""
        delay = sub_second(timing)
        await queue_store.send("q", messages("soon", delay=timing.seconds(delay)))
        assert await queue_store.receive("q", 10, timing.seconds(30)) == []
        assert (await queue_store.stats("q")).delayed == 1
        await timing.advance_past(delay)
        assert [d.body for d in await queue_store.receive("q", 10, timing.seconds(30))] == [b"soon"]

    async def test_deleting_a_groups_head_wakes_a_receiver_waiting_for_the_group(
        self, queue_store: QueueStore, timing: TimeDriver, capabilities: Capabilities
    ) -> None:
        """SQS FIFO: the next message of a group is available as soon as the one in flight is
        deleted; a long poll waiting for it returns then, not at the end of its wait."""
        await queue_store.send("q", messages("a1", "a2", group_id="a"))
        (head,) = await queue_store.receive("q", 1, timing.seconds(30))
        if capabilities.fifo is Fifo.NONE:
            got = await queue_store.receive("q", 10, timing.seconds(30))
            assert [d.body for d in got] == [b"a2"]  # no hold
            return
        waiting = asyncio.create_task(
            queue_store.receive("q", 10, timing.seconds(30), wait=timing.seconds(20))
        )
        await timing.advance(1)
        assert not waiting.done(), "a2 waits for a1, in flight"
        assert await queue_store.delete("q", [head.receipt]) == 1
        await timing.advance_past(0)
        assert waiting.done()
        assert [d.body for d in await waiting] == [b"a2"]

    async def test_returning_a_message_early_wakes_a_waiting_receiver(
        self, queue_store: QueueStore, timing: TimeDriver
    ) -> None:
        """SQS ChangeMessageVisibility with a timeout of 0 makes the message visible at once."""
        await queue_store.send("q", messages("m"))
        (first,) = await queue_store.receive("q", 1, timing.seconds(30))
        waiting = asyncio.create_task(
            queue_store.receive("q", 10, timing.seconds(30), wait=timing.seconds(20))
        )
        await timing.advance(1)
        assert not waiting.done()
        assert await queue_store.change_visibility("q", first.receipt, timing.seconds(0))
        await timing.advance_past(0)
        assert waiting.done()
        assert [(d.body, d.receive_count) for d in await waiting] == [(b"m", 2)]

    async def test_many_deletes_keep_the_remaining_messages(
        self, queue_store: QueueStore, timing: TimeDriver
    ) -> None:
        """Deleting thousands of received messages leaves the others as they were: an in-flight
        message still returns when its visibility ends and a delayed one when its delay ends."""
        await queue_store.send("q", messages("keep"))
        await queue_store.send("q", messages(*(str(i) for i in range(1100))))
        await queue_store.send("q", messages("later", delay=timing.seconds(100)))
        (kept,) = await queue_store.receive("q", 1, timing.seconds(50))
        assert kept.body == b"keep"
        got = await queue_store.receive("q", 1100, timing.seconds(30))
        assert len(got) == 1100
        assert await queue_store.delete("q", [d.receipt for d in got]) == 1100
        stats = await queue_store.stats("q")
        assert (stats.visible, stats.in_flight, stats.delayed) == (0, 1, 1)
        await timing.advance_past(50)
        assert [
            (d.body, d.receive_count)
            for d in await queue_store.receive("q", 10, timing.seconds(100))
        ] == [(b"keep", 2)]
        await timing.advance_past(50)
        assert [d.body for d in await queue_store.receive("q", 10, timing.seconds(30))] == [
            b"later"
        ]

    async def test_a_delivery_carries_its_send_and_first_receive_times(
        self, queue_store: QueueStore, timing: TimeDriver
    ) -> None:
        """SQS SentTimestamp and ApproximateFirstReceiveTimestamp, as wall-clock epoch seconds."""
        await queue_store.send("q", messages("m"))
        await timing.advance(5)
        (first,) = await queue_store.receive("q", 1, timing.seconds(10))
        await timing.advance_past(10)
        (second,) = await queue_store.receive("q", 1, timing.seconds(10))
        assert (first.sent_at, first.first_received_at) == (timing.at(0), timing.at(5))
        assert (second.sent_at, second.first_received_at) == (timing.at(0), timing.at(5))

    async def test_a_sub_second_long_poll_waits_for_its_message(
        self, queue_store: QueueStore, timing: TimeDriver
    ) -> None:
        """A wait under a second is kept, not rounded to none. The message comes half-way:
        that half must cover the backend's clock tolerance, or on a loaded machine the poll
        could end before the send reaches it (see
        :func:`~eventmesh.testing.conformance.suites.durations.sub_second`)."""
        wait = sub_second(timing)
        waiting = asyncio.create_task(
            queue_store.receive("q", 10, timing.seconds(30), wait=timing.seconds(wait))
        )
        await timing.advance(wait / 2)
        assert not waiting.done()
        await queue_store.send("q", messages("arrived"))
        await timing.advance_past(0)
        assert [d.body for d in await waiting] == [b"arrived"]

    async def test_close_ends_a_long_poll(
        self, queue_store: QueueStore, timing: TimeDriver
    ) -> None:
        waiting = asyncio.create_task(
            queue_store.receive("q", 10, timing.seconds(30), wait=timing.seconds(20))
        )
        await timing.advance(1)
        assert not waiting.done()
        await queue_store.close()
        await timing.advance_past(0)
        assert waiting.done()
        assert await waiting == []

    async def test_hiding_a_message_twice_for_the_same_time_returns_it_once(
        self, queue_store: QueueStore, timing: TimeDriver
    ) -> None:
        await queue_store.send("q", messages("m"))
        (delivery,) = await queue_store.receive("q", 1, timing.seconds(30))
        assert await queue_store.change_visibility("q", delivery.receipt, timing.seconds(10))
        assert await queue_store.change_visibility("q", delivery.receipt, timing.seconds(10))
        await timing.advance_past(10)
        again = await queue_store.receive("q", 10, timing.seconds(30))
        assert [(d.body, d.receive_count) for d in again] == [(b"m", 2)]
        stats = await queue_store.stats("q")
        assert (stats.visible, stats.in_flight, stats.delayed) == (0, 1, 0)

    async def test_messages_sent_together_wake_as_many_waiting_receivers(
        self, queue_store: QueueStore, timing: TimeDriver
    ) -> None:
        """Each long poll returns as soon as a message is there for it, not at the end of its
        wait."""
        first = asyncio.create_task(
            queue_store.receive("q", 1, timing.seconds(30), wait=timing.seconds(20))
        )
        second = asyncio.create_task(
            queue_store.receive("q", 1, timing.seconds(30), wait=timing.seconds(20))
        )
        await timing.advance(1)
        assert not first.done() and not second.done()
        await queue_store.send("q", messages("a", "b"))
        await timing.advance_past(0)
        assert first.done() and second.done()
        assert sorted(d.body for d in [*await first, *await second]) == [b"a", b"b"]

    async def test_the_longest_delay_is_as_declared(
        self, queue_store: QueueStore, capabilities: Capabilities, timing: TimeDriver
    ) -> None:
        """A delay up to ``max_delay`` hides the message; a longer one is refused and stores
        nothing (never shortened, which would deliver early); no limit: a month is kept."""
        longest = capabilities.max_delay
        await queue_store.send("q", messages("longest", delay=longest or 30 * 86400.0))
        assert (await queue_store.stats("q")).delayed == 1
        if longest is not None:
            with pytest.raises(ConfigurationError):
                await queue_store.send("q", messages("too-long", delay=longest + 1))
            assert (await queue_store.stats("q")).total == 1
        assert await queue_store.receive("q", 10, timing.seconds(30)) == []

    # -- redrive within the receive (stores that declare it) ----------------------------------
    async def test_the_store_declares_redrive_in_receive_as_its_record_says(
        self, queue_store: QueueStore, capabilities: Capabilities
    ) -> None:
        assert redrives_in_receive(queue_store) is capabilities.redrive_in_receive

    async def test_a_receive_past_the_maximum_moves_the_message_to_the_dead_letter_queue(
        self, queue_store: QueueStore, timing: TimeDriver, capabilities: Capabilities
    ) -> None:
        """Moved once, by the receive that exceeds the count: the original is gone, the
        dead-letter copy keeps id, body, attributes and sent time and starts unreceived."""
        store = _redriving(queue_store, capabilities)
        if store is None:
            return
        policy = Redrive("dlq", 2)
        (sent,) = await store.send("q", messages("m", attributes={"k": "v"}))
        await store.send("dlq", messages("already there"))
        await timing.advance(5)
        for count in (1, 2):
            (delivery,) = await store.receive("q", 10, timing.seconds(10), redrive=policy)
            assert (delivery.receive_count, delivery.dead_lettered) == (count, False)
            await timing.advance_past(10)
        (moved,) = await store.receive("q", 10, timing.seconds(10), redrive=policy)
        assert (moved.message_id, moved.receipt, moved.dead_lettered) == (sent, "", True)
        assert (moved.body, moved.attributes, moved.receive_count) == (b"m", {"k": "v"}, 3)
        assert (moved.sent_at, moved.first_received_at) == (timing.at(0), timing.at(5))
        assert (await store.stats("q")).total == 0
        assert await store.receive("q", 10, timing.seconds(10), redrive=policy) == []
        assert await store.delete("q", [delivery.receipt]) == 0, "the last receipt is stale"
        dead = await store.receive("dlq", 10, timing.seconds(10))
        assert [d.body for d in dead] == [b"already there", b"m"], "at the end of the queue"
        assert dead[1].message_id == sent
        assert dead[1].attributes == {"k": "v"}
        assert dead[1].receive_count == 1
        assert dead[1].sent_at == timing.at(0), "the time it was first sent"
        assert dead[1].first_received_at == timing.at(25)
        assert await store.delete("dlq", [dead[1].receipt]) == 1

    async def test_a_message_at_the_maximum_is_delivered_and_one_never_received_is_not_moved(
        self, queue_store: QueueStore, timing: TimeDriver, capabilities: Capabilities
    ) -> None:
        store = _redriving(queue_store, capabilities)
        if store is None:
            return
        await store.send("q", messages("m"))
        (first,) = await store.receive("q", 1, timing.seconds(10), redrive=Redrive("dlq", 1))
        assert not first.dead_lettered
        assert await store.receive("q", 1, timing.seconds(10), redrive=Redrive("dlq", 1)) == []
        await timing.advance_past(10)
        (again,) = await store.receive("q", 1, timing.seconds(10), redrive=Redrive("dlq", 2))
        assert (again.receive_count, again.dead_lettered) == (2, False)
        assert (await store.stats("dlq")).total == 0

    async def test_one_receive_moves_every_message_past_the_maximum_and_delivers_the_rest(
        self, queue_store: QueueStore, timing: TimeDriver, capabilities: Capabilities
    ) -> None:
        store = _redriving(queue_store, capabilities)
        if store is None:
            return
        policy = Redrive("dlq", 1)
        await store.send("q", messages("x", "y"))
        assert len(await store.receive("q", 10, timing.seconds(10), redrive=policy)) == 2
        await store.send("q", messages("z"))
        await timing.advance_past(10)
        got = await store.receive("q", 10, timing.seconds(10), redrive=policy)
        assert [(d.body, d.dead_lettered) for d in got] == [
            (b"x", True),
            (b"y", True),
            (b"z", False),
        ]
        assert [d.body for d in await store.receive("dlq", 10, timing.seconds(10))] == [
            b"x",
            b"y",
        ]

    async def test_a_long_poll_moves_a_message_that_comes_back_during_its_wait(
        self, queue_store: QueueStore, timing: TimeDriver, capabilities: Capabilities
    ) -> None:
        store = _redriving(queue_store, capabilities)
        if store is None:
            return
        policy = Redrive("dlq", 1)
        await store.send("q", messages("m"))
        await store.receive("q", 1, timing.seconds(10), redrive=policy)
        polling = asyncio.create_task(
            store.receive("q", 1, timing.seconds(10), wait=timing.seconds(20), redrive=policy)
        )
        await timing.advance_past(10)
        (moved,) = await polling
        assert (moved.body, moved.dead_lettered) == (b"m", True)
        assert (await store.stats("dlq")).visible == 1

    async def test_concurrent_receivers_move_each_message_exactly_once(
        self, queue_store: QueueStore, timing: TimeDriver, capabilities: Capabilities
    ) -> None:
        store = _redriving(queue_store, capabilities)
        if store is None:
            return
        policy = Redrive("dlq", 1)
        ids = await store.send("q", messages(*(str(i) for i in range(40))))
        assert len(await store.receive("q", 40, timing.seconds(10), redrive=policy)) == 40
        await timing.advance_past(10)

        async def receiver() -> list[str]:
            moved: list[str] = []
            while batch := await store.receive("q", 3, timing.seconds(10), redrive=policy):
                assert all(d.dead_lettered for d in batch)
                moved.extend(d.message_id for d in batch)
                await asyncio.sleep(0)
            return moved

        results = await asyncio.gather(*(receiver() for _ in range(6)))
        assert sorted(i for result in results for i in result) == sorted(ids)
        stats = await store.stats("dlq")
        assert (stats.visible, stats.total) == (40, 40)
        dead = await store.receive("dlq", 40, timing.seconds(10))
        assert [d.message_id for d in dead] == ids, "in the order they were sent"

    async def test_moving_a_groups_head_frees_the_group(
        self, queue_store: QueueStore, timing: TimeDriver, capabilities: Capabilities
    ) -> None:
        """The group's next message is not held back by the one that moved, which keeps
        its group in the dead-letter queue."""
        store = _redriving(queue_store, capabilities)
        if store is None or capabilities.fifo is not Fifo.EXACT:
            return
        policy = Redrive("dlq", 1)
        await store.send("q", messages("a", "b", group_id="g"))
        (head,) = await store.receive("q", 1, timing.seconds(10), redrive=policy)
        assert head.body == b"a"
        assert await store.receive("q", 10, timing.seconds(10), redrive=policy) == []
        await timing.advance_past(10)
        (moved,) = await store.receive("q", 1, timing.seconds(10), redrive=policy)
        assert (moved.body, moved.dead_lettered, moved.group_id) == (b"a", True, "g")
        (following,) = await store.receive("q", 10, timing.seconds(10), redrive=policy)
        assert (following.body, following.dead_lettered) == (b"b", False)
        (dead,) = await store.receive("dlq", 10, timing.seconds(10))
        assert (dead.body, dead.group_id) == (b"a", "g")
        await store.send("dlq", messages("c", group_id="g"))
        assert await store.receive("dlq", 10, timing.seconds(10)) == [], "its group in flight"
        assert await store.delete("dlq", [dead.receipt]) == 1
        assert [d.body for d in await store.receive("dlq", 10, timing.seconds(10))] == [b"c"]

    async def test_moves_wake_as_many_receivers_waiting_on_the_dead_letter_queue(
        self, queue_store: QueueStore, timing: TimeDriver, capabilities: Capabilities
    ) -> None:
        store = _redriving(queue_store, capabilities)
        if store is None:
            return
        await store.send("q", messages("m", "n"))
        await store.receive("q", 2, timing.seconds(10))
        await timing.advance_past(10)
        waiting = [
            asyncio.create_task(
                store.receive("dlq", 1, timing.seconds(30), wait=timing.seconds(20))
            )
            for _ in range(2)
        ]
        await timing.advance(1)
        assert not any(task.done() for task in waiting)
        await store.receive("q", 2, timing.seconds(10), redrive=Redrive("dlq", 1))
        await timing.advance_past(0)
        done, _ = await asyncio.wait(waiting, timeout=timing.seconds(5))
        assert len(done) == 2, "each moved message wakes a waiting receiver"
        got = sorted(d.body for task in waiting for d in task.result())
        assert got == [b"m", b"n"]


def _redriving(store: QueueStore, capabilities: Capabilities) -> RedrivingQueueStore | None:
    """The store, if its record says it redrives in the receive (and it declares so)."""
    if not capabilities.redrive_in_receive:
        return None
    assert redrives_in_receive(store)
    return store
