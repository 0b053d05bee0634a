"""The SQS-style queue: messages, visibility, redrive, FIFO, deduplication, retention."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from eventmesh import (
    BackpressureError,
    ConfigurationError,
    Context,
    Mesh,
    PayloadError,
    Telemetry,
)
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


# -- rules pinned one by one (each found unpinned by mutation testing) ------------------------
# SQS references: the SendMessage, SendMessageBatch, ReceiveMessage, DeleteMessageBatch and
# SetQueueAttributes API pages, "Amazon SQS message attributes" and "Calculating the MD5 message
# digest for message attributes" in the SQS Developer Guide; the Lambda record shape is
# /work/shared/reference/lambda-semantics.md §4.3.

EPOCH = 1_767_225_600  # the virtual clock's start, 2026-01-01T00:00:00Z


async def test_a_lambda_record_has_every_field_of_the_documented_sqs_record(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """§4.3: an SQS record carries messageId, receiptHandle, body, attributes,
    messageAttributes (camelCase, with empty list fields), md5OfBody, md5OfMessageAttributes,
    eventSource aws:sqs, eventSourceARN and awsRegion."""
    queue = mesh.queue("records")
    async with mesh:
        await clock.advance(2)
        await queue.send("hello", {"kind": "greeting", "blob": b"\x00\x01"})
        await clock.advance(1)
        (message,) = await queue.receive()
    record = message.to_record(queue.arn, "eu-west-1")
    assert record == {
        "messageId": message.message_id,
        "receiptHandle": message.receipt_handle,
        "body": "hello",
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": str((EPOCH + 2) * 1000),
            "SenderId": "AIDAEVENTMESHLOCAL0001",
            "ApproximateFirstReceiveTimestamp": str((EPOCH + 3) * 1000),
        },
        "messageAttributes": {
            "kind": {
                "stringValue": "greeting",
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "String",
            },
            "blob": {
                "binaryValue": "AAE=",
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "Binary",
            },
        },
        "md5OfBody": "5d41402abc4b2a76b9719d911017c592",
        "md5OfMessageAttributes": record["md5OfMessageAttributes"],
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:records",
        "awsRegion": "eu-west-1",
    }
    assert len(record["md5OfMessageAttributes"]) == 32


@pytest.mark.parametrize(
    ("attributes", "digest"),
    [
        # AWS's own samples for the algorithm (names sorted, each part length-prefixed,
        # transport type 1 for String/Number, 2 for Binary).
        (
            {"test_attribute_name_2": "test_attribute_value_2",
             "test_attribute_name_1": "test_attribute_value_1"},
            "d53f3b558fe951154770f25cb63dbba9",
        ),
        ({"test_attribute_name": b"test_attribute_value"}, "23f6bd27ea87aab7dfeadcc9aebee495"),
        ({"ordinal": 1, "category": "test"}, "d21ae90c49061e927f57df5f5d72be1f"),
    ],
)  # fmt: skip
async def test_md5_of_message_attributes_is_sqss_digest(
    mesh: Mesh, attributes: dict[str, Any], digest: str
) -> None:
    """The record's md5OfMessageAttributes is the digest SQS documents, which SDKs verify."""
    queue = mesh.queue("digests")
    async with mesh:
        await queue.send("x", attributes)
        (message,) = await queue.receive()
    assert message.to_record(queue.arn, "us-east-1")["md5OfMessageAttributes"] == digest


async def test_a_record_without_message_attributes_has_no_md5_of_them(mesh: Mesh) -> None:
    queue = mesh.queue("bare")
    async with mesh:
        await queue.send("x")
        (message,) = await queue.receive()
    record = message.to_record(queue.arn, "us-east-1")
    assert record["messageAttributes"] == {}
    assert "md5OfMessageAttributes" not in record


async def test_ten_message_attributes_are_allowed_and_eleven_refused(mesh: Mesh) -> None:
    """SQS: a message can have up to 10 metadata attributes."""
    queue = mesh.queue("many")
    async with mesh:
        await queue.send("x", {f"a{i}": "v" for i in range(10)})
        with pytest.raises(PayloadError) as error:
            await queue.send("x", {f"a{i}": "v" for i in range(11)})
    assert str(error.value) == "attributes: a message has at most 10 message attributes"


