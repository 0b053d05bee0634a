"""The SQS event source mapping: batches, deletes, partial failures, filters, FIFO, scaling."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest

from eventmesh import ConfigurationError, Context, Mesh
from eventmesh.mappings.queue_mapping import failed_item_ids
from eventmesh.testing import VirtualClock

Batches = list[list[dict[str, Any]]]


def consumer(mesh: Mesh, name: str = "consume", **settings: Any) -> tuple[Batches, Any]:
    """Register a function that records each batch; ``behaviour[0]`` decides its answer."""
    batches: Batches = []
    behaviour: list[Any] = [None]

    async def handler(event: dict[str, Any], context: Context) -> Any:
        batches.append(event["Records"])
        answer = behaviour[0]
        if isinstance(answer, Exception):
            raise answer
        return answer(event) if callable(answer) else answer

    mesh.function(name=name, **settings)(handler)
    return batches, behaviour


async def test_the_event_is_lambdas_sqs_event(mesh: Mesh, clock: VirtualClock) -> None:
    queue = mesh.queue("orders")
    batches, _ = consumer(mesh)
    queue.subscribe("consume")
    async with mesh:
        message_id = await queue.send({"id": 1}, {"kind": "order"})
        await clock.advance(0)
    (record,) = batches[0]
    assert record["messageId"] == message_id
    assert record["receiptHandle"]
    assert record["body"] == '{"id":1}'
    assert record["md5OfBody"] == hashlib.md5(b'{"id":1}').hexdigest()
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == "arn:aws:sqs:us-east-1:123456789012:orders"
    assert record["awsRegion"] == "us-east-1"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert set(record["attributes"]) == {
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    }
    assert all(isinstance(v, str) for v in record["attributes"].values())
    assert record["messageAttributes"] == {
        "kind": {
            "stringValue": "order",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        }
    }
    assert len(record["md5OfMessageAttributes"]) == 32


async def test_a_successful_batch_is_deleted(mesh: Mesh, clock: VirtualClock) -> None:
    queue = mesh.queue("orders")
    batches, _ = consumer(mesh)
    queue.subscribe("consume", batch_size=10)
    async with mesh:
        for i in range(25):
            await queue.send(str(i))
        await clock.advance(0)
        await clock.advance(60)
        stats = await queue.stats()
    assert sorted(int(r["body"]) for b in batches for r in b) == list(range(25))
    assert all(len(b) <= 10 for b in batches)
    assert stats.total == 0


async def test_a_failed_batch_comes_back_after_the_visibility_timeout(
    mesh: Mesh, clock: VirtualClock
) -> None:
    queue = mesh.queue("orders", visibility_timeout=30)
    batches, behaviour = consumer(mesh)
    behaviour[0] = RuntimeError("database down")
    queue.subscribe("consume")
    async with mesh:
        await queue.send("a")
        await queue.send("b")
        await clock.advance(29)
        assert len(batches) == 1
        behaviour[0] = None
        await clock.advance(1)
        await clock.advance(0)
    assert len(batches) == 2
    assert [r["attributes"]["ApproximateReceiveCount"] for r in batches[1]] == ["2", "2"]
    assert (await queue.stats()).total == 0


async def test_a_batch_that_keeps_failing_ends_in_the_dead_letter_queue(
    mesh: Mesh, clock: VirtualClock
) -> None:
    queue = mesh.queue("orders", visibility_timeout=30, max_receive_count=2, dead_letter="dlq")
    dlq = mesh.queue("dlq")
    batches, behaviour = consumer(mesh)
    behaviour[0] = RuntimeError("always")
    queue.subscribe("consume")
    async with mesh:
        await queue.send("poison")
        await clock.advance(0)
        await clock.advance(30)
        await clock.advance(30)
        dead = await dlq.receive()
    assert len(batches) == 2
    assert [m.body for m in dead] == ["poison"]


async def test_a_timeout_fails_the_batch(mesh: Mesh, clock: VirtualClock) -> None:
    queue = mesh.queue("orders", visibility_timeout=30)
    runs = 0

    @mesh.function(timeout=5)
    async def slow(event: Any, context: Context) -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            await asyncio.Event().wait()

    queue.subscribe(slow)
    async with mesh:
        await queue.send("x")
        await clock.advance(5)
        assert (await queue.stats()).in_flight == 1
        await clock.advance(25)
        await clock.advance(0)
    assert runs == 2
    assert (await queue.stats()).total == 0


async def test_partial_batch_responses_keep_only_the_failed(
    mesh: Mesh, clock: VirtualClock
) -> None:
    queue = mesh.queue("orders", visibility_timeout=30)
    batches, behaviour = consumer(mesh)
    behaviour[0] = lambda event: {
        "batchItemFailures": [
            {"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "bad"
        ]
    }
    queue.subscribe("consume", report_batch_item_failures=True)
    async with mesh:
        for body in ("ok1", "bad", "ok2"):
            await queue.send(body)
        await clock.advance(0)
        assert (await queue.stats()).in_flight == 1
        behaviour[0] = None
        await clock.advance(30)
        await clock.advance(0)
    assert [r["body"] for r in batches[1]] == ["bad"]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": None}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "m2"}]}, {"m2"}),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, None),
        ({"batchItemFailures": [{"itemIdentifier": None}]}, None),
        ({"batchItemFailures": [{"itemIdentifer": "m2"}]}, None),
        ({"batchItemFailures": [{"itemIdentifier": "unknown"}]}, None),
        ({"batchItemFailures": "m2"}, None),
        ("not an object", None),
    ],
)
def test_the_rules_of_partial_batch_responses(answer: Any, expected: set[str] | None) -> None:
    assert failed_item_ids(answer, ["m1", "m2", "m3"]) == expected


async def test_an_invalid_partial_response_fails_the_whole_batch(
    mesh: Mesh, clock: VirtualClock
) -> None:
    queue = mesh.queue("orders", visibility_timeout=30)
    batches, behaviour = consumer(mesh)
    behaviour[0] = {"batchItemFailures": [{"itemIdentifier": "not-in-this-batch"}]}
    queue.subscribe("consume", report_batch_item_failures=True)
    async with mesh:
        await queue.send("a")
        await queue.send("b")
        await clock.advance(0)
        behaviour[0] = None
        await clock.advance(30)
        await clock.advance(0)
    assert [len(b) for b in batches] == [2, 2]


async def test_a_batching_window_gathers_a_bigger_batch(mesh: Mesh, clock: VirtualClock) -> None:
    queue = mesh.queue("orders", visibility_timeout=60)
    batches, _ = consumer(mesh)
    queue.subscribe("consume", batch_size=50, batching_window=5, max_concurrency=2)
    async with mesh:
        await queue.send("first")
        await clock.advance(1)
        for i in range(30):
            await queue.send(str(i))
        await clock.advance(4)
        await clock.advance(0)
    assert len(batches[0]) == 31


async def test_mapping_settings_are_validated(mesh: Mesh) -> None:
    queue = mesh.queue("orders")
    fifo = mesh.queue("orders.fifo", content_based_deduplication=True)
    consumer(mesh)
    with pytest.raises(ConfigurationError, match="needs a batching_window"):
        queue.subscribe("consume", batch_size=11)
    with pytest.raises(ConfigurationError, match="from 1 to 10 for this queue"):
        fifo.subscribe("consume", batch_size=11, batching_window=1)
    with pytest.raises(ConfigurationError, match="max_concurrency"):
        queue.subscribe("consume", max_concurrency=1)
    with pytest.raises(ConfigurationError, match="batching_window"):
        queue.subscribe("consume", batching_window=301)


async def test_a_function_slower_than_the_visibility_timeout_is_refused(mesh: Mesh) -> None:
    queue = mesh.queue("orders", visibility_timeout=10)
    consumer(mesh, timeout=20)
    queue.subscribe("consume")
    with pytest.raises(ConfigurationError, match="longer than queue 'orders'"):
        await mesh.start()


async def test_filters_invoke_only_for_matches_and_delete_the_rest(
    mesh: Mesh, clock: VirtualClock
) -> None:
    queue = mesh.queue("orders")
    batches, _ = consumer(mesh)
    queue.subscribe("consume", filters=[{"body": {"total": [{"numeric": [">", 100]}]}}])
    async with mesh:
        await queue.send({"total": 150})
        await queue.send({"total": 50})
        await queue.send("plain text")
        await clock.advance(0)
        stats = await queue.stats()
    assert [r["body"] for b in batches for r in b] == ['{"total":150}']
    assert stats.total == 0


async def test_a_plain_text_filter_matches_plain_bodies_only(
    mesh: Mesh, clock: VirtualClock
) -> None:
    queue = mesh.queue("orders")
    batches, _ = consumer(mesh)
    queue.subscribe("consume", filters=[{"body": [{"prefix": "urgent"}]}])
    async with mesh:
        await queue.send("urgent: restock")
        await queue.send({"body": "urgent"})
        await clock.advance(0)
    assert [r["body"] for b in batches for r in b] == ["urgent: restock"]


async def test_fifo_order_survives_a_partial_failure(mesh: Mesh, clock: VirtualClock) -> None:
    queue = mesh.queue("orders.fifo", visibility_timeout=30, content_based_deduplication=True)
    batches, behaviour = consumer(mesh)
    behaviour[0] = lambda event: {
        "batchItemFailures": [
            {"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "a1"
        ]
    }
    queue.subscribe("consume", report_batch_item_failures=True)
    async with mesh:
        for body in ("a0", "a1", "a2"):
            await queue.send(body, group_id="a")
        await clock.advance(0)
        behaviour[0] = None
        await clock.advance(30)
        await clock.advance(0)
    assert [r["body"] for r in batches[0]] == ["a0", "a1", "a2"]
    assert [r["body"] for r in batches[1]] == ["a1", "a2"], "a2 waits for a1, in order"


async def test_max_concurrency_caps_concurrent_batches(mesh: Mesh, clock: VirtualClock) -> None:
    queue = mesh.queue("orders", visibility_timeout=120)
    running = 0
    peak = 0

    @mesh.function(timeout=60)
    async def slow(event: Any, context: Context) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await clock.sleep(10)
        running -= 1

    queue.subscribe(slow, batch_size=1, max_concurrency=3)
    async with mesh:
        for i in range(12):
            await queue.send(str(i))
        for _ in range(5):
            await clock.advance(10)
        stats = await queue.stats()
    assert peak == 3
    assert stats.total == 0


async def test_the_mapping_never_exceeds_reserved_concurrency(
    mesh: Mesh, clock: VirtualClock
) -> None:
    queue = mesh.queue("orders", visibility_timeout=120)
    running = 0
    peak = 0

    @mesh.function(timeout=60, reserved_concurrency=2)
    async def slow(event: Any, context: Context) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await clock.sleep(10)
        running -= 1

    queue.subscribe(slow, batch_size=1)
    async with mesh:
        for i in range(6):
            await queue.send(str(i))
        for _ in range(4):
            await clock.advance(10)
    assert peak == 2
    assert slow.stats.throttles == 0


async def test_messages_sent_before_leaving_the_block_are_processed(mesh: Mesh) -> None:
    queue = mesh.queue("orders")
    batches, _ = consumer(mesh)
    queue.subscribe("consume")
    async with mesh:
        await queue.send("last words")
    assert [r["body"] for b in batches for r in b] == ["last words"]


async def test_a_batch_stays_under_lambdas_six_megabytes(mesh: Mesh, clock: VirtualClock) -> None:
    queue = mesh.queue("big", visibility_timeout=30, max_receive_count=1, dead_letter="big-dlq")
    dlq = mesh.queue("big-dlq")
    batches, _ = consumer(mesh)
    queue.subscribe("consume", batch_size=10)
    async with mesh:
        for i in range(10):
            await queue.send(str(i) * (1000 * 1000))  # ten bodies of 1 MB
        await clock.advance(0)
        dead = await dlq.stats()
    sizes = [sum(len(r["body"]) for r in batch) for batch in batches]
    assert sum(len(batch) for batch in batches) == 10
    assert dead.total == 0, "a record cut from a batch was not received twice"
    assert all(size <= 6 * 1024 * 1024 for size in sizes)
    assert len(batches) >= 2


async def test_a_mesh_started_again_after_a_stop_polls_its_queues_again(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """Stopping stops a mapping's pollers; starting the mesh again must start them again (they
    used to stay stopped, so messages sent in the second run were never handled)."""
    queue = mesh.queue("orders")
    batches, _ = consumer(mesh)
    queue.subscribe("consume", batch_size=10)
    async with mesh:
        await queue.send("first run")
        await clock.advance(1)
    async with mesh:
        await queue.send("second run")
        await clock.advance(1)
        stats = await queue.stats()
    assert [r["body"] for b in batches for r in b] == ["first run", "second run"]
    assert stats.total == 0
