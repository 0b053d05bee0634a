"""A stream mapping on the memory backend's fast paths gives what its general path gives.

The fast paths: the log keeps its records as plain tuples (a read makes the LogRecords), a
paired shard reads it and writes its checkpoint at once (``read_now``, ``put_now``), and a
reader woken by an append goes on reading while the producers' burst lasts, up to a batch.
The general path is the same memory backend with stores whose ``append``, ``read`` and
``put`` are their own (as a store that records or fails calls has): no ``append_now``, no
listening, no ``read_now`` nor ``put_now``, a reader task and a lane task per shard.

Each test runs both ways against the same hand-written expectations (the reference's rules,
§3.3, and the mapping's retry schedule of 1, 2, 4, 8, 16, then 30 s). Time is a virtual
clock; nothing sleeps in real time.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from eventmesh import Context, Mesh, Telemetry
from eventmesh.backends.memory import MemoryKeyValueStore, MemoryLogStore, memory_backend
from eventmesh.backends.protocols import LogRecord
from eventmesh.mappings.stream_mapping import StreamMapping
from eventmesh.resources.stream import KinesisRecords, Stream, create_stream
from eventmesh.testing import RecordingDestination, VirtualClock, settle

SHARD = "shardId-000000000000"


def number(position: int) -> str:
    """The sequence number of ``position`` in shard 0: "49", 14 digits of shard, 40 of it."""
    return "49" + "0" * 14 + str(position).rjust(40, "0")


class GeneralLogs(MemoryLogStore):
    """A memory log whose append and read are its own: it declares neither ``append_now``
    nor listening (and so no ``read_now``)."""

    async def append(
        self, stream: str, shard: str, records: Sequence[tuple[bytes, str, Mapping[str, str]]]
    ) -> list[LogRecord]:
        return await super().append(stream, shard, records)

    async def read(
        self, stream: str, shard: str, after: int, limit: int, wait: float = 0.0
    ) -> list[LogRecord]:
        return await super().read(stream, shard, after, limit, wait)


class GeneralValues(MemoryKeyValueStore):
    """A memory key-value store whose put is its own: it declares no ``put_now``."""

    async def put(
        self,
        key: str,
        value: bytes,
        *,
        ttl: float | None = None,
        only_if_absent: bool = False,
        only_if_version: int | None = None,
    ) -> int | None:
        return await super().put(
            key, value, ttl=ttl, only_if_absent=only_if_absent, only_if_version=only_if_version
        )


@pytest.fixture(params=["fast", "general"])
def mesh(request: pytest.FixtureRequest, clock: VirtualClock) -> Mesh:
    """A mesh on its own memory backend (the fast paths), or on memory stores given to it
    whose append, read and put are their own (the general path, as on a durable store)."""
    if request.param == "fast":
        return Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=2)
    backend = memory_backend(clock)
    backend.logs = GeneralLogs(clock)
    backend.values = GeneralValues(clock)
    assert not any(
        getattr(store, flag, False)
        for store, flag in [
            (backend.logs, "listens"),
            (backend.logs, "appends_now"),
            (backend.values, "puts_now"),
        ]
    )
    return Mesh(storage=backend, clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=2)


def is_fast(mesh: Mesh) -> bool:
    """Whether the mesh (started) runs on the memory backend's fast paths."""
    backend = mesh.backend
    return backend.in_memory and all(
        getattr(store, flag, False) is True
        for store, flag in [
            (backend.logs, "listens"),
            (backend.logs, "appends_now"),
            (backend.values, "puts_now"),
        ]
    )


class Consumer:
    """A function recording each batch's data as text; ``decide(data, records)`` returns
    its result or raises (a function error)."""

    def __init__(self, mesh: Mesh, decide: Any = None, *, timeout: float = 3) -> None:
        self.batches: list[list[str]] = []
        self.decide = decide
        self.release: asyncio.Event | None = None

        async def handler(event: dict[str, Any], context: Context) -> Any:
            records = event["Records"]
            data = [base64.b64decode(r["kinesis"]["data"]).decode() for r in records]
            self.batches.append(data)
            if self.release is not None:
                await self.release.wait()
            return None if self.decide is None else self.decide(data, records)

        self.function = mesh.function(name="consume", timeout=timeout)(handler)


def fail_on(bad: str) -> Any:
    def decide(data: list[str], records: list[dict[str, Any]]) -> None:
        if bad in data:
            raise ValueError(f"cannot process {bad}")

    return decide


async def put_all(stream: Stream, *datas: str, key: str = "k") -> None:
    await stream.put_records([{"data": d, "partition_key": key} for d in datas])


def subscribe(stream: Stream, consumer: Consumer, **settings: Any) -> StreamMapping:
    return stream.subscribe(consumer.function, starting_position="TRIM_HORIZON", **settings)


