"""The Kinesis event source mapping: order, blocking, retries, bisection, partial batch
responses, parallelization, record age, filters, starting positions and checkpoints.

Expected values are written by hand from the reference (§3.3, §3.4, §4.4) and from the
mapping's documented retry schedule (1, 2, 4, 8, 16, then 30 s between retries). Time is a
VirtualClock starting at 2026-01-01T00:00:00Z; nothing sleeps in real time.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import sys
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricsData
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from eventmesh import ConfigurationError, Context, Mesh, Telemetry, TooManyRequestsError
from eventmesh.mappings.stream_mapping import StreamMapping
from eventmesh.resources.stream import Stream, create_stream
from eventmesh.testing import RecordingDestination, VirtualClock, settle

T0 = 1_767_225_600.0
SHARD = "shardId-000000000000"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:consume"
STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/s"

Decide = Callable[[list[str], list[dict[str, Any]]], Any]


class Consumer:
    """A function that records each batch's data (as text) and asks ``decide`` what to do:
    return a value (the function's result) or raise (a function error)."""

    def __init__(self, mesh: Mesh, decide: Decide | None = None, name: str = "consume") -> None:
        self.batches: list[list[str]] = []
        self.events: list[dict[str, Any]] = []
        self.request_ids: list[str] = []
        self.decide = decide

        async def handler(event: dict[str, Any], context: Context) -> Any:
            records = event["Records"]
            data = [base64.b64decode(r["kinesis"]["data"]).decode() for r in records]
            self.batches.append(data)
            self.events.append(event)
            self.request_ids.append(context.aws_request_id)
            if self.decide is not None:
                return self.decide(data, records)
            return None

        self.function = mesh.function(name=name)(handler)

    @property
    def delivered(self) -> list[str]:
        return [data for batch in self.batches for data in batch]


def fail_on(bad: str) -> Decide:
    def decide(data: list[str], records: list[dict[str, Any]]) -> None:
        if bad in data:
            raise ValueError(f"cannot process {bad}")

    return decide


def stream_of(mesh: Mesh, shards: int = 1) -> Stream:
    return create_stream(mesh.context, "s", shards=shards)


async def put_all(stream: Stream, *datas: str, key: str = "k") -> list[str]:
    """Put records in one call (so a mapping sees them together); their sequence numbers."""
    results = await stream.put_records([{"data": d, "partition_key": key} for d in datas])
    return [result.sequence_number for result in results]


# -- the event -------------------------------------------------------------------------------
async def test_event_shape_field_by_field(mesh: Mesh, clock: VirtualClock) -> None:
    stream = stream_of(mesh)
    consumer = Consumer(mesh)
    stream.subscribe(consumer.function)
    async with mesh:
        await clock.advance(0.25)
        put = await stream.put_record({"id": 7}, "user-1")
        await settle()
    (event,) = consumer.events
    assert event == {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": "user-1",
                    "sequenceNumber": put.sequence_number,
                    "data": base64.b64encode(b'{"id":7}').decode(),
                    "approximateArrivalTimestamp": 1767225600.25,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"shardId-000000000000:{put.sequence_number}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/consume-role",
                "awsRegion": "us-east-1",
                "eventSourceARN": STREAM_ARN,
            }
        ]
    }


async def test_each_batch_is_one_shard_in_order(mesh: Mesh, clock: VirtualClock) -> None:
    stream = stream_of(mesh, shards=3)
    keys = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
    puts: dict[str, list[str]] = {}
    for i in range(30):
        key = keys[i % len(keys)]
        result = await stream.put_record(f"r{i}", key)
        puts.setdefault(result.shard_id, []).append(f"r{i}")
    consumer = Consumer(mesh)
    stream.subscribe(consumer.function, batch_size=4, starting_position="TRIM_HORIZON")
    async with mesh:
        await settle()
    got: dict[str, list[str]] = {}
    for event, batch in zip(consumer.events, consumer.batches, strict=True):
        assert 1 <= len(batch) <= 4
        shards = {record["eventID"].split(":")[0] for record in event["Records"]}
        assert len(shards) == 1
        got.setdefault(shards.pop(), []).extend(batch)
    assert got == puts


async def test_batching_window_waits_for_a_full_batch(mesh: Mesh, clock: VirtualClock) -> None:
    stream = stream_of(mesh)
    consumer = Consumer(mesh)
    stream.subscribe(consumer.function, batch_size=3, batching_window=10)
    async with mesh:
        await put_all(stream, "a")
        await clock.advance(4)
        await put_all(stream, "b")
        await clock.advance(5.9)
        assert consumer.batches == []
        await clock.advance(0.1)  # the window opened with "a", 10 s ago
        assert consumer.batches == [["a", "b"]]
        await put_all(stream, "c", "d", "e")  # a full batch goes at once
        await settle()
        assert consumer.batches == [["a", "b"], ["c", "d", "e"]]


# -- errors ----------------------------------------------------------------------------------
async def test_a_failing_batch_blocks_its_shard_until_it_succeeds(
    mesh: Mesh, clock: VirtualClock
) -> None:
    stream = stream_of(mesh)
    broken = True

    def decide(data: list[str], records: list[dict[str, Any]]) -> None:
        if broken:
            raise ValueError("down")

    consumer = Consumer(mesh, decide)
    stream.subscribe(consumer.function, batch_size=2)
    async with mesh:
        await put_all(stream, "a", "b")
        await settle()
        await put_all(stream, "c", "d")
        await clock.advance(1)  # first retry, 1 s later
        await clock.advance(2)  # second retry, 2 s after the first
        assert consumer.batches == [["a", "b"]] * 3
        broken = False
        await clock.advance(4)  # third retry succeeds; the shard moves on
        assert consumer.batches == [["a", "b"]] * 4 + [["c", "d"]]


