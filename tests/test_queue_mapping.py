"""The SQS event source mapping: batches, deletes, partial failures, filters, FIFO, scaling."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from eventmesh import ConfigurationError, Context, Mesh, Telemetry
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


async def test_an_alias_is_checked_with_every_version_it_routes_to(mesh: Mesh) -> None:
    """A 1% share to a version slower than the visibility timeout is refused at every start,
    not only when a draw of the alias's routing happens to pick it."""
    queue = mesh.queue("orders", visibility_timeout=10)
    consumer(mesh, timeout=5)
    function = mesh.get_function("consume")
    function.publish_version()
    function.update_configuration(timeout=20)
    function.publish_version()
    mesh.alias(function, "live", version="1", routing={"2": 0.01})
    queue.subscribe("consume:live")
    with pytest.raises(ConfigurationError, match="times out after 20 s"):
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


# -- settings and their messages (reference §3.1, §3.2, §3.4) -------------------------------
@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"batch_size": True}, "batch_size must be an integer from 1 to 10000"),
        ({"batch_size": 2.5}, "batch_size must be an integer from 1 to 10000"),
        ({"batch_size": 0}, "batch_size must be from 1 to 10000 for this queue, got 0"),
        (
            {"batch_size": 10_001, "batching_window": 1},
            "batch_size must be from 1 to 10000 for this queue, got 10001",
        ),
        (
            {"batch_size": 11, "batching_window": 0.5},
            "a batch_size over 10 needs a batching_window of 1 s or more",
        ),
        ({"batching_window": 301}, "batching_window: must be a number from 0 to 300, got 301"),
        ({"batching_window": -1}, "batching_window: must be a number from 0 to 300, got -1"),
        ({"max_concurrency": 1}, "max_concurrency: must be an integer from 2 to 1000, got 1"),
        ({"max_concurrency": 1001}, "max_concurrency: must be an integer from 2 to 1000, got 1001"),
        ({"max_concurrency": 2.5}, "max_concurrency: must be an integer from 2 to 1000, got 2.5"),
        ({"filters": {"body": ["a"]}}, "filters: a list of up to 10 patterns, got dict"),
        ({"filters": "body"}, "filters: a list of up to 10 patterns, got str"),
        ({"filters": {frozenset()}}, "filters: a list of up to 10 patterns, got set"),
        (
            {"filters": [{"body": [str(i)]} for i in range(11)]},
            "an event source mapping takes at most 10 filters",
        ),
    ],
)
def test_mapping_settings_are_refused_with_a_message_naming_the_setting(
    mesh: Mesh, settings: dict[str, Any], message: str
) -> None:
    """Lambda's limits for an SQS mapping: BatchSize 1-10,000 (over 10 only with a batching
    window of at least 1 s), MaximumBatchingWindowInSeconds 0-300, MaximumConcurrency 2-1000,
    at most 10 filters; the message names the setting and the allowed range."""
    queue = mesh.queue("orders")
    consumer(mesh)
    with pytest.raises(ConfigurationError) as refused:
        queue.subscribe("consume", **settings)
    assert str(refused.value) == message


def test_a_fifo_queue_takes_batches_of_at_most_10(mesh: Mesh) -> None:
    """SQS FIFO: BatchSize at most 10 (reference §3.1), and the message says so."""
    fifo = mesh.queue("orders.fifo", content_based_deduplication=True)
    consumer(mesh)
    with pytest.raises(ConfigurationError) as refused:
        fifo.subscribe("consume", batch_size=11, batching_window=1)
    assert str(refused.value) == "batch_size must be from 1 to 10 for this queue, got 11"
    assert fifo.subscribe("consume", batch_size=10).batch_size == 10


@pytest.mark.parametrize(
    "settings",
    [
        {"batch_size": 10_000, "batching_window": 1},
        {"batch_size": 11, "batching_window": 1},
        {"batch_size": 10, "batching_window": 0},
        {"batching_window": 300},
        {"max_concurrency": 2},
        {"max_concurrency": 1000},
        {"filters": [{"body": [str(i)]} for i in range(10)]},
    ],
)
def test_the_limits_of_mapping_settings_are_accepted(mesh: Mesh, settings: dict[str, Any]) -> None:
    """The bounds themselves are valid: BatchSize 10,000 (with a 1 s window), a window of
    exactly 300 s, MaximumConcurrency 2 and 1000, ten filters."""
    queue = mesh.queue("orders")
    consumer(mesh)
    mapping = queue.subscribe("consume", **settings)
    for name, value in settings.items():
        if name != "filters":
            assert getattr(mapping, name) == value
    assert len(mapping.filters) == len(settings.get("filters", []))