# -- retries, bisection, partial failures, record age ----------------------------------------
async def test_a_failed_batch_is_retried_whole_then_the_shard_goes_on(
    mesh: Mesh, clock: VirtualClock
) -> None:
    stream = create_stream(mesh.context, "s")
    failed = False

    def once(data: list[str], records: list[dict[str, Any]]) -> None:
        nonlocal failed
        if not failed:
            failed = True
            raise ValueError("the first try fails")

    consumer = Consumer(mesh, once)
    mapping = subscribe(stream, consumer)
    async with mesh:
        await put_all(stream, "a", "b", "c")
        await settle()
        assert consumer.batches == [["a", "b", "c"]]
        assert await mapping.checkpoint(SHARD) is None  # nothing done yet
        await clock.advance(1)  # the first retry
        await put_all(stream, "d")
        await settle()
        assert await mapping.checkpoint(SHARD) == number(4)
    assert consumer.batches == [["a", "b", "c"], ["a", "b", "c"], ["d"]]
    assert mapping.invocations == 3


async def test_bisection_splits_a_failed_batch_down_to_its_bad_record(mesh: Mesh) -> None:
    stream = create_stream(mesh.context, "s")
    failures = RecordingDestination()
    consumer = Consumer(mesh, fail_on("3"))
    mapping = subscribe(
        stream, consumer, batch_size=4, bisect_on_error=True, max_retries=0, on_failure=failures
    )
    async with mesh:
        await put_all(stream, "1", "2", "3", "4", "5")
        await settle()
        assert await mapping.checkpoint(SHARD) == number(5)
    assert consumer.batches == [
        ["1", "2", "3", "4"],
        ["1", "2"],
        ["3", "4"],
        ["3"],
        ["4"],
        ["5"],
    ]
    (record,) = failures.messages
    info = record["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"]) == (number(3), number(3))
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert mapping.discarded == 1


async def test_a_partial_failure_retries_from_the_lowest_record_reported(
    mesh: Mesh, clock: VirtualClock
) -> None:
    stream = create_stream(mesh.context, "s")
    calls = 0

    def decide(data: list[str], records: list[dict[str, Any]]) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:  # 4 and 2 reported: 1 is done, the retry starts at 2
            return {"batchItemFailures": [{"itemIdentifier": n} for n in (number(4), number(2))]}
        return {"batchItemFailures": []}

    consumer = Consumer(mesh, decide)
    mapping = subscribe(stream, consumer, report_batch_item_failures=True)
    async with mesh:
        await put_all(stream, "1", "2", "3", "4", "5")
        await settle()
        assert await mapping.checkpoint(SHARD) == number(1)
        await clock.advance(1)
        await settle()
        assert await mapping.checkpoint(SHARD) == number(5)
    assert consumer.batches == [["1", "2", "3", "4", "5"], ["2", "3", "4", "5"]]


async def test_records_past_the_maximum_age_go_to_on_failure(
    mesh: Mesh, clock: VirtualClock
) -> None:
    stream = create_stream(mesh.context, "s")
    failures = RecordingDestination()
    consumer = Consumer(mesh, fail_on("old"))
    mapping = subscribe(stream, consumer, max_record_age=60, on_failure=failures)
    async with mesh:
        await put_all(stream, "old")
        await clock.advance(60)  # tried at 0, 1, 3, 7, 15 and 31 s
        assert len(consumer.batches) == 6 and failures.messages == []
        await clock.advance(1)  # at 61 s the record is too old: discarded, not tried
        await put_all(stream, "new")
        await settle()
        assert await mapping.checkpoint(SHARD) == number(2)
    assert consumer.batches == [["old"]] * 6 + [["new"]]
    (record,) = failures.messages
    assert record["requestContext"]["condition"] == "RecordAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 6
    assert record["KinesisBatchInfo"]["startSequenceNumber"] == number(1)
    assert record["timestamp"] == "2026-01-01T00:01:01.000Z"


# -- parallelization, a put while a batch runs -----------------------------------------------
async def test_parallel_lanes_keep_each_keys_order_and_checkpoint_every_lane(
    mesh: Mesh, clock: VirtualClock
) -> None:
    stream = create_stream(mesh.context, "s")
    failed = False

    def fail_first_with_b(data: list[str], records: list[dict[str, Any]]) -> None:
        nonlocal failed
        if not failed and any(item.startswith("b") for item in data):
            failed = True
            raise ValueError("b's first batch fails once")

    consumer = Consumer(mesh, fail_first_with_b)
    mapping = subscribe(stream, consumer, batch_size=2, parallelization_factor=3)
    keys = ["a", "b", "c", "d", "e", "f"]
    async with mesh:
        for i in range(3):
            await stream.put_records([{"data": f"{k}{i}", "partition_key": k} for k in keys])
        await settle()
        await clock.advance(1)  # b's lane retries its batch
        await settle()
        assert await mapping.checkpoint(SHARD) == number(18)
    delivered = [item for batch in consumer.batches for item in batch]
    (retried,) = {tuple(batch) for batch in consumer.batches if consumer.batches.count(batch) > 1}
    assert any(item.startswith("b") for item in retried)
    assert len(delivered) == 18 + len(retried)  # the failed batch twice, nothing else
    for key in keys:
        own = [item for item in delivered if item[0] == key]
        assert own == sorted(own)  # in order, a retried record again before the next
        assert set(own) == {f"{key}{i}" for i in range(3)}
    assert all(len(batch) <= 2 for batch in consumer.batches)