async def test_attributes_count_toward_the_one_mebibyte_limit(mesh: Mesh) -> None:
    """SQS: the message size includes the body and the message attributes (1 MiB in all)."""
    queue = mesh.queue("sized")
    body = "x" * (1024 * 1024 - 100)
    async with mesh:
        await queue.send(body)
        with pytest.raises(PayloadError, match=r"^message of \d+ bytes is over SQS's 1 MiB limit"):
            await queue.send(body, {"note": "y" * 100})
        await queue.send("x" * (1024 * 1024))
        with pytest.raises(PayloadError, match="message of 1048577 bytes is over"):
            await queue.send("x" * (1024 * 1024 + 1))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"DataType": "String", "StringValue": "a"}, {"DataType": "String", "StringValue": "a"}),
        ({"dataType": "String", "stringValue": "b"}, {"DataType": "String", "StringValue": "b"}),
        ({"Type": "String", "Value": "c"}, {"DataType": "String", "StringValue": "c"}),
        ({"DataType": "Number", "StringValue": 5}, {"DataType": "Number", "StringValue": "5"}),
        ({"DataType": "Number.int", "StringValue": 2.5},
         {"DataType": "Number.int", "StringValue": "2.5"}),
        ({"DataType": "Binary", "BinaryValue": b"\x01"},
         {"DataType": "Binary", "BinaryValue": "AQ=="}),
        ({"DataType": "Binary", "binaryValue": "AQ=="},
         {"DataType": "Binary", "BinaryValue": "AQ=="}),
        ({"DataType": "Binary.png", "BinaryValue": "AQ=="},
         {"DataType": "Binary.png", "BinaryValue": "AQ=="}),
        (2.5, {"DataType": "Number", "StringValue": "2.5"}),
        (7, {"DataType": "Number", "StringValue": "7"}),
    ],
)  # fmt: skip
async def test_attribute_values_in_sqs_lambda_and_plain_shapes(
    mesh: Mesh, value: Any, expected: dict[str, str]
) -> None:
    """SQS's MessageAttributeValue (DataType, StringValue or BinaryValue; custom type labels
    after a dot), the camelCase shape of Lambda records and SNS's Type/Value all encode to
    SQS's shape."""
    queue = mesh.queue("shapes")
    async with mesh:
        await queue.send("x", {"attr": value})
        (message,) = await queue.receive()
    assert message.message_attributes == {"attr": expected}


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"": "v"}, "attributes: an attribute name must not be empty"),
        ({"a": {"StringValue": "v"}},
         "attributes['a']: needs a DataType (String, Number or Binary)"),
        ({"a": {"DataType": "String"}},
         "attributes['a']: has no value (StringValue or BinaryValue)"),
        ({"a": {"DataType": "Binary", "BinaryValue": 5}},
         "attributes['a'].BinaryValue: must be bytes or base64 text, got 5"),
        ({"a": {"DataType": "String", "StringValue": 5}},
         "attributes['a'].StringValue: must be a str, got 5"),
        ({"a": {"DataType": 5, "StringValue": "v"}},
         "attributes['a']: needs a DataType (String, Number or Binary)"),
        ({"a": {"DataType": "Binary", "BinaryValue": ""}},
         "attributes['a']: must contain a non-empty value of type 'Binary'"),
        ({"a": {"DataType": "String", "StringValue": ""}},
         "attributes['a']: must contain a non-empty value of type 'String'"),
        ({"a": float("inf")}, "attributes['a']: inf is not a str, a finite number or bytes"),
        ({"a": float("nan")}, "attributes['a']: nan is not a str, a finite number or bytes"),
        ({"a": True}, "attributes['a']: True is not a str, a finite number or bytes"),
        ([("a", "v")], "attributes: must be a mapping of names to attribute values, got list"),
        ({"a": {"DataType": "Number", "StringValue": "x1"}},
         "attributes['a']: 'x1' is not a number (DataType Number)"),
        ({"a": {"DataType": "Number", "StringValue": "2e126"}},
         "attributes['a']: '2e126' is not a Number SQS and SNS can hold (up to 38 significant "
         "digits, and 0 or a magnitude from 10^-128 to 10^+126)"),
    ],
)  # fmt: skip
async def test_malformed_attributes_are_refused_naming_the_attribute(
    mesh: Mesh, attributes: Any, message: str
) -> None:
    queue = mesh.queue("refusals")
    async with mesh:
        with pytest.raises(PayloadError) as error:
            await queue.send("x", attributes)
        assert (await queue.stats()).total == 0
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("number", "accepted"),
    [
        ("1e126", True),  # the largest magnitude SQS's Number holds
        ("1" + "0" * 126, True),  # the same, without an exponent
        ("1" + "0" * 127, False),
        ("2e126", False),
        ("9.9e125", True),
        ("1.5e125", True),
        ("1e-128", True),  # the smallest
        ("0.001e-125", True),
        ("0.001e-126", False),  # 10^-129
        ("1e-129", False),
        ("1.0000000000000000000000000000000000001", True),  # 38 significant digits
        ("1.00000000000000000000000000000000000001", False),  # 39
        ("0", True),
        ("-0.000", True),
    ],
)
async def test_number_attributes_hold_sqss_range_and_precision(
    mesh: Mesh, number: str, accepted: bool
) -> None:
    """SQS: a Number holds up to 38 digits of precision, from 10^-128 to 10^+126."""
    queue = mesh.queue("numbers")
    async with mesh:
        attribute = {"n": {"DataType": "Number", "StringValue": number}}
        if accepted:
            await queue.send("x", attribute)
            assert (await queue.stats()).total == 1
        else:
            with pytest.raises(PayloadError, match="is not a Number SQS and SNS can hold"):
                await queue.send("x", attribute)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\xff", "body: a message body must be text (UTF-8)"),
        (float("nan"), "body: not JSON-serialisable: nan (NaN and Infinity are not JSON numbers)"),
        ({"k": "\ufffe"}, "body: invalid characters (SQS allows #x9, #xA, #xD and #x20 to "
         "#x10FFFF except #xFFFE and #xFFFF)"),
        (b"a\x01", "body: invalid characters (SQS allows #x9, #xA, #xD and #x20 to "
         "#x10FFFF except #xFFFE and #xFFFF)"),
    ],
)  # fmt: skip
async def test_bodies_sqs_cannot_hold_are_refused(mesh: Mesh, body: Any, message: str) -> None:
    """SQS: a body is text of the allowed Unicode characters; JSON has no NaN."""
    queue = mesh.queue("bodies")
    async with mesh:
        with pytest.raises(PayloadError) as error:
            await queue.send(body)
    assert str(error.value).startswith(message)


