"""Records built straight from the store's deliveries (``Queue.take_records``, what a queue
mapping invokes with) against the general path (``Message.to_record``), and the plain send:
the two paths give the same records and refuse the same bodies."""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import Sequence
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from eventmesh import Context, Mesh, PayloadError, Telemetry
from eventmesh.backends import OutgoingMessage, sends_now
from eventmesh.backends.memory import MemoryQueueStore
from eventmesh.resources.queue import Queue
from eventmesh.testing import VirtualClock

EPOCH = 1_767_225_600


def general(record: dict[str, Any], receipt: str, count: int) -> dict[str, Any]:
    """``record`` as a later receive gives it: another receipt and receive count."""
    attributes = {**record["attributes"], "ApproximateReceiveCount": str(count)}
    return {**record, "receiptHandle": receipt, "attributes": attributes}


async def both_paths(queue: Queue) -> tuple[dict[str, Any], dict[str, Any]]:
    """The one message of ``queue`` received by the fast path, then by the general one."""
    fast = await queue.take_records(10, 0, 0)  # visible again at once
    (message,) = await queue.take(10, 0, 30)
    (record,) = fast.records
    assert fast.receipts == [record["receiptHandle"]]
    return record, message.to_record(queue.arn, queue.context.region)


async def test_a_plain_record_is_the_general_paths_record(mesh: Mesh, clock: VirtualClock) -> None:
    queue = mesh.queue("plain")
    async with mesh:
        await clock.advance(2.0006)
        await queue.send({"id": 1, "name": "café"})
        await clock.advance(1)
        fast, slow = await both_paths(queue)
    body = '{"id":1,"name":"café"}'
    assert fast == {
        "messageId": fast["messageId"],
        "receiptHandle": fast["receiptHandle"],
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": str((EPOCH + 2) * 1000),
            "SenderId": "AIDAEVENTMESHLOCAL0001",
            "ApproximateFirstReceiveTimestamp": str((EPOCH + 3) * 1000),
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:plain",
        "awsRegion": "us-east-1",
    }
    assert slow == general(fast, slow["receiptHandle"], 2)


@pytest.mark.parametrize(
    ("send", "fifo"),
    [
        ({"body": "text"}, False),
        ({"body": {"a": 1}, "attributes": {"kind": "x", "size": 3}}, False),
        ({"body": {"a": 1}, "delay": 5}, False),
        ({"body": {"a": 1}, "group_id": "g", "deduplication_id": "d"}, True),
    ],
)
async def test_records_of_every_kind_of_message_match_the_general_path(
    mesh: Mesh, clock: VirtualClock, send: dict[str, Any], fifo: bool
) -> None:
    queue = mesh.queue("kinds.fifo" if fifo else "kinds")
    async with mesh:
        body = send.pop("body")
        await queue.send(body, **send)
        await clock.advance(5)
        fast, slow = await both_paths(queue)
    assert slow == general(fast, slow["receiptHandle"], 2)
    assert ("MessageGroupId" in fast["attributes"]) is fifo


async def test_a_redriven_message_keeps_its_first_sent_time_in_its_record(
    mesh: Mesh, clock: VirtualClock
) -> None:
    queue = mesh.queue("work", max_receive_count=1, dead_letter="dead", visibility_timeout=1)
    dead = mesh.queue("dead")
    async with mesh:
        await queue.send({"n": 1})
        assert len(await queue.take_records(10, 0, 1)) == 1
        await clock.advance(10)
        assert len(await queue.take_records(10, 0, 1)) == 0  # moved, not delivered
        fast, slow = await both_paths(dead)
    assert fast["attributes"]["SentTimestamp"] == str(EPOCH * 1000)
    assert slow == general(fast, slow["receiptHandle"], 2)


async def test_records_past_the_retention_are_dropped_not_delivered(
    mesh: Mesh, clock: VirtualClock
) -> None:
    queue = mesh.queue("short", retention=60)
    async with mesh:
        await queue.send({"old": True})
        await clock.advance(61)
        await queue.send({"old": False})
        batch = await queue.take_records(10, 0, 30)
        assert [r["body"] for r in batch.records] == ['{"old":false}']
        assert queue.limit.pending == 1


async def test_a_traced_message_carries_its_context_beside_its_record(
    clock: VirtualClock,
) -> None:
    provider = TracerProvider()
    mesh = Mesh(clock=clock, telemetry=Telemetry(provider), drain_timeout=2.0)
    queue = mesh.queue("traced")
    async with mesh:
        with provider.get_tracer("test").start_as_current_span("producer") as span:
            await queue.send({"n": 1})
        await queue.send({"n": 2})  # outside any span: no context
        batch = await queue.take_records(10, 0, 30)
    assert [r["body"] for r in batch.records] == ['{"n":1}', '{"n":2}']
    trace_id = span.get_span_context().trace_id
    assert f"-{trace_id:032x}-" in batch.traces[0]["traceparent"]
    assert "traceparent" not in batch.traces[1]
    assert all("traceparent" not in record for record in batch.records)