async def test_exhausted_retries_send_the_batch_to_on_failure_and_skip_it(
    mesh: Mesh, clock: VirtualClock
) -> None:
    stream = stream_of(mesh)
    first = await stream.put_record("a", "k")
    await clock.advance(0.5)
    last = await stream.put_record("b", "k")
    failures = RecordingDestination()
    consumer = Consumer(mesh, fail_on("a"))
    mapping = stream.subscribe(
        consumer.function,
        batch_size=10,
        starting_position="TRIM_HORIZON",
        max_retries=2,
        on_failure=failures,
    )
    async with mesh:
        await settle()  # invocation 1 at T0 + 0.5
        await clock.advance(1)  # retry 1
        assert failures.messages == []
        await clock.advance(2)  # retry 2, at T0 + 3.5: retries exhausted
        await put_all(stream, "c")
        await settle()
    assert consumer.batches == [["a", "b"]] * 3 + [["c"]]
    (record,) = failures.messages
    assert record == {
        "requestContext": {
            "requestId": consumer.request_ids[2],
            "functionArn": FUNCTION_ARN,
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 3,
        },
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "version": "1.0",
        "timestamp": "2026-01-01T00:00:03.500Z",
        "KinesisBatchInfo": {
            "shardId": SHARD,
            "startSequenceNumber": first.sequence_number,
            "endSequenceNumber": last.sequence_number,
            "approximateArrivalOfFirstRecord": "2026-01-01T00:00:00.000Z",
            "approximateArrivalOfLastRecord": "2026-01-01T00:00:00.500Z",
            "batchSize": 2,
            "streamArn": STREAM_ARN,
        },
    }
    assert mapping.discarded == 2


async def test_bisection_splits_until_the_bad_record_is_alone(
    mesh: Mesh, clock: VirtualClock
) -> None:
    stream = stream_of(mesh)
    numbers = await put_all(stream, "1", "2", "3", "4", "5", "6", "7", "8")
    failures = RecordingDestination()
    consumer = Consumer(mesh, fail_on("6"))
    stream.subscribe(
        consumer.function,
        batch_size=8,
        starting_position="TRIM_HORIZON",
        bisect_on_error=True,
        max_retries=0,  # splitting is not a retry: only the single bad record runs out
        on_failure=failures,
    )
    async with mesh:
        await settle()
    assert consumer.batches == [
        ["1", "2", "3", "4", "5", "6", "7", "8"],
        ["1", "2", "3", "4"],
        ["5", "6", "7", "8"],
        ["5", "6"],
        ["5"],
        ["6"],
        ["7", "8"],
    ]
    (record,) = failures.messages
    info = record["KinesisBatchInfo"]
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == numbers[5]
    assert info["batchSize"] == 1
    assert record["requestContext"]["approximateInvokeCount"] == 1


async def test_bisected_halves_are_retried_on_their_own(mesh: Mesh, clock: VirtualClock) -> None:
    stream = stream_of(mesh)
    await put_all(stream, "a", "b")
    failures = RecordingDestination()
    consumer = Consumer(mesh, fail_on("b"))
    stream.subscribe(
        consumer.function,
        starting_position="TRIM_HORIZON",
        bisect_on_error=True,
        max_retries=1,
        on_failure=failures,
    )
    async with mesh:
        await settle()
        assert consumer.batches == [["a", "b"], ["a"], ["b"]]
        await clock.advance(1)
    assert consumer.batches == [["a", "b"], ["a"], ["b"], ["b"]]
    assert failures.messages[0]["requestContext"]["approximateInvokeCount"] == 2


async def test_partial_batch_response_checkpoints_at_the_lowest_failure(
    mesh: Mesh, clock: VirtualClock
) -> None:
    stream = stream_of(mesh)
    numbers = await put_all(stream, "1", "2", "3", "4", "5")
    calls = 0

    def decide(data: list[str], records: list[dict[str, Any]]) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:  # reports 4 and 2 (in no order): the retry starts at 2
            return {"batchItemFailures": [{"itemIdentifier": n} for n in (numbers[3], numbers[1])]}
        return {"batchItemFailures": []}

    consumer = Consumer(mesh, decide)
    mapping = stream.subscribe(
        consumer.function, starting_position="TRIM_HORIZON", report_batch_item_failures=True
    )
    async with mesh:
        await settle()
        assert await mapping.checkpoint(SHARD) == numbers[0]
        await clock.advance(1)
        assert await mapping.checkpoint(SHARD) == numbers[4]
    assert consumer.batches == [["1", "2", "3", "4", "5"], ["2", "3", "4", "5"]]


async def test_a_malformed_partial_response_fails_the_whole_batch(
    mesh: Mesh, clock: VirtualClock
) -> None:
    stream = stream_of(mesh)
    await put_all(stream, "1", "2", "3")
    answers = iter([{"batchItemFailures": [{"itemIdentifier": ""}]}, None])
    consumer = Consumer(mesh, lambda data, records: next(answers))
    stream.subscribe(
        consumer.function, starting_position="TRIM_HORIZON", report_batch_item_failures=True
    )
    async with mesh:
        await settle()
        await clock.advance(1)
    assert consumer.batches == [["1", "2", "3"], ["1", "2", "3"]]


async def test_bisect_with_partial_response_splits_at_the_returned_record(
    mesh: Mesh, clock: VirtualClock
) -> None:
    stream = stream_of(mesh)
    numbers = await put_all(stream, "1", "2", "3", "4")
    answers = iter([{"batchItemFailures": [{"itemIdentifier": numbers[2]}]}, None])
    consumer = Consumer(mesh, lambda data, records: next(answers))
    stream.subscribe(
        consumer.function,
        starting_position="TRIM_HORIZON",
        report_batch_item_failures=True,
        bisect_on_error=True,
    )
    async with mesh:
        await settle()
        await clock.advance(1)
    assert consumer.batches == [["1", "2", "3", "4"], ["3", "4"]]