async def test_bodies_of_allowed_characters_near_the_refused_ones_are_sent(mesh: Mesh) -> None:
    """U+FF01 shares its UTF-8 lead byte with the refused U+FFFE and U+FFFF."""
    queue = mesh.queue("allowed")
    async with mesh:
        await queue.send("\uff01".encode())
        await queue.send({"k": "\uff01"})
        await queue.send("\t\n\r")
        bodies = [m.body for m in await queue.receive(10)]
    assert sorted(bodies) == sorted(["\uff01", '{"k":"\uff01"}', "\t\n\r"])


async def test_send_batch_entries_keep_their_body_delay_and_ids(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """SendMessageBatch: each entry is a SendMessage of its own (MessageBody, DelaySeconds,
    MessageAttributes); the answer gives each entry's MessageId and MD5OfMessageBody."""
    queue = mesh.queue("batched")
    async with mesh:
        answer = await queue.send_batch(
            [
                {"id": "now", "body": "first", "attributes": {"n": 1}},
                {"id": "later", "body": "second", "delay": 30},
            ]
        )
        (first,) = await queue.receive(10, visibility_timeout=60)
        await clock.advance(29)
        assert await queue.receive(10) == []
        await clock.advance(1)
        (second,) = await queue.receive(10)
    assert answer == {
        "Successful": [
            {"Id": "now", "MessageId": first.message_id,
             "MD5OfMessageBody": "8b04d5e3775d298e78455efc5ca404d5"},
            {"Id": "later", "MessageId": second.message_id,
             "MD5OfMessageBody": "a9f0e61a137d86aa9db53465e0801612"},
        ],
        "Failed": [],
    }  # fmt: skip
    assert (first.body, second.body) == ("first", "second")
    assert first.message_attributes == {"n": {"DataType": "Number", "StringValue": "1"}}


async def test_fifo_send_batch_entries_keep_their_group_and_deduplication_ids(
    mesh: Mesh,
) -> None:
    """SendMessageBatch on a FIFO queue: MessageGroupId and MessageDeduplicationId per entry."""
    queue = mesh.queue("batched.fifo")
    async with mesh:
        answer = await queue.send_batch(
            [
                {"id": "a", "body": "one", "group_id": "g1", "deduplication_id": "d1"},
                {"id": "b", "body": "two", "group_id": "g2", "deduplication_id": "d2"},
                {"id": "c", "body": "one again", "group_id": "g1", "deduplication_id": "d1"},
            ]
        )
        messages = await queue.receive(10)
    assert [m.body for m in messages] == ["one", "two"]
    assert [(m.attributes["MessageGroupId"], m.attributes["MessageDeduplicationId"])
            for m in messages] == [("g1", "d1"), ("g2", "d2")]  # fmt: skip
    # The duplicate succeeds with the original's message id, as SendMessage does.
    ids = {entry["Id"]: entry["MessageId"] for entry in answer["Successful"]}
    assert ids["c"] == ids["a"] == messages[0].message_id


async def test_batch_entries_without_an_id_are_numbered(mesh: Mesh) -> None:
    queue = mesh.queue("numbered")
    async with mesh:
        answer = await queue.send_batch([{"body": "a"}, {"body": "b"}])
    assert [entry["Id"] for entry in answer["Successful"]] == ["0", "1"]


async def test_a_failed_batch_entry_names_its_error(mesh: Mesh) -> None:
    """SendMessageBatch's BatchResultErrorEntry: Id, Code, Message, SenderFault."""
    queue = mesh.queue("failing.fifo")
    async with mesh:
        answer = await queue.send_batch([{"id": "x", "body": "b", "group_id": "g"}])
    assert answer == {
        "Successful": [],
        "Failed": [
            {
                "Id": "x",
                "Code": "PayloadError",
                "Message": "FIFO queue 'failing.fifo' needs a deduplication_id (or "
                "content_based_deduplication=True)",
                "SenderFault": True,
            }
        ],
    }


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([{"body": str(i)} for i in range(11)],
         "entries: SendMessageBatch takes 1 to 10 entries, got 11"),
        ([{"id": "a", "body": "x", "other": 1, "extra": 2}],
         "entries[0]: unknown field(s) extra, other (an entry has attributes, body, "
         "deduplication_id, delay, group_id, id)"),
        ([{"id": "a b", "body": "x"}],
         "entries[0].id: 'a b' is not 1-80 letters, digits, '-' or '_' (InvalidBatchEntryId)"),
        ([{"id": "a", "body": "x"}, {"id": "a", "body": "y"}],
         "entries: ids must be distinct (BatchEntryIdsNotDistinct)"),
        ([{"id": "a", "body": "x", "attributes": ["n"]}],
         "entries[0].attributes: must be a mapping of names to attribute values, got list"),
    ],
)  # fmt: skip
async def test_a_malformed_batch_is_refused_whole(
    mesh: Mesh, entries: list[dict[str, Any]], message: str
) -> None:
    queue = mesh.queue("strict-batch")
    async with mesh:
        with pytest.raises(PayloadError) as error:
            await queue.send_batch(entries)
        assert (await queue.stats()).total == 0
    assert str(error.value) == message