def _pattern_of_length(length: int) -> dict[str, Any]:
    """A filter pattern whose compact JSON text is exactly ``length`` characters."""
    frame = len('{"body":{"k":["",""],"j":["y"]}}')
    return {"body": {"k": ["x" * (length - frame), ""], "j": ["y"]}}


def test_a_filter_pattern_is_at_most_4096_characters(mesh: Mesh) -> None:
    """FilterCriteria: each Pattern is at most 4,096 characters (reference §3.4): a pattern
    given as an object counts as its compact JSON text, one given as text counts as written
    (its spaces too)."""
    consumer(mesh)
    exact = _pattern_of_length(4096)
    assert len(json.dumps(exact, separators=(",", ":"))) == 4096
    assert len(json.dumps(exact)) > 4096  # the default separators would add spaces
    mesh.queue("object").subscribe("consume", filters=[exact])
    frame = len('{"body": [""]}')
    spaced = '{"body": ["' + "y" * (4096 - frame) + '"]}'
    assert len(spaced) == 4096
    mesh.queue("text").subscribe("consume", filters=[spaced])
    with pytest.raises(ConfigurationError) as refused:
        mesh.queue("long").subscribe("consume", filters=[spaced.replace(": ", ":  ")])
    assert str(refused.value) == "a filter pattern is at most 4,096 characters"


async def test_an_unknown_function_fails_the_start_naming_the_queue(mesh: Mesh) -> None:
    queue = mesh.queue("orders")
    queue.subscribe("nobody")
    with pytest.raises(ConfigurationError) as refused:
        await mesh.start()
    await mesh.stop()
    assert str(refused.value).startswith("mapping of queue 'orders': ")
    assert "nobody" in str(refused.value)