async def test_throttles_are_not_retries(
    mesh: Mesh, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = stream_of(mesh)
    failures = RecordingDestination()
    consumer = Consumer(mesh)
    stream.subscribe(consumer.function, max_retries=0, on_failure=failures)
    real = mesh.context.invoke_sync
    throttles = 3

    async def throttled(*args: Any, **kwargs: Any) -> Any:
        nonlocal throttles
        if throttles:
            throttles -= 1
            raise TooManyRequestsError("busy", reason="ConcurrentInvocationLimitExceeded")
        return await real(*args, **kwargs)

    monkeypatch.setattr(mesh.context, "invoke_sync", throttled)
    async with mesh:
        await put_all(stream, "a")
        await clock.advance(1 + 2 + 4)  # the throttle back-off: 1, 2, then 4 s
    assert consumer.batches == [["a"]]
    assert failures.messages == []


async def test_records_older_than_max_record_age_are_discarded(
    mesh: Mesh, clock: VirtualClock
) -> None:
    stream = stream_of(mesh)
    failures = RecordingDestination()
    consumer = Consumer(mesh, fail_on("old"))
    stream.subscribe(consumer.function, max_record_age=60, on_failure=failures)
    async with mesh:
        (number,) = await put_all(stream, "old")
        # Invoked at 0, then retried at 1, 3, 7, 15 and 31 s; at 61 s the record is 61 s old.
        await clock.advance(60)
        assert len(consumer.batches) == 6 and failures.messages == []
        await clock.advance(1)
        await put_all(stream, "new")
        await settle()
    assert consumer.batches == [["old"]] * 6 + [["new"]]
    (record,) = failures.messages
    assert record["requestContext"]["condition"] == "RecordAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 6
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["KinesisBatchInfo"]["startSequenceNumber"] == number
    assert record["timestamp"] == "2026-01-01T00:01:01.000Z"


# -- parallelization -------------------------------------------------------------------------
async def deliver_with_one_key_stuck(mesh: Mesh, factor: int) -> tuple[list[str], Consumer]:
    """Records of six keys, three each; the handler holds the batch with "slow-0" until
    released. Returns what was delivered while it was held, and the consumer."""
    stream = stream_of(mesh)
    release = asyncio.Event()
    keys = ["slow", "k1", "k2", "k3", "k4", "k5"]

    async def handler(event: dict[str, Any], context: Context) -> None:
        data = [base64.b64decode(r["kinesis"]["data"]).decode() for r in event["Records"]]
        consumer.batches.append(data)
        if "slow-0" in data:
            await release.wait()

    consumer = Consumer(mesh)
    consumer.function = mesh.function(name="parallel", timeout=900)(handler)
    stream.subscribe(consumer.function, batch_size=2, parallelization_factor=factor)
    async with mesh:
        for i in range(3):
            await stream.put_records([{"data": f"{k}-{i}", "partition_key": k} for k in keys])
        await settle()
        held = list(consumer.delivered)
        release.set()
        await settle()
    return held, consumer


async def test_parallelization_keeps_order_per_key_and_runs_keys_concurrently(
    mesh: Mesh,
) -> None:
    held, consumer = await deliver_with_one_key_stuck(mesh, factor=10)
    stuck = next(batch for batch in consumer.batches if "slow-0" in batch)
    assert [data for data in held if data not in stuck]  # other keys went on meanwhile
    assert "slow-2" not in held  # a key waits for its own batch
    assert len(consumer.delivered) == 18
    for key in ["slow", "k1", "k2", "k3", "k4", "k5"]:
        mine = [data for data in consumer.delivered if data.startswith(f"{key}-")]
        assert mine == [f"{key}-0", f"{key}-1", f"{key}-2"]


async def test_without_parallelization_a_held_batch_holds_the_shard(mesh: Mesh) -> None:
    held, consumer = await deliver_with_one_key_stuck(mesh, factor=1)
    assert held == consumer.batches[0]
    assert len(consumer.delivered) == 18


# -- filters ---------------------------------------------------------------------------------
async def test_filters_match_json_data_and_drop_the_rest(mesh: Mesh, clock: VirtualClock) -> None:
    stream = stream_of(mesh)
    consumer = Consumer(mesh)
    mapping = stream.subscribe(
        consumer.function,
        filters=[{"data": {"kind": ["order"]}}, {"partitionKey": ["vip"]}],
    )
    async with mesh:
        await stream.put_record({"kind": "order", "n": 1}, "k")
        await stream.put_record({"kind": "click"}, "k")
        await stream.put_record(b"kind=order", "k")  # not JSON: dropped by a data pattern
        await stream.put_record("order", "k")
        last = await stream.put_record(b"\x00binary", "vip")  # metadata pattern: kept
        await stream.put_record({"kind": "click"}, "k")
        await settle()
    assert consumer.delivered == ['{"kind":"order","n":1}', "\x00binary"]
    assert mapping.filtered_out == 4
    assert int(await mapping.checkpoint(SHARD) or 0) > int(last.sequence_number)


def test_a_data_filter_must_be_a_json_pattern(mesh: Mesh) -> None:
    stream = stream_of(mesh)
    consumer = Consumer(mesh)
    with pytest.raises(ConfigurationError):
        stream.subscribe(consumer.function, filters=[{"data": ["order"]}])


# -- positions and checkpoints ---------------------------------------------------------------
async def test_starting_positions(mesh: Mesh, clock: VirtualClock) -> None:
    stream = stream_of(mesh)
    await stream.put_record("a", "k")
    await clock.advance(10)
    await stream.put_record("b", "k")
    horizon = Consumer(mesh, name="horizon")
    latest = Consumer(mesh, name="latest")
    at_time = Consumer(mesh, name="at_time")
    stream.subscribe(horizon.function, starting_position="TRIM_HORIZON")
    stream.subscribe(latest.function, starting_position="LATEST")
    stream.subscribe(
        at_time.function, starting_position="AT_TIMESTAMP", starting_position_timestamp=T0 + 5
    )
    async with mesh:
        await stream.put_record("c", "k")
        await settle()
    assert horizon.delivered == ["a", "b", "c"]
    assert latest.delivered == ["c"]
    assert at_time.delivered == ["b", "c"]


async def test_checkpoints_live_in_the_key_value_store_and_survive_a_restart(
    mesh: Mesh, clock: VirtualClock
) -> None:
    stream = stream_of(mesh)
    consumer = Consumer(mesh)
    mapping = stream.subscribe(consumer.function, starting_position="TRIM_HORIZON")
    async with mesh:
        numbers = await put_all(stream, "a", "b")
        await settle()
    assert consumer.delivered == ["a", "b"]
    stored = await mesh.backend.values.get(mapping.checkpoint_key(SHARD))
    assert stored is not None
    assert await mapping.checkpoint(SHARD) == numbers[1]
    await put_all(stream, "c")  # while stopped
    async with mesh:
        await put_all(stream, "d")
        await settle()
    assert consumer.delivered == ["a", "b", "c", "d"]


async def test_a_checkpoint_never_passes_a_record_not_done(mesh: Mesh, clock: VirtualClock) -> None:
    stream = stream_of(mesh)
    consumer = Consumer(mesh, fail_on("b"))
    mapping = stream.subscribe(consumer.function, batch_size=1)
    async with mesh:
        numbers = await put_all(stream, "a", "b", "c")
        await settle()
        assert await mapping.checkpoint(SHARD) == numbers[0]
        consumer.decide = None
        await clock.advance(1)
        assert await mapping.checkpoint(SHARD) == numbers[2]
    assert consumer.delivered == ["a", "b", "b", "c"]


async def test_iterator_age_is_the_age_of_the_last_record(mesh: Mesh, clock: VirtualClock) -> None:
    stream = stream_of(mesh)
    consumer = Consumer(mesh)
    mapping = stream.subscribe(consumer.function, batch_size=5, batching_window=5)
    async with mesh:
        await put_all(stream, "a")
        await clock.advance(2)
        await put_all(stream, "b")
        await clock.advance(3)
    assert consumer.batches == [["a", "b"]]
    assert mapping.iterator_age_ms == {SHARD: 3000.0}


# -- settings --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "settings",
    [
        {"batch_size": 0},
        {"batch_size": 10_001},
        {"batch_size": 1.5},
        {"batching_window": -1},
        {"batching_window": 301},
        {"parallelization_factor": 0},
        {"parallelization_factor": 11},
        {"max_retries": -2},
        {"max_retries": 10_001},
        {"max_record_age": 59},
        {"max_record_age": 604_801},
        {"starting_position": "EARLIEST"},
        {"starting_position": "AT_TIMESTAMP"},
        {"starting_position": "LATEST", "starting_position_timestamp": T0},
        {"filters": [{"data": {"a": [1]}}] * 11},
    ],
)
def test_invalid_mapping_settings(mesh: Mesh, settings: dict[str, Any]) -> None:
    stream = stream_of(mesh)
    consumer = Consumer(mesh)
    with pytest.raises(ConfigurationError):
        stream.subscribe(consumer.function, **settings)