async def test_a_full_queue_refuses_at_once_with_timeout_zero(mesh: Mesh) -> None:
    """max_pending (memory backend): timeout=0 raises BackpressureError having stored nothing;
    a batch admitted under the limit goes in whole."""
    queue = mesh.queue("bounded", max_pending=2)
    async with mesh:
        answer = await queue.send_batch([{"body": "a"}, {"body": "b"}], timeout=0)
        assert len(answer["Successful"]) == 2
        with pytest.raises(BackpressureError) as error:
            await queue.send("c", timeout=0)
        with pytest.raises(BackpressureError):
            await queue.send_batch([{"body": "c"}], timeout=0)
        with pytest.raises(ConfigurationError, match="timeout"):
            await queue.send("c", timeout=-1)
        with pytest.raises(ConfigurationError, match="timeout"):
            await queue.send_batch([{"body": "c"}], timeout=-1)
        assert (await queue.stats()).total == 2
        # Deleting in a batch frees room.
        received = await queue.receive(10)
        assert await queue.delete_batch([m.receipt_handle for m in received]) == 2
        await queue.send("c", timeout=0)
        await queue.send("d", timeout=0)
    assert str(error.value) == (
        "queue 'bounded' has 2 pending, at its limit of 2 (max_pending); "
        "consumers have not freed room"
    )