async def test_a_long_poll_for_records_returns_when_a_message_arrives(
    mesh: Mesh, clock: VirtualClock
) -> None:
    queue = mesh.queue("polled")
    async with mesh:
        poll = asyncio.create_task(queue.take_records(10, 20, 30))
        await clock.advance(3)
        assert not poll.done()
        await queue.send({"n": 1})
        await clock.advance(0)
        assert len(poll.result()) == 1
        empty = asyncio.create_task(queue.take_records(10, 20, 30))
        await clock.advance(20)
        assert len(empty.result()) == 0


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"x": math.nan}, "NaN"),
        ({"x": object()}, "body"),
        ({"x": "\x00"}, None),  # JSON escapes it: a valid body
        ({"x": "a" * (1024 * 1024)}, "1 MiB"),
    ],
)
async def test_the_plain_send_refuses_what_the_general_send_refuses(
    mesh: Mesh, body: dict[str, Any], error: str | None
) -> None:
    """A dict body takes the plain path; the same body with an (empty) attribute map takes
    the general one: both accept or refuse it alike."""
    queue = mesh.queue("checks")
    async with mesh:
        for attributes in (None, {}):
            if error is None:
                await queue.send(body, attributes)
            else:
                with pytest.raises(PayloadError, match=error):
                    await queue.send(body, attributes)
        assert (await queue.stats()).visible == (2 if error is None else 0)


async def test_the_mapping_deletes_what_it_received_whatever_the_handler_does_to_its_event(
    mesh: Mesh, clock: VirtualClock
) -> None:
    queue = mesh.queue("mutated")

    @mesh.function()
    async def vandal(event: dict[str, Any], context: Context) -> dict[str, Any]:
        for record in event["Records"]:
            record["receiptHandle"] = "forged"
            record["messageId"] = "forged"
            record["attributes"].clear()
        return {"batchItemFailures": []}

    queue.subscribe(vandal, report_batch_item_failures=True)
    async with mesh:
        await queue.send({"n": 1})
        await queue.send({"n": 2})
        await clock.advance(1)
        assert (await queue.stats()).total == 0


async def test_a_non_ascii_batch_is_cut_at_six_megabytes_of_utf8(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """The payload limit counts bytes: bodies of two-byte characters fill it at half the
    characters an ASCII body would need."""
    queue = mesh.queue("wide")
    sizes: list[int] = []

    @mesh.function()
    async def handler(event: dict[str, Any], context: Context) -> None:
        sizes.append(len(event["Records"]))

    mapping = queue.subscribe(handler, enabled=False)
    async with mesh:
        for _ in range(7):
            await queue.send("é" * 500_000)  # 1,000,000 bytes, 500,000 characters
        mapping.enabled = True
        await mapping.start()
        await clock.advance(1)
    assert sizes == [6, 1]


async def test_a_store_whose_send_is_overridden_is_sent_to_through_it(clock: VirtualClock) -> None:
    """The memory store's ``send_now`` shortcut is declared only where it is ``send``: a
    subclass that overrides ``send`` (to record or fail calls) sees every send."""
    sent: list[int] = []

    class Counting(MemoryQueueStore):
        async def send(self, queue: str, messages: Sequence[OutgoingMessage]) -> list[str]:
            sent.append(len(messages))
            return await super().send(queue, messages)

    assert sends_now(MemoryQueueStore(clock))
    assert not sends_now(Counting(clock))
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False))
    mesh.backend.queues = Counting(clock)
    queue = mesh.queue("counted")
    async with mesh:
        await queue.send({"plain": True})
        await queue.send("text", {"kind": "general"})
        assert sent == [1, 1]
        assert len(await queue.take_records(10, 0, 30)) == 2


RECORD_KEYS = [
    "messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody",
    "eventSource", "eventSourceARN", "awsRegion",
]  # fmt: skip
ATTRIBUTE_KEYS = [
    "ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"
]  # fmt: skip