def test_valid_extremes(mesh: Mesh) -> None:
    stream = stream_of(mesh)
    consumer = Consumer(mesh)
    mapping = stream.subscribe(
        consumer.function,
        batch_size=10_000,  # no batching window needed for a stream
        parallelization_factor=10,
        max_retries=10_000,
        max_record_age=604_800,
    )
    assert isinstance(mapping, StreamMapping)
    create_stream(mesh.context, "s2").subscribe(
        consumer.function, max_retries=0, max_record_age=60, batching_window=300
    )


async def test_an_unknown_on_failure_destination_fails_the_start(mesh: Mesh) -> None:
    stream = stream_of(mesh)
    consumer = Consumer(mesh)
    stream.subscribe(consumer.function, on_failure="nowhere")
    with pytest.raises(ConfigurationError):
        await mesh.start()
    await mesh.stop()


async def test_a_new_mesh_on_the_same_storage_resumes_after_the_checkpoint(
    mesh: Mesh, clock: VirtualClock
) -> None:
    stream = stream_of(mesh)
    first = Consumer(mesh)
    stream.subscribe(first.function, starting_position="TRIM_HORIZON")
    async with mesh:
        await put_all(stream, "a", "b")
        await settle()
    await put_all(stream, "c")
    # Another process on the same (durable) storage: same stream, same function name.
    again = Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    again.use_storage(mesh.backend)
    second = Consumer(again)
    stream_of(again).subscribe(second.function, starting_position="TRIM_HORIZON")
    async with again:
        await settle()
    assert first.delivered == ["a", "b"]
    assert second.delivered == ["c"]


async def test_with_parallelization_each_lane_resumes_from_its_own_checkpoint(
    mesh: Mesh, clock: VirtualClock
) -> None:
    stream = stream_of(mesh)
    consumer = Consumer(mesh, fail_on("bad-0"))
    keys = ["bad", "k1", "k2", "k3", "k4", "k5"]
    stream.subscribe(consumer.function, batch_size=1, parallelization_factor=10)
    async with mesh:
        for i in range(2):
            await stream.put_records([{"data": f"{k}-{i}", "partition_key": k} for k in keys])
        await settle()
    done_before = set(consumer.delivered) - {"bad-0"}  # batches of one: only it failed
    assert "bad-1" not in done_before  # held behind "bad-0"
    assert len(done_before) >= 5  # other keys went on meanwhile
    consumer.batches.clear()
    consumer.decide = None
    async with mesh:
        await settle()
    # The held lane runs again from its own checkpoint; what other lanes did is not redone
    # (a single shard-wide checkpoint would have had to stop before "bad-0").
    assert set(consumer.delivered).isdisjoint(done_before)
    assert set(consumer.delivered) | done_before == {f"{k}-{i}" for k in keys for i in range(2)}
    assert consumer.delivered.index("bad-0") < consumer.delivered.index("bad-1")


async def test_the_producer_trace_is_the_parent_of_the_invocation(clock: VirtualClock) -> None:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    mesh = Mesh(clock=clock, telemetry=Telemetry(provider), drain_timeout=2.0)
    stream = stream_of(mesh)
    consumer = Consumer(mesh)
    stream.subscribe(consumer.function)
    async with mesh:
        with provider.get_tracer("test").start_as_current_span("produce"):
            await stream.put_record(b"x", "k")
        await settle()
    produce = next(span for span in spans.get_finished_spans() if span.name == "produce")
    invocation = next(span for span in spans.get_finished_spans() if span.name == "consume")
    assert invocation.parent is not None and produce.context is not None
    assert invocation.parent.span_id == produce.context.span_id
    assert (invocation.attributes or {})["faas.trigger"] == "pubsub"