async def test_a_queue_on_a_shared_store_has_no_pending_limit(tmp_path: Any) -> None:
    """max_pending bounds a queue only on the memory backend: a shared store's queue may be
    drained by another process."""
    mesh = Mesh(storage=f"sqlite:///{tmp_path}/mesh.db")
    queue = mesh.queue("unbounded", max_pending=1)
    async with mesh:
        await queue.send("a", timeout=0)
        await queue.send("b", timeout=0)
        assert (await queue.stats()).total == 2


async def test_delete_batch_deletes_every_current_receipt_past_a_stale_one(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """DeleteMessageBatch: each entry succeeds or fails on its own; a stale receipt handle
    does not stop the others."""
    queue = mesh.queue("cleanup", visibility_timeout=10)
    async with mesh:
        for body in ("a", "b", "c"):
            await queue.send(body)
        (stale,) = await queue.receive(1)
        await clock.advance(10)
        received = await queue.receive(10)
        assert sorted(m.body for m in received) == ["a", "b", "c"]
        handles = [m.receipt_handle for m in received if m.body != "a"]
        assert await queue.delete_batch([stale.receipt_handle, *handles]) == 2
        assert (await queue.stats()).total == 1


async def test_receive_takes_one_message_by_default(mesh: Mesh) -> None:
    """ReceiveMessage: MaxNumberOfMessages defaults to 1."""
    queue = mesh.queue("single")
    async with mesh:
        await queue.send("a")
        await queue.send("b")
        assert len(await queue.receive()) == 1


async def test_a_per_call_visibility_timeout_applies_to_that_receive(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """ReceiveMessage's VisibilityTimeout overrides the queue's for the messages it returns;
    0 makes them visible again at once."""
    queue = mesh.queue("override", visibility_timeout=60)
    async with mesh:
        await queue.send("work")
        assert len(await queue.receive(visibility_timeout=5)) == 1
        await clock.advance(4)
        assert await queue.receive() == []
        await clock.advance(1)
        assert len(await queue.receive(visibility_timeout=0)) == 1
        (again,) = await queue.receive()
    assert again.attributes["ApproximateReceiveCount"] == "3"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_messages": 11}, "max_messages must be a number from 1 to 10, got 11"),
        ({"max_messages": 0}, "max_messages must be a number from 1 to 10, got 0"),
        ({"wait": 21}, "wait must be a number from 0 to 20, got 21"),
        ({"visibility_timeout": 43201},
         "visibility_timeout must be a number from 0 to 43200, got 43201"),
    ],
)  # fmt: skip
async def test_receive_limits_are_sqss(mesh: Mesh, kwargs: dict[str, Any], message: str) -> None:
    queue = mesh.queue("receive-limits")
    async with mesh:
        with pytest.raises(ConfigurationError) as error:
            await queue.receive(**kwargs)
    assert str(error.value) == message