async def test_a_function_timeout_equal_to_the_visibility_timeout_is_accepted(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """Lambda validates function timeout <= queue visibility timeout (reference §3.2): equal
    is allowed."""
    queue = mesh.queue("orders", visibility_timeout=10)
    batches, _ = consumer(mesh, timeout=10)
    queue.subscribe("consume")
    async with mesh:
        await queue.send("x")
        await clock.advance(0)
    assert len(batches) == 1


def test_a_mappings_repr_names_the_queue_and_the_function(mesh: Mesh) -> None:
    queue = mesh.queue("orders")
    other = mesh.queue("other")
    consumer(mesh)

    @mesh.function
    async def handle(event: Any, context: Context) -> None:
        return None

    assert repr(queue.subscribe("consume")) == "<QueueMapping orders -> consume>"
    assert repr(other.subscribe(handle)) == "<QueueMapping other -> handle>"


# -- partial batch responses -----------------------------------------------------------------
def test_an_item_identifier_that_is_not_a_string_fails_the_batch() -> None:
    """ReportBatchItemFailures: an itemIdentifier must be a message id of the batch; a list or
    an object holding one is a malformed answer, not a failure of that message."""
    assert failed_item_ids({"batchItemFailures": [{"itemIdentifier": ["m2"]}]}, ["m2"]) is None
    assert failed_item_ids({"batchItemFailures": [{"itemIdentifier": {"m2": 1}}]}, ["m2"]) is None
    assert failed_item_ids({"batchItemFailures": [{"itemIdentifier": 2}]}, ["2"]) is None


async def test_an_invalid_partial_response_is_logged_as_failing_the_whole_batch(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    queue = mesh.queue("orders", visibility_timeout=30)
    _, behaviour = consumer(mesh)
    behaviour[0] = {"batchItemFailures": "all of them"}
    queue.subscribe("consume", report_batch_item_failures=True)
    with caplog.at_level(logging.WARNING, logger="eventmesh.mappings"):
        async with mesh:
            await queue.send("a")
            await clock.advance(0)
            behaviour[0] = None
    assert [r.getMessage() for r in caplog.records if r.name == "eventmesh.mappings"] == [
        "invalid partial batch response from consume: the whole batch failed"
    ]


async def test_a_fifo_partial_failure_holds_back_only_the_failed_group(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """FIFO with ReportBatchItemFailures: a group's messages after a failed one are retried
    with it, in order; the other groups of the batch are done (reference §3.2)."""
    queue = mesh.queue("orders.fifo", visibility_timeout=30, content_based_deduplication=True)
    batches, behaviour = consumer(mesh)
    behaviour[0] = lambda event: {
        "batchItemFailures": [
            {"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "a1"
        ]
    }
    queue.subscribe("consume", report_batch_item_failures=True)
    async with mesh:
        for body, group in [("a0", "a"), ("b0", "b"), ("a1", "a"), ("b1", "b"), ("a2", "a")]:
            await queue.send(body, group_id=group)
        await queue.send("c0", group_id="c")
        await clock.advance(0)
        behaviour[0] = None
        await clock.advance(30)
        await clock.advance(0)
        stats = await queue.stats()
    assert [r["body"] for r in batches[0]] == ["a0", "b0", "a1", "b1", "a2", "c0"]
    assert [[r["body"] for r in batch] for batch in batches[1:]] == [["a1", "a2"]]
    assert stats.total == 0


# -- function errors, throttles and the log --------------------------------------------------
async def test_a_function_error_is_logged_with_the_receive_count_as_the_attempt(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A failed batch writes Lambda's [ERROR] line; the attempt is the highest
    ApproximateReceiveCount of the batch (SQS counts the receives, reference §3.2)."""
    queue = mesh.queue("orders", visibility_timeout=30)
    batches, behaviour = consumer(mesh)
    behaviour[0] = ValueError("declined")
    queue.subscribe("consume")
    with caplog.at_level(logging.ERROR, logger="eventmesh.invocations"):
        async with mesh:
            await queue.send("a")
            await clock.advance(0)
            await clock.advance(30)
            behaviour[0] = None
            await queue.send("b")
            await clock.advance(30)
    lines = [r for r in caplog.records if getattr(r, "phase", None) == "ERROR"]
    assert [(r.function_name, r.attempt, r.source) for r in lines] == [  # type: ignore[attr-defined]
        ("consume", 1, "queue orders"),
        ("consume", 2, "queue orders"),
    ]
    request_id = lines[0].request_id  # type: ignore[attr-defined]
    assert lines[0].getMessage().split("\n")[0] == (
        f"[ERROR] ValueError: declined RequestId: {request_id} Function: consume Attempt: 1"
        " Source: queue orders"
    )
    assert len(request_id) == 36
    assert len(batches) >= 2


async def test_throttled_batches_back_off_1_2_4_8_16_then_30_seconds(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """A throttle (429) leaves the batch to come back after its visibility timeout and backs
    the poller off, more each time (reference §3.2, 'gradual back-off')."""
    queue = mesh.queue("orders", visibility_timeout=30)

    @mesh.function(reserved_concurrency=0)
    async def stopped(event: Any, context: Context) -> None:
        return None

    queue.subscribe(stopped, batch_size=1)
    seen: list[float] = []
    await mesh.start()
    for i in range(9):
        await queue.send(str(i))
    await clock.advance(0)
    for second in range(1, 122):
        before = stopped.stats.throttles
        await clock.advance(1)
        seen.extend([second] * (stopped.stats.throttles - before))
    await mesh.stop(drain=False)  # the messages are still there: nothing to wait for
    assert seen == [1, 3, 7, 15, 31, 61, 91, 121]


async def test_the_throttle_back_off_starts_again_after_a_batch_goes_through(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """Throttles back off 1 s, 2 s, ...; an invocation that runs resets the ramp, so the next
    throttle waits 1 s again (reference §2.6, §3.2)."""
    queue = mesh.queue("orders", visibility_timeout=900)
    release = asyncio.Event()

    @mesh.function(timeout=900, reserved_concurrency=1)
    async def single(event: Any, context: Context) -> None:
        if "hold" in event:
            await release.wait()

    queue.subscribe(single, batch_size=1)
    throttled_at: list[float] = []

    async def step(seconds: float) -> None:
        for _ in range(int(seconds * 2)):
            before = single.stats.throttles
            await clock.advance(0.5)
            if single.stats.throttles != before:
                throttled_at.append(clock.now() - start)

    await mesh.start()
    start = clock.now()
    holder = asyncio.create_task(mesh.invoke("single", {"hold": True}))
    await clock.advance(0)
    await queue.send("m0")  # throttled at 0, the poller waits 1 s
    await step(0.5)
    await queue.send("m1")  # taken at 1: throttled, the poller waits 2 s
    await step(1.5)
    release.set()
    await holder
    await queue.send("m2")  # taken at 3: runs, and the ramp starts again
    await step(1.5)
    release.clear()
    holder = asyncio.create_task(mesh.invoke("single", {"hold": True}))
    await step(0.5)
    await queue.send("m3")  # taken at once: throttled, the poller waits 1 s (not 4)
    await step(0.5)
    await queue.send("m4")  # taken at 5: throttled, the poller waits 2 s
    await step(1)
    await queue.send("m5")  # taken at 7
    await step(2)
    release.set()
    await holder
    await mesh.stop(drain=False)  # m3 and m4 would come back only after 900 s
    assert throttled_at == [0.5, 1.0, 4.5, 5.0, 7.0]  # each seen at the end of its half second


# -- visibility, windows and sizes -----------------------------------------------------------
async def test_a_batching_window_extends_the_visibility_by_window_timeout_and_30_seconds(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """With a batching window, when window + function timeout exceed the queue's visibility
    timeout, the messages stay hidden for window + timeout + 30 s (reference §3.2)."""
    queue = mesh.queue("orders", visibility_timeout=30)
    batches, behaviour = consumer(mesh, timeout=25)
    behaviour[0] = RuntimeError("down")
    queue.subscribe("consume", batching_window=10)
    async with mesh:
        await queue.send("a")
        await clock.advance(10)  # the window ends: invoked, failed
        assert len(batches) == 1
        behaviour[0] = None
        await clock.advance(54.9)
        assert len(batches) == 1, "not back after the queue's 30 s"
        await clock.advance(0.1)  # 10 + 25 + 30 = 65 s after it was taken
        await clock.advance(10)
    assert len(batches) == 2


async def test_a_window_that_fits_the_visibility_timeout_keeps_the_queues(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """Window + timeout equal to the visibility timeout: the queue's own timeout applies."""
    queue = mesh.queue("orders", visibility_timeout=30)
    batches, behaviour = consumer(mesh, timeout=25)
    behaviour[0] = RuntimeError("down")
    queue.subscribe("consume", batching_window=5)
    async with mesh:
        await queue.send("a")
        await clock.advance(5)
        behaviour[0] = None
        await clock.advance(24.9)
        assert len(batches) == 1
        await clock.advance(0.1)  # back 30 s after it was taken
        await clock.advance(5)
    assert len(batches) == 2


async def test_a_full_batch_goes_before_the_window_ends(mesh: Mesh, clock: VirtualClock) -> None:
    """A batch is sent when any of window, batch size or 6 MB is reached (reference §3.1)."""
    queue = mesh.queue("orders", visibility_timeout=120)
    batches, _ = consumer(mesh)
    queue.subscribe("consume", batch_size=15, batching_window=60, max_concurrency=2)
    async with mesh:
        for i in range(10):
            await queue.send(str(i))
        await clock.advance(1)
        for i in range(10, 20):
            await queue.send(str(i))
        await clock.advance(0)
        assert [len(batch) for batch in batches] == [15], "full at 1 s, not at 60 s"
        await clock.advance(60)
    assert [len(batch) for batch in batches] == [15, 5]


async def test_the_window_keeps_gathering_until_its_last_moment(
    mesh: Mesh, clock: VirtualClock
) -> None:
    queue = mesh.queue("orders", visibility_timeout=60)
    batches, _ = consumer(mesh, reserved_concurrency=1)  # one poller gathers them all
    queue.subscribe("consume", batch_size=20, batching_window=5)
    async with mesh:
        await queue.send("first")
        await clock.advance(4.2)
        await queue.send("mid")
        await clock.advance(0.6)
        await queue.send("late")  # 4.8 s into the window
        await clock.advance(0.2)
        await clock.advance(1)
    assert [[r["body"] for r in batch] for batch in batches] == [["first", "mid", "late"]]


async def test_six_megabytes_end_the_window(mesh: Mesh, clock: VirtualClock) -> None:
    """Messages gathered over several receives reach 6 MB: the batch goes at once, without
    waiting for the rest of the window (reference §3.1)."""
    queue = mesh.queue("big", visibility_timeout=120)
    batches, _ = consumer(mesh)
    queue.subscribe("consume", batch_size=100, batching_window=60, max_concurrency=2)
    async with mesh:
        for i in range(4):
            await queue.send(str(i) * 1_000_000)
        await clock.advance(1)
        assert batches == []
        for i in range(4, 7):
            await queue.send(str(i) * 1_000_000)
        await clock.advance(0)
        assert [len(batch) for batch in batches] == [6, 1]


async def test_a_batch_fills_6_mib_exactly_and_not_one_byte_more(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """Lambda's 6 MB (6 MiB) invocation payload: a batch may fill it exactly; a record that
    would cross it opens the next batch. Each record counts its body and 1,024 bytes for its
    other fields."""
    queue = mesh.queue("big", visibility_timeout=30)
    batches, _ = consumer(mesh)
    queue.subscribe("consume", batch_size=10)
    body = 6 * 1024 * 1024 // 6 - 1024
    async with mesh:
        for i in range(6):
            await queue.send(str(i) * body)
        await queue.send("y")
        await clock.advance(0)
    assert [len(batch) for batch in batches] == [6, 1]


async def test_no_batch_is_bigger_than_batch_size(mesh: Mesh, clock: VirtualClock) -> None:
    queue = mesh.queue("orders", visibility_timeout=60)
    batches, _ = consumer(mesh)
    queue.subscribe("consume", batch_size=15, batching_window=5, max_concurrency=2)
    async with mesh:
        for i in range(10):
            await queue.send(str(i))
        await clock.advance(1)
        for i in range(10, 20):
            await queue.send(str(i))
        await clock.advance(5)
        await clock.advance(5)
    assert [len(batch) for batch in batches] == [15, 5]


# -- concurrency ------------------------------------------------------------------------------
async def test_a_reserved_concurrency_of_1_runs_one_batch_at_a_time(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """Reserved concurrency is a maximum (reference §2.5): the mapping runs one batch at a time
    for a function reserved to 1, so it is never throttled."""
    queue = mesh.queue("orders", visibility_timeout=120)
    running = 0
    peak = 0

    @mesh.function(timeout=60, reserved_concurrency=1)
    async def single(event: Any, context: Context) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await clock.sleep(10)
        running -= 1

    queue.subscribe(single, batch_size=1)
    async with mesh:
        for i in range(3):
            await queue.send(str(i))
        for _ in range(4):
            await clock.advance(10)
    assert peak == 1
    assert single.stats.throttles == 0
    assert single.stats.invocations == 3


async def test_a_standard_queue_scales_out_while_batches_keep_coming(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """Lambda starts with 5 concurrent batches and adds pollers while messages are waiting,
    up to 1,000 (reference §3.2): 20 slow batches waiting all run at once."""
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

    mapping = queue.subscribe(slow, batch_size=1)
    async with mesh:
        for i in range(20):
            await queue.send(str(i))
        await clock.advance(0)
        await clock.advance(10)
        await clock.advance(30)  # the extra pollers find nothing and retire
        for i in range(20):
            await queue.send(str(i))
        await clock.advance(0)
        await clock.advance(10)
    assert peak == 20
    assert mapping.batches == 40


async def test_the_last_poller_never_retires(mesh: Mesh, clock: VirtualClock) -> None:
    """A mapping keeps polling through hours without messages: its first pollers do not
    retire, even when there is only one (a function reserved to 1)."""
    queue = mesh.queue("orders")
    batches, _ = consumer(mesh, reserved_concurrency=1)
    queue.subscribe("consume")
    async with mesh:
        await clock.advance(3 * 3600 + 1)
        await queue.send("after hours")
        await clock.advance(0)
    assert [r["body"] for b in batches for r in b] == ["after hours"]


async def test_pending_counts_batches_running_cut_records_and_waiting_messages(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """What a drain waits for: batches in progress, records cut from a batch by the 6 MB
    limit (received, not yet delivered), and messages waiting in the queue."""
    queue = mesh.queue("big", visibility_timeout=60)
    release = asyncio.Event()

    @mesh.function(timeout=60, reserved_concurrency=1)
    async def held(event: Any, context: Context) -> None:
        await release.wait()

    mapping = queue.subscribe(held, batch_size=10)
    async with mesh:
        for i in range(10):
            await queue.send(str(i) * 1_000_000)
        await clock.advance(0)
        assert await mapping.pending() == 1 + 4  # a batch of 6 running, 4 cut from it
        await queue.send("small")
        assert await mapping.pending() == 1 + 4 + 1
        release.set()
        await clock.advance(0)
    assert await mapping.pending() == 0  # stopped: its queue is no longer its work
    assert (await queue.stats()).total == 0


async def test_pending_of_a_stopped_mapping_is_zero(mesh: Mesh, clock: VirtualClock) -> None:
    queue = mesh.queue("orders")
    consumer(mesh)
    mapping = queue.subscribe("consume")
    async with mesh:
        pass
    await queue.send("left for the next run")
    assert await mapping.pending() == 0


# -- what the function sees ------------------------------------------------------------------
async def test_a_handler_sending_to_its_own_full_queue_does_not_wait_for_itself(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """A queue at max_pending: a send from the handler of its own mapping goes in over the
    limit at once (the room it would wait for is freed only when the handler ends)."""
    queue = mesh.queue("work", max_pending=1)
    bodies: list[str] = []

    @mesh.function
    async def worker(event: Any, context: Context) -> None:
        body = event["Records"][0]["body"]
        bodies.append(body)
        if body == "first":
            await queue.send("follow-up", timeout=0)

    queue.subscribe(worker, batch_size=1)
    async with mesh:
        await queue.send("first")
        await clock.advance(0)
        await clock.advance(0)
    assert bodies == ["first", "follow-up"]
    assert worker.stats.errors == 0


async def test_the_senders_trace_is_the_parent_and_the_trigger_is_pubsub(
    clock: VirtualClock,
) -> None:
    """The invocation's span continues the sender's trace (the message's trace context, as
    AWSTraceHeader), with faas.trigger 'pubsub' as for any event source mapping."""
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    mesh = Mesh(clock=clock, telemetry=Telemetry(provider), drain_timeout=2.0)
    queue = mesh.queue("orders")
    consumer(mesh)
    queue.subscribe("consume")
    async with mesh:
        with provider.get_tracer("test").start_as_current_span("produce"):
            await queue.send("x")
        await clock.advance(0)
    finished = spans.get_finished_spans()
    produce = next(span for span in finished if span.name == "produce")
    invocation = next(span for span in finished if span.name == "consume")
    assert invocation.parent is not None and produce.context is not None
    assert invocation.parent.span_id == produce.context.span_id
    assert (invocation.attributes or {})["faas.trigger"] == "pubsub"


async def test_filtered_out_messages_are_counted(mesh: Mesh, clock: VirtualClock) -> None:
    queue = mesh.queue("orders")
    batches, _ = consumer(mesh)
    mapping = queue.subscribe("consume", filters=[{"body": {"kind": ["order"]}}])
    async with mesh:
        await queue.send({"kind": "order"})
        await clock.advance(0)
        for _ in range(3):
            await queue.send({"kind": "click"})
            await clock.advance(0)
        await queue.send({"kind": "order"})
        await clock.advance(0)
    assert mapping.filtered_out == 3
    assert mapping.batches == 2
    assert len(batches) == 2


async def test_a_json_array_body_is_filtered_as_json(mesh: Mesh, clock: VirtualClock) -> None:
    """SQS filtering: a JSON body is matched as JSON (reference §3.4); an array body too, a
    pattern value matching any of its elements."""
    queue = mesh.queue("orders")
    batches, _ = consumer(mesh)
    queue.subscribe("consume", filters=[{"body": ["urgent"]}])
    async with mesh:
        await queue.send(["urgent", "restock"])
        await queue.send(["later"])
        await clock.advance(0)
    assert [r["body"] for b in batches for r in b] == ['["urgent","restock"]']


async def test_pending_counts_each_batch_running(mesh: Mesh, clock: VirtualClock) -> None:
    queue = mesh.queue("orders", visibility_timeout=60)
    release = asyncio.Event()

    @mesh.function(timeout=60)
    async def held(event: Any, context: Context) -> None:
        await release.wait()

    mapping = queue.subscribe(held, batch_size=1)
    async with mesh:
        for i in range(3):
            await queue.send(str(i))
        await clock.advance(0)
        assert await mapping.pending() == 3
        release.set()
        await clock.advance(0)
        assert await mapping.pending() == 0


async def test_the_window_opens_with_the_first_message_not_with_the_poll(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """MaximumBatchingWindowInSeconds counts from the first record of the batch (reference
    §3.1): a long poll that ended empty does not start a window."""
    queue = mesh.queue("orders", visibility_timeout=60)
    batches, _ = consumer(mesh)
    queue.subscribe("consume", batching_window=10)
    async with mesh:
        await clock.advance(3600)  # the idle pollers' long polls end empty, and start again
        await clock.advance(5)
        await queue.send("late")
        await clock.advance(9.9)
        assert batches == []
        await clock.advance(0.1)
        assert len(batches) == 1


async def test_six_mib_of_bodies_in_one_receive_end_the_window(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """Six bodies of 1 MiB reach the 6 MB payload at once: the batch goes without waiting for
    the window (and, with its other fields, the sixth opens the next batch)."""
    queue = mesh.queue("big", visibility_timeout=120)
    batches, _ = consumer(mesh, reserved_concurrency=1)
    queue.subscribe("consume", batch_size=100, batching_window=60)
    async with mesh:
        for i in range(6):
            await queue.send(str(i) * 1024 * 1024)
        await clock.advance(0)
        assert [len(batch) for batch in batches] == [5, 1]


async def test_a_backlog_of_handlers_that_never_wait_yields_every_16_batches(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """A poller draining a backlog for a handler that never suspends lets the rest of the
    program run after every 16th batch, so one busy mapping cannot starve the loop."""
    queue = mesh.queue("orders", visibility_timeout=30)
    gate = asyncio.Event()
    turns = 0
    seen: list[int] = []

    @mesh.function(reserved_concurrency=1)
    async def busy(event: Any, context: Context) -> None:
        if event["Records"][0]["body"] == "0":
            await gate.wait()
        seen.append(turns)

    queue.subscribe(busy, batch_size=1)
    async with mesh:
        for n in range(41):
            await queue.send(str(n))
        await clock.advance(0)
        assert seen == []  # message 0 holds the only poller; 40 wait behind it
        gate.set()
        while len(seen) < 41 and turns < 1000:
            turns += 1
            await asyncio.sleep(0)
    start = seen[0]
    # Message 0 was the poller's 1st batch; it yields after its 16th and 32nd.
    assert [turn - start for turn in seen] == [0] * 16 + [1] * 16 + [2] * 9


async def test_idle_pollers_wake_hourly_and_extra_pollers_retire_after_20_s(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """An idle mapping's first pollers long-poll for an hour (sends wake them), so a virtual
    clock advanced by days costs a wake-up an hour; pollers added for a burst poll 20 s (the
    SQS maximum) and retire when that finds nothing, down to the first five."""
    queue = mesh.queue("orders", visibility_timeout=7200)

    @mesh.function(timeout=30)
    async def slow(event: Any, context: Context) -> None:
        await clock.sleep(10)

    queue.subscribe(slow, batch_size=1)
    async with mesh:
        await clock.advance(0)
        assert clock.next_timer() == 3600.0
        for i in range(20):
            await queue.send(str(i))
        await clock.advance(0)
        await clock.advance(10)  # the poller added last found nothing at 0: it polls 20 s
        assert clock.next_timer() == 20.0
        await clock.advance(10)  # 20 batches done at 10: every poller polled again, 20 s
        assert clock.next_timer() == 30.0
        await clock.advance(10)  # the extra ones retire; five poll for an hour
        assert clock.next_timer() > 50.0  # no poll of 20 s is left


async def test_a_message_sent_outside_any_trace_starts_a_new_trace(clock: VirtualClock) -> None:
    """With tracing on, a message that carries no trace context (sent outside any span) is
    handled in a new trace: the invocation's span has no parent."""
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    mesh = Mesh(clock=clock, telemetry=Telemetry(provider), drain_timeout=2.0)
    queue = mesh.queue("orders")
    batches, _ = consumer(mesh)
    queue.subscribe("consume")
    async with mesh:
        await queue.send("x")
        await clock.advance(0)
    assert len(batches) == 1
    (invocation,) = [span for span in spans.get_finished_spans() if span.name == "consume"]
    assert invocation.parent is None