async def test_records_put_while_a_batch_runs_follow_it_in_order(mesh: Mesh) -> None:
    stream = create_stream(mesh.context, "s")
    consumer = Consumer(mesh, timeout=900)
    consumer.release = asyncio.Event()
    mapping = subscribe(stream, consumer, batch_size=3)
    async with mesh:
        await put_all(stream, "a")
        await settle()
        assert consumer.batches == [["a"]]  # running, held
        for item in "bcde":
            await stream.put_record(item, "k")
        await settle()
        assert mapping.read_position(SHARD) == 5  # read ahead while the batch runs
        assert await mapping.checkpoint(SHARD) is None
        consumer.release.set()
        await settle()
        assert await mapping.checkpoint(SHARD) == number(5)
    assert consumer.batches == [["a"], ["b", "c", "d"], ["e"]]


# -- a burst in one batch --------------------------------------------------------------------
async def test_a_burst_across_yields_fills_batches_and_a_lone_record_goes_alone(
    mesh: Mesh,
) -> None:
    """A producer putting one record per turn of the loop: on the memory backend its records
    are read while the burst lasts, in batches of the batch size (a durable store's reader
    takes what each read finds: here, one record a read); a record put on its own is not
    held back either way."""
    stream = create_stream(mesh.context, "s")
    consumer = Consumer(mesh)
    subscribe(stream, consumer, batch_size=4)
    async with mesh:
        await settle()
        for item in "abcdefghij":
            await stream.put_record(item, "k")
            await asyncio.sleep(0)  # a turn of the loop between two puts
        await settle()
        if is_fast(mesh):
            assert consumer.batches == [list("abcd"), list("efgh"), list("ij")]
        else:
            assert consumer.batches == [[item] for item in "abcdefghij"]
        await stream.put_record("k", "k")
        await settle()
    assert consumer.batches[-1] == ["k"]


# -- the log's records and the garbage collector ---------------------------------------------
async def test_a_long_memory_log_leaves_the_collector_nothing_to_traverse(
    clock: VirtualClock,
) -> None:
    """Records kept are plain tuples the cyclic collector stops tracking: a log of thousands
    adds nothing to every full collection's work. Reads still give whole LogRecords."""
    logs = MemoryLogStore(clock)
    logs.append_now("s", "0", b"warm", "k", {})
    gc.collect()
    tracked = len(gc.get_objects())
    for index in range(5_000):
        logs.append_now("s", "0", b"%d" % index, f"key-{index % 7}", {})
    await logs.append("s", "0", [(b"x", "k", {}), (b"y", "k", {})])
    gc.collect()
    assert len(gc.get_objects()) - tracked < 100
    (first, last) = (await logs.read("s", "0", 1, 1))[0], (await logs.read("s", "0", 5002, 1))[0]
    assert (first.sequence, first.data, first.partition_key) == (2, b"0", "key-0")
    assert (last.sequence, last.data) == (5003, b"y")
    assert first.attributes == {} and first.arrival == clock.time()


@pytest.mark.parametrize(
    "start", [1_767_225_600.0, 1_767_225_600.0004999, 1_767_225_600.0005, 0.0021, -2.0, 1e12]
)
def test_arrivals_sharing_a_millisecond_round_as_round_does(start: float) -> None:
    """Records put one by one have arrivals of their own: each is rounded to the millisecond
    as ``round(arrival, 3)`` rounds it, whether or not the record before shared its
    millisecond."""
    shape = KinesisRecords("arn", "us-east-1", "role", SHARD, number(0)[:16])
    steps = [0.0, 1e-7, 3e-6, 0.0004999, 0.0005, 0.0005001, 1e-3, 0.25, 2e-4, 2e-4, 2e-4]
    arrivals = []
    arrival = start
    for step in steps * 3:
        arrival += step
        arrivals.append(arrival)
    stored = [LogRecord(i + 1, b"x", "k", a) for i, a in enumerate(arrivals)]
    rounded = [r["kinesis"]["approximateArrivalTimestamp"] for r in shape.records(stored)]
    assert rounded == [round(a, 3) for a in arrivals]
    assert not any(math.isnan(value) for value in rounded)


async def test_each_way_runs_on_the_paths_it_names(
    mesh: Mesh, request: pytest.FixtureRequest
) -> None:
    stream = create_stream(mesh.context, "s")
    mapping = subscribe(stream, Consumer(mesh))
    async with mesh:
        await settle()
        assert is_fast(mesh) is request.node.callspec.params["mesh"].startswith("fast")
        assert mapping.held_shards() == [SHARD]