async def test_a_long_poll_returns_a_message_sent_while_it_waits(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """ReceiveMessage with WaitTimeSeconds returns as soon as a message arrives."""
    queue = mesh.queue("long-poll")
    async with mesh:
        waiting = asyncio.create_task(queue.receive(wait=5))
        await clock.advance(2)
        assert not waiting.done()
        await queue.send("late")
        await clock.advance(0)
        (message,) = await waiting
        # A message already there is returned at once, without waiting.
        await queue.send("ready")
        (ready,) = await queue.receive(wait=20)
    assert (message.body, ready.body) == ("late", "ready")
    assert clock.now() == 2


async def test_a_long_poll_goes_on_past_a_message_it_redrives(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """A message past maxReceiveCount moves to the dead-letter queue instead of being
    delivered; the long poll then returns the next message."""
    queue = mesh.queue("src", visibility_timeout=10, max_receive_count=1, dead_letter="dlq")
    dlq = mesh.queue("dlq")
    async with mesh:
        await queue.send("poison")
        assert len(await queue.receive()) == 1
        await clock.advance(10)
        await queue.send("good")
        assert [m.body for m in await queue.receive(1, wait=1)] == ["good"]
        assert [m.body for m in await dlq.receive()] == ["poison"]


async def test_a_fifo_redrive_keeps_the_group_and_deduplication_ids(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """A FIFO queue's dead-letter queue is FIFO; the message keeps its MessageGroupId,
    MessageDeduplicationId and SequenceNumber, and leaves the source queue."""
    queue = mesh.queue("src.fifo", visibility_timeout=10, max_receive_count=1, dead_letter="d.fifo")
    dlq = mesh.queue("d.fifo")
    async with mesh:
        await queue.send("poison", group_id="g7", deduplication_id="dd7")
        (first,) = await queue.receive()
        await clock.advance(10)
        assert await queue.receive() == []
        (dead,) = await dlq.receive()
        assert (await queue.stats()).total == 0
    assert dead.attributes["MessageGroupId"] == "g7"
    assert dead.attributes["MessageDeduplicationId"] == "dd7"
    assert dead.attributes["SequenceNumber"] == first.attributes["SequenceNumber"]


async def test_fifo_sequence_numbers_grow_within_one_microsecond(mesh: Mesh) -> None:
    """SequenceNumber: increasing per queue; here the clock's microseconds, then one more."""
    queue = mesh.queue("seq.fifo", content_based_deduplication=True)
    async with mesh:
        await queue.send("a", group_id="g")
        await queue.send("b", group_id="h")
        messages = await queue.receive(10)
    assert [m.attributes["SequenceNumber"] for m in messages] == [
        "00001767225600000000",
        "00001767225600000001",
    ]


async def test_default_visibility_timeout_is_thirty_seconds(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """SQS's default VisibilityTimeout: 30 s."""
    queue = mesh.queue("defaults")
    async with mesh:
        await queue.send("x")
        assert len(await queue.receive()) == 1
        await clock.advance(29.9)
        assert await queue.receive() == []
        await clock.advance(0.1)
        assert len(await queue.receive()) == 1


async def test_default_retention_is_four_days(mesh: Mesh, clock: VirtualClock) -> None:
    """SQS's default MessageRetentionPeriod: 345600 s (4 days); a message is kept for the whole
    period and dropped after it."""
    queue = mesh.queue("kept")
    async with mesh:
        await queue.send("x")
        await clock.advance(345600)
        assert len(await queue.receive(visibility_timeout=0)) == 1
        await clock.advance(1)
        assert await queue.receive() == []


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"visibility_timeout": -1}, "visibility_timeout must be a number from 0 to 43200, got -1"),
        ({"delay": -1}, "delay must be a number from 0 to 900, got -1"),
        ({"retention": 1209601}, "retention must be a number from 60 to 1209600, got 1209601"),
        ({"max_receive_count": 2.5, "dead_letter": "d"},
         "max_receive_count must be an integer from 1 to 1000"),
        ({"max_receive_count": 1001, "dead_letter": "d"},
         "max_receive_count must be a number from 1 to 1000, got 1001"),
        ({"max_receive_count": 5}, "max_receive_count needs a dead_letter queue"),
        ({"fifo": True}, "a FIFO queue's name must end with '.fifo', and only its"),
        ({"content_based_deduplication": True}, "content_based_deduplication is for FIFO queues"),
    ],
)  # fmt: skip
def test_queue_settings_errors_name_the_setting_and_its_range(
    mesh: Mesh, settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError) as error:
        mesh.queue("q", **settings)
    assert str(error.value) == message


