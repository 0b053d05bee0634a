"""The SQS-style queue: messages, visibility, redrive, FIFO, deduplication, retention."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from eventmesh import ConfigurationError, Context, Mesh, PayloadError
from eventmesh.resources.queue import Queue
from eventmesh.testing import VirtualClock


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


async def test_a_message_round_trips_with_sqs_fields(mesh: Mesh, clock: VirtualClock) -> None:
    queue = mesh.queue("orders")
    async with mesh:
        await clock.advance(1.5)
        message_id = await queue.send({"id": 7}, {"origin": "web", "priority": 3})
        (message,) = await queue.receive()
    assert message.message_id == message_id
    assert message.body == '{"id":7}'
    assert message.json() == {"id": 7}
    assert message.md5_of_body == md5('{"id":7}')
    assert message.attributes["ApproximateReceiveCount"] == "1"
    assert message.attributes["SentTimestamp"] == str(int((clock.time()) * 1000))
    assert message.message_attributes == {
        "origin": {"DataType": "String", "StringValue": "web"},
        "priority": {"DataType": "Number", "StringValue": "3"},
    }


async def test_strings_are_sent_as_they_are(mesh: Mesh) -> None:
    queue = mesh.queue("plain")
    async with mesh:
        await queue.send("hello, queue")
        (message,) = await queue.receive()
    assert message.body == "hello, queue"


async def test_a_received_message_comes_back_after_its_visibility_timeout(
    mesh: Mesh, clock: VirtualClock
) -> None:
    queue = mesh.queue("jobs", visibility_timeout=45)
    async with mesh:
        await queue.send("work")
        (first,) = await queue.receive()
        await clock.advance(44)
        assert await queue.receive() == []
        await clock.advance(1)
        (second,) = await queue.receive()
        assert await queue.delete(second.receipt_handle)
        await clock.advance(100)
        assert await queue.receive() == []
    assert first.message_id == second.message_id
    assert second.attributes["ApproximateReceiveCount"] == "2"


async def test_change_visibility_and_receive_override(mesh: Mesh, clock: VirtualClock) -> None:
    queue = mesh.queue("jobs")
    async with mesh:
        await queue.send("work")
        (message,) = await queue.receive(visibility_timeout=5)
        assert await queue.change_visibility(message.receipt_handle, 120)
        await clock.advance(119)
        assert await queue.receive() == []
        await clock.advance(1)
        assert len(await queue.receive()) == 1
        with pytest.raises(ConfigurationError, match="timeout must be a number from 0 to 43200"):
            await queue.change_visibility(message.receipt_handle, 50000)


async def test_delays_per_queue_and_per_message(mesh: Mesh, clock: VirtualClock) -> None:
    slow = mesh.queue("slow", delay=30)
    async with mesh:
        await slow.send("queue delay")
        await slow.send("message delay", delay=90)
        await clock.advance(29)
        assert await slow.receive(10) == []
        await clock.advance(1)
        (first,) = await slow.receive(10)
        assert first.body == "queue delay"
        await slow.delete(first.receipt_handle)
        await clock.advance(60)
        assert [m.body for m in await slow.receive(10)] == ["message delay"]


async def test_a_message_received_too_often_moves_to_the_dead_letter_queue(
    mesh: Mesh, clock: VirtualClock
) -> None:
    queue = mesh.queue("orders", visibility_timeout=10, max_receive_count=3, dead_letter="dlq")
    dlq = mesh.queue("dlq")
    async with mesh:
        await queue.send("poison")
        for _ in range(3):
            assert len(await queue.receive()) == 1
            await clock.advance(10)
        assert await queue.receive() == [], "the fourth receive redrives instead of delivering"
        (dead,) = await dlq.receive()
    assert dead.body == "poison"


async def test_messages_older_than_the_retention_are_dropped(
    mesh: Mesh, clock: VirtualClock
) -> None:
    queue = mesh.queue("short", retention=60)
    async with mesh:
        await queue.send("old")
        await clock.advance(61)
        await queue.send("new")
        assert [m.body for m in await queue.receive(10)] == ["new"]
        assert (await queue.stats()).total == 1


async def test_fifo_keeps_group_order_and_one_batch_in_flight(mesh: Mesh) -> None:
    queue = mesh.queue("orders.fifo", content_based_deduplication=True)
    async with mesh:
        for i in range(3):
            await queue.send(f"a{i}", group_id="a")
        await queue.send("b0", group_id="b")
        first = await queue.receive(2)
        assert [m.body for m in first] == ["a0", "a1"]
        # Group a is in flight: only b may be received now.
        assert [m.body for m in await queue.receive(10)] == ["b0"]
        for message in first:
            await queue.delete(message.receipt_handle)
        (last,) = await queue.receive(10)
    assert last.body == "a2"
    assert last.attributes["MessageGroupId"] == "a"
    assert int(first[0].attributes["SequenceNumber"]) < int(first[1].attributes["SequenceNumber"])
    assert last.attributes["MessageDeduplicationId"] == hashlib.sha256(b"a2").hexdigest()


async def test_fifo_deduplicates_within_five_minutes(mesh: Mesh, clock: VirtualClock) -> None:
    queue = mesh.queue("pay.fifo")
    async with mesh:
        first = await queue.send("charge", group_id="g", deduplication_id="order-1")
        await clock.advance(299)
        again = await queue.send("charge", group_id="g", deduplication_id="order-1")
        assert again == first
        assert (await queue.stats()).visible == 1
        await clock.advance(1)
        later = await queue.send("charge", group_id="g", deduplication_id="order-1")
        assert later != first
        assert (await queue.stats()).visible == 2


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({}, PayloadError, "needs a group_id"),
        ({"group_id": "g"}, PayloadError, "needs a deduplication_id"),
        ({"group_id": "g", "deduplication_id": "d", "delay": 5}, ConfigurationError, "delay"),
    ],
)
async def test_fifo_sends_need_their_ids(
    mesh: Mesh, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    queue = mesh.queue("strict.fifo")
    async with mesh:
        with pytest.raises(error, match=message):
            await queue.send("x", **kwargs)


async def test_standard_queues_refuse_fifo_ids(mesh: Mesh) -> None:
    queue = mesh.queue("standard")
    async with mesh:
        with pytest.raises(ConfigurationError, match="for FIFO queues"):
            await queue.send("x", group_id="g")


async def test_a_batch_reports_each_entry(mesh: Mesh) -> None:
    queue = mesh.queue("batch")
    async with mesh:
        answer = await queue.send_batch(
            [
                {"id": "ok", "body": "one"},
                {"id": "bad", "body": "two", "attributes": {"x": object()}},
                {"id": "late", "body": "three", "delay": 5},
            ]
        )
        assert [e["Id"] for e in answer["Successful"]] == ["ok", "late"]
        assert answer["Successful"][0]["MD5OfMessageBody"] == md5("one")
        assert answer["Failed"][0]["Id"] == "bad" and answer["Failed"][0]["SenderFault"]
        with pytest.raises(PayloadError, match="1 to 10 entries"):
            await queue.send_batch([{"body": str(i)} for i in range(11)])


async def test_bodies_over_one_mebibyte_are_refused(mesh: Mesh) -> None:
    queue = mesh.queue("big")
    async with mesh:
        with pytest.raises(PayloadError, match="1 MiB"):
            await queue.send("x" * (1024 * 1024 + 1))


async def test_binary_attributes_travel_base64(mesh: Mesh) -> None:
    queue = mesh.queue("bin")
    async with mesh:
        await queue.send("x", {"blob": b"\x00\x01"})
        (message,) = await queue.receive()
    assert message.message_attributes["blob"] == {
        "DataType": "Binary",
        "BinaryValue": base64.b64encode(b"\x00\x01").decode(),
    }


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"visibility_timeout": 43201}, "visibility_timeout must be a number from 0 to 43200"),
        ({"delay": 901}, "delay must be a number from 0 to 900"),
        ({"retention": 59}, "retention must be a number from 60 to 1209600"),
        ({"max_receive_count": 5}, "needs a dead_letter"),
        ({"max_receive_count": 0, "dead_letter": "d"}, "from 1 to 1000"),
        ({"fifo": True}, "must end with '.fifo'"),
        ({"content_based_deduplication": True}, "for FIFO queues"),
    ],
)
def test_invalid_queue_settings(mesh: Mesh, settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        mesh.queue("q", **settings)


def test_a_name_gives_the_same_queue_and_other_settings_are_an_error(mesh: Mesh) -> None:
    queue = mesh.queue("orders", visibility_timeout=60)
    assert mesh.queue("orders") is queue
    assert mesh.queue("orders", visibility_timeout=60) is queue
    assert isinstance(queue, Queue)
    assert queue.arn == "arn:aws:sqs:us-east-1:123456789012:orders"
    with pytest.raises(ConfigurationError, match="other settings"):
        mesh.queue("orders", visibility_timeout=10)


async def test_a_dead_letter_queue_of_another_kind_is_refused_at_start(mesh: Mesh) -> None:
    mesh.queue("fifo.fifo", max_receive_count=2, dead_letter="plain-dlq")
    mesh.queue("plain-dlq")
    with pytest.raises(ConfigurationError, match="FIFO if and only if"):
        await mesh.start()


async def test_a_queue_is_a_destination_by_name(mesh: Mesh, clock: VirtualClock) -> None:
    failures = mesh.queue("failed-orders")

    @mesh.function(retries=0, on_failure="failed-orders")
    async def broken(event: Any, context: Context) -> None:
        raise ValueError("nope")

    async with mesh:
        await mesh.invoke("broken", {"order": 1}, "Event")
        await clock.advance(0)
        (message,) = await failures.receive()
    record = message.json()
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestPayload"] == {"order": 1}


async def test_a_dead_letter_target_queue_gets_lambdas_attributes(
    mesh: Mesh, clock: VirtualClock
) -> None:
    dead = mesh.queue("dead")

    @mesh.function(retries=0, dead_letter=dead)
    async def broken(event: Any, context: Context) -> None:
        raise ValueError("nope")

    async with mesh:
        result = await mesh.invoke("broken", {"order": 2}, "Event")
        await clock.advance(0)
        (message,) = await dead.receive()
    assert message.json() == {"order": 2}
    assert message.message_attributes["RequestID"]["StringValue"] == result.request_id
    assert message.message_attributes["ErrorCode"] == {"DataType": "Number", "StringValue": "200"}
    assert message.message_attributes["ErrorMessage"]["StringValue"] == "nope"


async def test_receive_limits(mesh: Mesh) -> None:
    queue = mesh.queue("limits")
    async with mesh:
        with pytest.raises(ConfigurationError, match="max_messages"):
            await queue.receive(11)
        with pytest.raises(ConfigurationError, match="wait"):
            await queue.receive(1, wait=21)


@pytest.mark.parametrize("storage", ["memory", "sqlite"])
async def test_concurrent_duplicates_of_a_fifo_message_are_sent_once(
    storage: str, tmp_path: Any
) -> None:
    import asyncio

    url = "memory" if storage == "memory" else f"sqlite:///{tmp_path}/mesh.db"
    mesh = Mesh(storage=url)
    queue = mesh.queue("race.fifo")
    async with mesh:
        ids = await asyncio.gather(
            *(queue.send("pay", group_id="g", deduplication_id="order-9") for _ in range(5))
        )
        stats = await queue.stats()
    assert len(set(ids)) == 1
    assert stats.visible == 1


async def test_an_unread_queue_drops_expired_messages_on_its_own(
    mesh: Mesh, clock: VirtualClock
) -> None:
    queue = mesh.queue("forgotten", retention=600)
    async with mesh:
        await queue.send("stale")
        await clock.advance(599)
        assert (await queue.stats()).visible == 1
        await clock.advance(600)  # the sweep runs every 150 s (a quarter of the retention)
        assert (await queue.stats()).total == 0


async def test_a_dead_letter_keeps_its_first_enqueue_time(mesh: Mesh, clock: VirtualClock) -> None:
    queue = mesh.queue("src", visibility_timeout=10, max_receive_count=1, dead_letter="dlq")
    dlq = mesh.queue("dlq", retention=60)
    async with mesh:
        await queue.send("poison")
        sent = clock.time()
        assert len(await queue.receive()) == 1
        await clock.advance(10)
        assert await queue.receive() == []  # received a second time: redriven, at 10 s
        (dead,) = await dlq.receive(visibility_timeout=1)
        assert dead.attributes["SentTimestamp"] == str(int(sent * 1000))
        await clock.advance(51)
        assert await dlq.receive() == [], "expired: 61 s since it was first sent"


async def test_a_dead_senders_deduplication_claim_blocks_the_id_briefly(
    mesh: Mesh, clock: VirtualClock
) -> None:
    queue = mesh.queue("pay2.fifo")
    async with mesh:
        # What a sender killed between its claim and its send leaves behind.
        await mesh.backend.values.put("sqs-dedup/pay2.fifo/order-1", b"", ttl=10)
        await clock.advance(10)
        message_id = await queue.send("charge", group_id="g", deduplication_id="order-1")
    assert message_id