# -- settings and their messages (reference §3.1, §3.3) --------------------------------------
@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"batch_size": 0}, "batch_size must be an integer from 1 to 10000"),
        ({"batch_size": -1}, "batch_size must be an integer from 1 to 10000"),
        ({"batch_size": True}, "batch_size must be an integer from 1 to 10000"),
        (
            {"parallelization_factor": 11},
            "parallelization_factor must be an integer from 1 to 10",
        ),
        ({"parallelization_factor": -1}, "parallelization_factor must be an integer from 1 to 10"),
        ({"max_retries": -2}, "max_retries must be -1 or an integer from 0 to 10000"),
        ({"max_retries": 1.0}, "max_retries must be -1 or an integer from 0 to 10000"),
        ({"max_record_age": 59}, "max_record_age must be -1 or an integer from 60 to 604800"),
        ({"batching_window": "5"}, "batching_window must be a number from 0 to 300 seconds"),
        ({"batching_window": True}, "batching_window must be a number from 0 to 300 seconds"),
        ({"batching_window": 301}, "batching_window must be from 0 to 300 seconds"),
        (
            {"starting_position": "EARLIEST"},
            "starting_position must be one of TRIM_HORIZON, LATEST, AT_TIMESTAMP, got 'EARLIEST'",
        ),
        (
            {"starting_position": "AT_TIMESTAMP"},
            "starting_position_timestamp goes with starting_position='AT_TIMESTAMP', "
            "and only with it",
        ),
        (
            {"starting_position": "AT_TIMESTAMP", "starting_position_timestamp": True},
            "starting_position_timestamp is epoch seconds or a datetime, got True",
        ),
        (
            {"starting_position": "AT_TIMESTAMP", "starting_position_timestamp": "2026-01-01"},
            "starting_position_timestamp is epoch seconds or a datetime, got '2026-01-01'",
        ),
        (
            {"starting_position": "AT_TIMESTAMP", "starting_position_timestamp": math.nan},
            "starting_position_timestamp is epoch seconds or a datetime, got nan",
        ),
        (
            {"starting_position": "AT_TIMESTAMP", "starting_position_timestamp": math.inf},
            "starting_position_timestamp is epoch seconds or a datetime, got inf",
        ),
        (
            {"filters": [{"data": ["order"]}]},
            "a Kinesis filter on 'data' must be a JSON object pattern, e.g. "
            '{"data": {"kind": ["order"]}}',
        ),
    ],
)
def test_refused_settings_name_the_setting_and_its_range(
    mesh: Mesh, settings: dict[str, Any], message: str
) -> None:
    """Lambda's limits for a Kinesis mapping: BatchSize 1-10,000, ParallelizationFactor 1-10,
    MaximumRetryAttempts and MaximumRecordAgeInSeconds -1 (infinite) or 0-10,000 and
    60-604,800, a window of 0-300 s, a StartingPosition of three, a timestamp only with
    AT_TIMESTAMP, filters on data as JSON objects; each message names the rule broken."""
    stream = stream_of(mesh)
    consumer = Consumer(mesh)
    with pytest.raises(ConfigurationError) as refused:
        stream.subscribe(consumer.function, **settings)
    assert str(refused.value) == message


def test_the_extreme_finite_timestamps_are_accepted(mesh: Mesh) -> None:
    stream = stream_of(mesh)
    consumer = Consumer(mesh)
    for index, timestamp in enumerate((-sys.float_info.max, sys.float_info.max)):
        mapping = mesh.stream(f"s{index}").subscribe(
            consumer.function,
            starting_position="AT_TIMESTAMP",
            starting_position_timestamp=timestamp,
        )
        assert mapping.starting_position_timestamp == timestamp
    assert stream.subscribe(consumer.function, max_retries=-1, max_record_age=-1).max_retries == -1


async def test_an_unknown_function_fails_the_start_naming_the_stream(mesh: Mesh) -> None:
    stream = stream_of(mesh)
    stream.subscribe("nobody")
    with pytest.raises(ConfigurationError) as refused:
        await mesh.start()
    await mesh.stop()
    assert str(refused.value).startswith("mapping of stream 's': ")
    assert "nobody" in str(refused.value)