def test_queue_settings_accept_sqss_bounds(mesh: Mesh) -> None:
    """SQS: VisibilityTimeout 0-43200, DelaySeconds 0-900, MessageRetentionPeriod 60-1209600,
    maxReceiveCount 1-1000."""
    mesh.queue("low", visibility_timeout=0, delay=0, retention=60, max_receive_count=1,
               dead_letter="d")  # fmt: skip
    mesh.queue("high", visibility_timeout=43200, delay=900, retention=1209600,
               max_receive_count=1000, dead_letter="d")  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"delay": 901}, ConfigurationError, "delay must be a number from 0 to 900, got 901"),
        ({"delay": -1}, ConfigurationError, "delay must be a number from 0 to 900, got -1"),
        ({"group_id": "g"}, ConfigurationError,
         "group_id and deduplication_id are for FIFO queues"),
        ({"deduplication_id": "d"}, ConfigurationError,
         "group_id and deduplication_id are for FIFO queues"),
    ],
)  # fmt: skip
async def test_per_message_delay_is_0_to_900_seconds(
    mesh: Mesh, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    """SendMessage's DelaySeconds: 0 to 900."""
    queue = mesh.queue("delays")
    async with mesh:
        await queue.send("now", delay=0)
        await queue.send("last", delay=900)
        with pytest.raises(error) as raised:
            await queue.send("x", **kwargs)
        assert [m.body for m in await queue.receive(10)] == ["now"]
    assert str(raised.value) == message


async def test_a_fifo_queue_refuses_a_per_message_delay(mesh: Mesh) -> None:
    """SQS: FIFO queues don't support DelaySeconds per message (only per queue)."""
    queue = mesh.queue("nodelay.fifo")
    async with mesh:
        with pytest.raises(ConfigurationError) as error:
            await queue.send("x", group_id="g", deduplication_id="d", delay=0)
    assert str(error.value) == "FIFO queues take no per-message delay"


async def test_a_duplicate_waits_out_a_dead_senders_claim_then_sends(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """A claim left by a sender that died lasts its 10 s lease; a send of the same
    deduplication id waits for it and then goes through, once."""
    queue = mesh.queue("claim.fifo")
    async with mesh:
        await mesh.backend.values.put("sqs-dedup/claim.fifo/order-2", b"", ttl=10)
        sending = asyncio.create_task(queue.send("pay", group_id="g", deduplication_id="order-2"))
        await clock.advance(9.9)
        assert not sending.done()
        await clock.advance(0.15)
        assert sending.done()
        message_id = await sending
        (message,) = await queue.receive()
        # The send recorded the id: a duplicate within five minutes gets the same message id.
        again = await queue.send("pay", group_id="g", deduplication_id="order-2")
        assert again == message_id
        assert (await queue.stats()).total == 1
    assert (message.message_id, message.body) == (message_id, "pay")
    assert message.attributes["MessageDeduplicationId"] == "order-2"


async def test_a_queue_mapping_has_lambdas_defaults(mesh: Mesh) -> None:
    """CreateEventSourceMapping for SQS: BatchSize 10, MaximumBatchingWindowInSeconds 0,
    no ReportBatchItemFailures, Enabled true; one mapping per queue and function."""
    queue = mesh.queue("jobs")

    @mesh.function()
    async def worker(event: Any, context: Context) -> None:
        return None

    mapping = queue.subscribe("worker")
    assert (mapping.batch_size, mapping.batching_window) == (10, 0.0)
    assert mapping.report_batch_item_failures is False
    assert mapping.enabled is True
    assert mapping.max_concurrency is None
    other = mesh.queue("other").subscribe(worker, report_batch_item_failures=True, enabled=False)
    assert (other.report_batch_item_failures, other.enabled) == (True, False)
    with pytest.raises(ConfigurationError) as error:
        queue.subscribe(worker)
    assert str(error.value).startswith(
        "a mapping of queue 'jobs' (arn:aws:sqs:us-east-1:123456789012:jobs) to function "
        "'worker' already exists"
    )


async def test_a_received_message_carries_the_senders_trace_context(clock: VirtualClock) -> None:
    """The producer's W3C trace context travels with the message (as the AWSTraceHeader system
    attribute does for X-Ray), for the consumer's span."""
    provider = TracerProvider()
    mesh = Mesh(clock=clock, telemetry=Telemetry(provider), drain_timeout=2.0)
    queue = mesh.queue("traced")
    async with mesh:
        with provider.get_tracer("test").start_as_current_span("producer") as span:
            await queue.send("x")
        (message,) = await queue.receive()
    trace_id = span.get_span_context().trace_id
    assert f"-{trace_id:032x}-" in message.trace_context["traceparent"]
    assert "traceparent" not in message.attributes


async def test_a_data_type_that_is_not_valid_unicode_is_refused_naming_it(mesh: Mesh) -> None:
    queue = mesh.queue("types")
    async with mesh:
        with pytest.raises(PayloadError) as error:
            await queue.send("x", {"a": {"DataType": "String\ud800", "StringValue": "v"}})
    assert str(error.value).startswith("attributes['a'].DataType: a lone surrogate")


async def test_a_number_written_with_many_leading_zeros_is_its_value(mesh: Mesh) -> None:
    """SQS trims leading and trailing zeros before judging a Number's range: this one is 1."""
    queue = mesh.queue("zeros")
    number = "0." + "0" * 99_999 + "1e100000"
    async with mesh:
        await queue.send("x", {"n": {"DataType": "Number", "StringValue": number}})
        assert (await queue.stats()).total == 1


async def test_the_plain_send_keeps_backpressure_the_queue_delay_and_the_general_message(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """A JSON object to a standard queue takes the store's sender bound to the queue: at
    max_pending it refuses having stored nothing (timeout=0) or waits for room; a delay given
    to the queue later applies to the next sends; what it stores is received as the general
    path's message is (an attribute forces that path)."""
    queue = mesh.queue("plain", max_pending=2)
    async with mesh:
        await queue.send({"n": 1})
        await queue.send({"n": 2}, {"k": "v"})  # the general path
        with pytest.raises(BackpressureError):
            await queue.send({"n": 3}, timeout=0)
        waiting = asyncio.create_task(queue.send({"n": 3}))
        await clock.advance(0)
        assert not waiting.done() and (await queue.stats()).total == 2
        first, second = await queue.receive(10)
        assert (first.body, second.body) == ('{"n":1}', '{"n":2}')
        assert first.md5_of_body == hashlib.md5(b'{"n":1}').hexdigest()
        assert first.attributes == second.attributes  # sent and received at the same times
        assert first.attributes["ApproximateReceiveCount"] == "1"
        assert first.message_attributes == {} != second.message_attributes
        assert await queue.delete_batch([first.receipt_handle]) == 1
        await waiting
        queue.delay = 5.0  # as SetQueueAttributes does
        await queue.delete(second.receipt_handle)
        await queue.send({"n": 4})
        (third,) = await queue.receive(10)
        assert third.body == '{"n":3}'
        assert await queue.receive(10) == []  # {"n": 4} is delayed
        await clock.advance(5)
        (fourth,) = await queue.receive(10)
        assert fourth.body == '{"n":4}'


async def test_a_queue_binds_its_store_once_and_keeps_it_as_its_own_attribute(
    mesh: Mesh,
) -> None:
    """The store and its senders are looked up on first use, then read as plain attributes
    (not through ``__dict__``, which would make every attribute read of the queue slow)."""
    queue = mesh.queue("orders")
    async with mesh:
        store = queue._store
        assert store is mesh.backend.queues
        assert queue._store is store
        plain = queue._plain_send
        assert plain is not None and queue._plain_send is plain
        await queue.send({"id": 1})
        (message,) = await queue.receive()
    assert message.json() == {"id": 1}