async def test_records_of_one_receive_are_separate_dicts_in_the_general_paths_key_order(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """Records are copies of one template: each record, and each one's attributes and
    message attributes, is its own dict (a handler changing one changes no other), with
    the keys in the order the general path writes them, whatever the receive counts and
    sent times of the messages received together."""
    queue = mesh.queue("copies")
    async with mesh:
        await queue.send({"n": 1})
        await clock.advance(0.0015)
        await queue.send({"n": 2})
        first = await queue.take_records(1, 0, 0)  # the first message comes back at once
        await queue.send({"n": 3})
        batch = await queue.take_records(2, 0, 30)
        (message,) = await queue.take(10, 0, 30)
        await queue.send({"n": 4})
        (later,) = (await queue.take_records(10, 0, 30)).records
    records = batch.records
    assert [r["body"] for r in records] == ['{"n":1}', '{"n":2}']
    assert message.body == '{"n":3}'
    assert [r["attributes"]["ApproximateReceiveCount"] for r in records] == ["2", "1"]
    sent = [int(r["attributes"]["SentTimestamp"]) for r in records]
    assert sent[1] - sent[0] == 1
    assert records[0]["receiptHandle"] != first.records[0]["receiptHandle"]
    assert list(message.to_record(queue.arn, queue.context.region)) == RECORD_KEYS
    for record in [*records, later]:
        assert list(record) == RECORD_KEYS
        assert list(record["attributes"]) == ATTRIBUTE_KEYS
    records[0]["attributes"]["SenderId"] = "changed"
    records[0]["messageAttributes"]["x"] = {}
    records[0]["eventSource"] = "changed"
    for record in (records[1], later):
        assert record["attributes"]["SenderId"] == "AIDAEVENTMESHLOCAL0001"
        assert record["messageAttributes"] == {}
        assert record["eventSource"] == "aws:sqs"


class CountingStore(MemoryQueueStore):
    """A memory store whose ``receive`` and ``delete`` are overridden: it receives and
    deletes at once no more (``takes_now`` is False), and every call is seen."""

    def __init__(self, clock: Any) -> None:
        super().__init__(clock)
        self.calls: list[str] = []

    async def receive(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append("receive")
        return await super().receive(*args, **kwargs)

    async def delete(self, queue: str, receipts: Sequence[str]) -> int:
        self.calls.append("delete")
        return await super().delete(queue, receipts)


async def test_a_store_that_overrides_receive_or_delete_is_called_for_every_one(
    clock: VirtualClock,
) -> None:
    from eventmesh.backends import Backend
    from eventmesh.backends.memory import memory_backend

    default = memory_backend(clock)
    store = CountingStore(clock)
    backend = Backend(
        queues=store, logs=default.logs, values=default.values, blobs=default.blobs,
        in_memory=True,
    )  # fmt: skip
    mesh = Mesh(clock=clock, storage=backend, drain_timeout=2.0)
    assert not store.takes_now and MemoryQueueStore(clock).takes_now
    queue = mesh.queue("seen")
    seen: list[str] = []

    @mesh.function()
    async def consume(event: dict[str, Any], context: Context) -> None:
        seen.extend(r["body"] for r in event["Records"])

    queue.subscribe(consume)
    async with mesh:
        await queue.send({"n": 1})
        await clock.advance(1)
        assert seen == ['{"n":1}']
        assert (await queue.stats()).total == 0
    assert "delete" in store.calls and "receive" in store.calls


async def _fifo_retries_and_redrive(clock: VirtualClock, immediate: bool) -> list[Any]:
    """A FIFO queue whose first message always fails (a partial batch response), with
    redrive after 2 receives, a throttle-free retry and a plain failure: what the handler
    saw, what the dead-letter queue got, and what is left."""
    from eventmesh.backends import Backend
    from eventmesh.backends.memory import memory_backend

    default = memory_backend(clock)
    store = MemoryQueueStore(clock) if immediate else CountingStore(clock)
    assert store.takes_now is immediate
    backend = Backend(
        queues=store, logs=default.logs, values=default.values, blobs=default.blobs,
        in_memory=True,
    )  # fmt: skip
    mesh = Mesh(clock=clock, storage=backend, drain_timeout=2.0)
    queue = mesh.queue("work.fifo", max_receive_count=2, dead_letter="dead.fifo",
                       visibility_timeout=5)  # fmt: skip
    dead = mesh.queue("dead.fifo")
    seen: list[Any] = []
    failures = [True]

    @mesh.function(timeout=1)
    async def consume(event: dict[str, Any], context: Context) -> Any:
        records = event["Records"]
        seen.append([(r["body"], r["attributes"]["ApproximateReceiveCount"],
                      r["attributes"]["MessageGroupId"]) for r in records])  # fmt: skip
        if failures.pop() if failures else False:
            raise RuntimeError("the first batch fails whole")
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records
                                      if r["body"] == '{"n":1}']}  # fmt: skip

    queue.subscribe(consume, report_batch_item_failures=True)
    async with mesh:
        for n, group in ((1, "a"), (2, "a"), (3, "b")):
            await queue.send({"n": n}, group_id=group, deduplication_id=str(n))
        await clock.advance(60)
        left = await queue.stats()
        moved = [m.body for m in await dead.take(10, 0, 30)]
    return [seen, moved, left]


async def test_the_mapping_gives_the_same_batches_on_the_immediate_and_the_general_path(
    clock: VirtualClock,
) -> None:
    fast = await _fifo_retries_and_redrive(clock, True)
    general = await _fifo_retries_and_redrive(VirtualClock(), False)
    assert fast == general
    seen, moved, left = fast
    assert moved == ['{"n":1}', '{"n":2}']  # the group's later message stays behind it
    assert left.total == 0
    assert seen[0] == [('{"n":1}', "1", "a"), ('{"n":2}', "1", "a"), ('{"n":3}', "1", "b")]