def test_a_mappings_identity_does_not_depend_on_other_functions_mappings(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """The mapping's UUID (and so where its checkpoints are) is the same in another process
    that subscribes other functions to the stream in another order."""
    first, second = Consumer(mesh, name="first"), Consumer(mesh, name="second")
    stream = stream_of(mesh)
    one = stream.subscribe(first.function)
    two = stream.subscribe(second.function)
    again = Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    first_again, second_again = Consumer(again, name="first"), Consumer(again, name="second")
    stream_again = stream_of(again)
    two_again = stream_again.subscribe(second_again.function)
    one_again = stream_again.subscribe(first_again.function)
    assert (one.uuid, two.uuid) == (one_again.uuid, two_again.uuid)
    assert one.uuid != two.uuid


def test_a_mappings_repr_names_the_stream_and_the_function(mesh: Mesh) -> None:
    consumer = Consumer(mesh)
    assert repr(stream_of(mesh).subscribe(consumer.function)) == "<StreamMapping s -> consume>"


# -- errors, retries and the log -------------------------------------------------------------
async def test_each_failed_attempt_is_logged_with_its_number(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A function error writes Lambda's [ERROR] line; the attempt counts the retries of the
    batch (its first invocation is attempt 1)."""
    stream = stream_of(mesh)
    consumer = Consumer(mesh, fail_on("a"))
    mapping = stream.subscribe(consumer.function, max_retries=2)
    with caplog.at_level(logging.ERROR, logger="eventmesh.invocations"):
        async with mesh:
            await put_all(stream, "a")
            await settle()
            await clock.advance(1)
            await clock.advance(2)
    lines = [r for r in caplog.records if getattr(r, "phase", None) == "ERROR"]
    assert [(r.function_name, r.attempt, r.source) for r in lines] == [  # type: ignore[attr-defined]
        ("consume", 1, "stream s"),
        ("consume", 2, "stream s"),
        ("consume", 3, "stream s"),
    ]
    assert [r.request_id for r in lines] == consumer.request_ids  # type: ignore[attr-defined]
    assert lines[0].getMessage().split("\n")[0] == (
        f"[ERROR] ValueError: cannot process a RequestId: {consumer.request_ids[0]} "
        "Function: consume Attempt: 1 Source: stream s"
    )
    assert mapping.invocations == 3


async def test_a_discard_without_destination_is_logged(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """With no on-failure destination a discarded batch is only lost: the log says how many
    records of which shard, why, and for which function."""
    stream = stream_of(mesh)
    consumer = Consumer(mesh, fail_on("a"))
    mapping = stream.subscribe(consumer.function, max_retries=0)
    with caplog.at_level(logging.WARNING, logger="eventmesh.mappings"):
        async with mesh:
            await put_all(stream, "a", "b")
            await settle()
            await put_all(stream, "c")
            await settle()
    assert [r.getMessage() for r in caplog.records if r.name == "eventmesh.mappings"] == [
        f"discarding 2 records of {SHARD} (RetryAttemptsExhausted) for consume"
    ]
    assert mapping.discarded == 2
    assert consumer.delivered == ["a", "b", "c"]


class FailingDestination:
    """An on-failure destination that cannot take anything."""

    name = "broken"

    async def send(self, message: Any, attributes: Any = None) -> None:
        raise ConnectionError("destination down")


async def test_a_failing_on_failure_destination_is_logged_counted_and_skipped(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A destination that fails does not block the shard: the batch is still skipped, and the
    failure counts in DestinationDeliveryFailures (reference §1.4)."""
    reader = InMemoryMetricReader()
    telemetry = Telemetry(TracerProvider(), MeterProvider(metric_readers=[reader]))
    mesh = Mesh(clock=clock, telemetry=telemetry, drain_timeout=2.0)
    stream = stream_of(mesh)
    consumer = Consumer(mesh, fail_on("a"))
    mapping = stream.subscribe(consumer.function, max_retries=0, on_failure=FailingDestination())
    with caplog.at_level(logging.ERROR, logger="eventmesh.mappings"):
        async with mesh:
            await put_all(stream, "a")
            await settle()
            await put_all(stream, "b")
            await settle()
    assert [r.getMessage() for r in caplog.records if r.name == "eventmesh.mappings"] == [
        "the on-failure destination of consume failed"
    ]
    assert mapping.discarded == 1
    assert consumer.delivered == ["a", "b"]
    points = [
        (dict(point.attributes or {}), getattr(point, "value", None))
        for resource in (reader.get_metrics_data() or MetricsData([])).resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name.lower() == "destinationdeliveryfailures"
        for point in metric.data.data_points
    ]
    assert points == [({"function_name": "consume"}, 1)]


async def test_an_invalid_partial_response_is_logged_and_bisected_like_an_error(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A malformed batchItemFailures fails the whole batch, as a function error does: with
    bisect_on_error the batch is split in two (reference §3.3)."""
    stream = stream_of(mesh)
    await put_all(stream, "1", "2", "3", "4")
    answers = iter([{"batchItemFailures": [{"itemIdentifier": None}]}])
    consumer = Consumer(mesh, lambda data, records: next(answers, None))
    stream.subscribe(
        consumer.function,
        starting_position="TRIM_HORIZON",
        report_batch_item_failures=True,
        bisect_on_error=True,
    )
    with caplog.at_level(logging.WARNING, logger="eventmesh.mappings"):
        async with mesh:
            await settle()
    assert consumer.batches == [["1", "2", "3", "4"], ["1", "2"], ["3", "4"]]
    assert [r.getMessage() for r in caplog.records if r.name == "eventmesh.mappings"] == [
        "invalid partial batch response from consume: the whole batch failed"
    ]


async def test_bisected_halves_keep_the_retries_already_counted(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """Splitting is not a retry, and does not forget retries either: halves of a batch that was
    retried once have one retry left with max_retries=1 (reference §3.3)."""
    stream = stream_of(mesh)
    numbers = await put_all(stream, "1", "2", "3", "4")
    calls = 0

    def decide(data: list[str], records: list[dict[str, Any]]) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            return {"batchItemFailures": [{"itemIdentifier": numbers[1]}]}
        if "2" in data or "3" in data:
            raise ValueError("bad")
        return None

    failures = RecordingDestination()
    consumer = Consumer(mesh, decide)
    mapping = stream.subscribe(
        consumer.function,
        starting_position="TRIM_HORIZON",
        report_batch_item_failures=True,
        bisect_on_error=True,
        max_retries=1,
        on_failure=failures,
    )
    async with mesh:
        await settle()
        await clock.advance(1)  # the retry from "2" (retry 1) fails and is split
    assert consumer.batches == [
        ["1", "2", "3", "4"],
        ["2", "3", "4"],
        ["2"],
        ["3", "4"],
        ["3"],
        ["4"],
    ]
    assert [m["KinesisBatchInfo"]["batchSize"] for m in failures.messages] == [1, 1]
    assert mapping.discarded == 2


async def test_after_a_discarded_half_the_other_half_goes_on_its_own(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """The halves of a bisected batch are delivered as they were split, even after one of them
    is discarded; the next batch starts after them."""
    stream = stream_of(mesh)
    await put_all(stream, "1", "2", "3", "4", "5", "6")
    consumer = Consumer(mesh, fail_on("2"))
    stream.subscribe(
        consumer.function,
        starting_position="TRIM_HORIZON",
        batch_size=4,
        bisect_on_error=True,
        max_retries=0,
    )
    async with mesh:
        await settle()
    assert consumer.batches == [
        ["1", "2", "3", "4"],
        ["1", "2"],
        ["1"],
        ["2"],
        ["3", "4"],
        ["5", "6"],
    ]


# -- throttles -------------------------------------------------------------------------------
async def test_throttles_back_off_1_2_4_8_16_then_30_seconds(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """A throttled batch is retried, not counted as a retry, after a back-off that grows
    (reference §2.6: Kinesis retries until the records expire)."""
    stream = stream_of(mesh)

    @mesh.function(reserved_concurrency=0)
    async def stopped(event: Any, context: Context) -> None:
        return None

    stream.subscribe(stopped, max_retries=0)
    seen: list[int] = []
    await mesh.start()
    await put_all(stream, "a")
    await settle()
    for second in range(1, 92):
        before = stopped.stats.throttles
        await clock.advance(1)
        if stopped.stats.throttles != before:
            seen.append(second)
    await mesh.stop(drain=False)
    assert stopped.stats.throttles == 8
    assert seen == [1, 3, 7, 15, 31, 61, 91]


async def test_the_throttle_back_off_starts_again_after_an_invocation_runs(
    mesh: Mesh, clock: VirtualClock
) -> None:
    stream = stream_of(mesh)
    release = asyncio.Event()

    @mesh.function(timeout=900, reserved_concurrency=1)
    async def single(event: Any, context: Context) -> None:
        if "hold" in event:
            await release.wait()

    stream.subscribe(single)
    throttled_at: list[float] = []
    start = clock.now()

    async def step(seconds: float) -> None:
        for _ in range(int(seconds * 2)):
            before = single.stats.throttles
            await clock.advance(0.5)
            if single.stats.throttles != before:
                throttled_at.append(clock.now() - start)

    await mesh.start()
    holder = asyncio.create_task(mesh.invoke("single", {"hold": True}))
    await settle()
    await put_all(stream, "r0")  # throttled at 0, then at 1; runs at 3
    await step(2)
    release.set()
    await holder
    await step(1.5)
    release.clear()
    holder = asyncio.create_task(mesh.invoke("single", {"hold": True}))
    await settle()
    await put_all(stream, "r1")  # throttled at 3.5, then 1 s and 2 s later
    await step(4)
    release.set()
    await holder
    await step(4)
    await mesh.stop(drain=False)
    assert throttled_at == [0.5, 1.0, 4.0, 4.5, 6.5]  # each seen at the end of its half second


# -- pending work ----------------------------------------------------------------------------
async def test_pending_counts_records_waiting_in_lanes_and_unread_ones(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """What a drain waits for: records read and not done, on every shard, and records not
    read yet."""
    stream = stream_of(mesh, shards=2)
    release = asyncio.Event()

    async def handler(event: dict[str, Any], context: Context) -> None:
        await release.wait()

    function = mesh.function(name="held", timeout=900)(handler)
    mapping = stream.subscribe(function, batch_size=2)
    keys = {stream.shard_for(f"key-{i}"): f"key-{i}" for i in range(20)}
    first, second = keys.values()
    await mesh.start()
    assert await mapping.pending() == 0
    await put_all(stream, "a", "b", "c", key=first)
    await put_all(stream, "d", "e", key=second)
    await settle()
    assert await mapping.pending() == 5
    await put_all(stream, "f", "g", key=first)  # not read yet
    assert await mapping.pending() == 7
    release.set()
    await settle()
    assert await mapping.pending() == 0
    await mesh.stop()


async def test_a_lane_backing_off_is_not_pending(mesh: Mesh, clock: VirtualClock) -> None:
    """A batch waiting to be retried is not work a drain can wait for; once the back-off ends
    it is again."""
    stream = stream_of(mesh)
    release = asyncio.Event()
    calls = 0

    async def handler(event: dict[str, Any], context: Context) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ValueError("down")
        await release.wait()

    function = mesh.function(name="flaky", timeout=900)(handler)
    mapping = stream.subscribe(function)
    await mesh.start()
    await put_all(stream, "a", "b")
    await settle()
    assert calls == 1
    assert await mapping.pending() == 0  # backing off 1 s
    await clock.advance(1)
    assert calls == 2
    assert await mapping.pending() == 2  # retrying
    release.set()
    await settle()
    assert await mapping.pending() == 0
    await mesh.stop()


@pytest.mark.parametrize(("batch_size", "ahead"), [(2, 100), (60, 120)])
async def test_a_shard_is_read_ahead_by_at_most_twice_the_batch_size_or_100(
    mesh: Mesh, clock: VirtualClock, batch_size: int, ahead: int
) -> None:
    """The reader holds at most max(2 x batch size, 100) records per lane not done yet; records
    beyond stay in the stream (and are not counted as pending while it is full)."""
    stream = stream_of(mesh)
    release = asyncio.Event()

    async def handler(event: dict[str, Any], context: Context) -> None:
        await release.wait()

    function = mesh.function(name="held", timeout=900)(handler)
    mapping = stream.subscribe(function, batch_size=batch_size)
    await mesh.start()
    assert mapping.read_position(SHARD) == 0
    await put_all(stream, *[str(i) for i in range(99)])
    await settle()  # read: 99, room for one more
    await put_all(stream, *[str(i) for i in range(99, 150)])
    await settle()
    assert mapping.read_position(SHARD) == ahead
    assert await mapping.pending() == ahead
    release.set()
    await settle()
    assert mapping.read_position(SHARD) == 150
    assert mapping.invocations == -(-150 // batch_size)
    await mesh.stop()
    assert mapping.read_position(SHARD) is None


# -- sizes -----------------------------------------------------------------------------------
async def put_sized(stream: Stream, count: int, key: str) -> None:
    """``count`` records whose estimated share of the event (base64 data, partition key and
    600 bytes of fields) is 786,432 + (len(key) - 4) bytes: eight of them with a 4-character
    key fill 6 MiB exactly."""
    await stream.put_records(
        [{"data": bytes([65 + i]) * 589_371, "partition_key": key} for i in range(count)]
    )


async def test_a_batch_may_fill_6_mib_exactly(mesh: Mesh, clock: VirtualClock) -> None:
    """Lambda's 6 MB invocation payload (reference §3.1): the event's estimated size may reach
    6 MiB, not pass it; the next record opens the next batch."""
    stream = stream_of(mesh)
    consumer = Consumer(mesh)
    stream.subscribe(consumer.function, batch_size=100, batching_window=60)
    async with mesh:
        await put_sized(stream, 8, "kkkk")
        await settle()
        assert [len(batch) for batch in consumer.batches] == [8], "6 MiB ends the window"
        await put_all(stream, "tiny", key="kkkk")
        await clock.advance(60)
    assert [len(batch) for batch in consumer.batches] == [8, 1]


async def test_a_batch_one_byte_over_6_mib_is_cut(mesh: Mesh, clock: VirtualClock) -> None:
    stream = stream_of(mesh)
    consumer = Consumer(mesh)
    stream.subscribe(consumer.function, batch_size=100, starting_position="TRIM_HORIZON")
    await put_sized(stream, 8, "kkkkk")  # 8 bytes over 6 MiB in all
    async with mesh:
        await settle()
    assert [len(batch) for batch in consumer.batches] == [7, 1]


async def test_a_batch_of_small_records_is_not_cut(mesh: Mesh, clock: VirtualClock) -> None:
    stream = stream_of(mesh)
    consumer = Consumer(mesh)
    stream.subscribe(consumer.function, batch_size=100, starting_position="TRIM_HORIZON")
    await put_sized(stream, 8, "kkkk")
    await put_all(stream, "tiny", key="kkkk")
    async with mesh:
        await settle()
    assert [len(batch) for batch in consumer.batches] == [8, 1]


# -- record age ------------------------------------------------------------------------------
async def test_records_too_old_before_any_invocation_are_discarded_uninvoked(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """MaximumRecordAgeInSeconds: records older than it are discarded; a record exactly that
    old is still delivered. The on-failure record of records never invoked has no response
    and an invoke count of 0."""
    stream = stream_of(mesh)
    old = await put_all(stream, "a1", "a2")
    await clock.advance(1)
    await put_all(stream, "b")
    await clock.advance(60)  # a1 and a2 are 61 s old, b 60 s
    await put_all(stream, "c")
    failures = RecordingDestination()
    consumer = Consumer(mesh)
    mapping = stream.subscribe(
        consumer.function,
        starting_position="TRIM_HORIZON",
        batch_size=3,
        max_record_age=60,
        on_failure=failures,
    )
    async with mesh:
        await settle()
    assert consumer.batches == [["b"], ["c"]]  # what is left of the batch goes on its own
    (record,) = failures.messages
    assert record["requestContext"]["condition"] == "RecordAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert uuid.UUID(record["requestContext"]["requestId"]).version == 4
    assert "responseContext" not in record
    info = record["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"]) == (old[0], old[1])
    assert info["batchSize"] == 2
    assert mapping.discarded == 2
    assert mapping.invocations == 2


# -- positions, checkpoints, iterator age ----------------------------------------------------
async def test_no_checkpoint_before_any_record_is_done(mesh: Mesh, clock: VirtualClock) -> None:
    stream = stream_of(mesh)
    consumer = Consumer(mesh)
    mapping = stream.subscribe(consumer.function, starting_position="TRIM_HORIZON")
    async with mesh:
        await settle()
        assert await mapping.checkpoint(SHARD) is None
        (number,) = await put_all(stream, "a")
        await settle()
        assert await mapping.checkpoint(SHARD) == number


async def test_a_new_parallelization_factor_resumes_from_the_lowest_lane(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """Changing ParallelizationFactor between runs: every new lane starts after the records
    all the old lanes had done, and the checkpoint then keeps one position per lane."""
    stream = stream_of(mesh)
    first = Consumer(mesh)
    mapping = stream.subscribe(first.function, starting_position="TRIM_HORIZON")
    async with mesh:
        await put_all(stream, "a", "b")
        await settle()
    await put_all(stream, "c", key="other")
    again = Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    again.use_storage(mesh.backend)
    second = Consumer(again)
    wider = stream_of(again).subscribe(
        second.function, starting_position="TRIM_HORIZON", parallelization_factor=2
    )
    async with again:
        await settle()
    assert second.delivered == ["c"]
    stored = await mesh.backend.values.get(wider.checkpoint_key(SHARD))
    assert stored is not None
    assert len(json.loads(stored.value)["lanes"]) == 2
    assert wider.checkpoint_key(SHARD) == mapping.checkpoint_key(SHARD)


async def test_with_a_factor_of_2_keys_of_both_lanes_run_concurrently(mesh: Mesh) -> None:
    held, consumer = await deliver_with_one_key_stuck(mesh, factor=2)
    assert "k4-0" in held and "k5-0" in held  # the other lane's keys went on meanwhile
    assert "k2-0" not in held  # "slow"'s lane waits for it
    assert len(consumer.delivered) == 18


async def test_records_done_at_once_have_an_iterator_age_of_0(clock: VirtualClock) -> None:
    """IteratorAge: the age of the batch's last record when it is done (reference §3.3),
    recorded per function."""
    reader = InMemoryMetricReader()
    telemetry = Telemetry(TracerProvider(), MeterProvider(metric_readers=[reader]))
    mesh = Mesh(clock=clock, telemetry=telemetry, drain_timeout=2.0)
    stream = stream_of(mesh)
    consumer = Consumer(mesh)
    mapping = stream.subscribe(consumer.function)
    async with mesh:
        await put_all(stream, "a")
        await settle()
    assert mapping.iterator_age_ms == {SHARD: 0.0}
    points = [
        (dict(point.attributes or {}), point.count, point.sum)
        for resource in (reader.get_metrics_data() or MetricsData([])).resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name.lower() == "iteratorage"
        for point in metric.data.data_points
    ]
    assert points == [({"function_name": "consume"}, 1, 0.0)]


async def test_a_shard_reader_survives_an_hour_without_records(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """A shard's reader long-polls for an hour; a poll that ends empty is not an error, and
    records put after it are still delivered in order."""
    stream = stream_of(mesh)
    consumer = Consumer(mesh)
    mapping = stream.subscribe(consumer.function)
    async with mesh:
        await settle()
        await clock.advance(2 * 3600 + 1)
        await put_all(stream, "a", "b")
        await settle()
    assert consumer.delivered == ["a", "b"]
    assert mapping.invocations == 1


async def test_a_throttle_between_retries_keeps_the_retries_counted(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """Throttles do not count toward MaximumRetryAttempts, and do not reset it either: a batch
    retried once, then throttled, then failing again has used its one retry (reference §3.3)."""
    stream = stream_of(mesh)
    release = asyncio.Event()
    runs: list[float] = []

    @mesh.function(timeout=900, reserved_concurrency=1)
    async def single(event: Any, context: Context) -> None:
        if "hold" in event:
            await release.wait()
            return
        runs.append(clock.now())
        raise ValueError("down")

    failures = RecordingDestination()
    stream.subscribe(single, max_retries=1, on_failure=failures)
    await mesh.start()
    await put_all(stream, "a")
    await settle()  # attempt 1 fails at 0; the retry waits 1 s
    holder = asyncio.create_task(mesh.invoke("single", {"hold": True}))
    await clock.advance(1)  # the retry is throttled: back off 1 s, not a retry
    assert single.stats.throttles == 1
    release.set()
    await holder
    await clock.advance(1)  # the retry runs at 2 and fails: retries exhausted
    await clock.advance(10)
    await mesh.stop(drain=False)
    assert runs == [0.0, 2.0]
    (record,) = failures.messages
    assert record["requestContext"]["approximateInvokeCount"] == 2
