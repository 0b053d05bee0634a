"""The stream's fast paths agree with its general ones: ``put_record`` straight to the store
(a remembered partition key, room in the shard, nothing to trim) and through ``put_records``'
general path; Lambda's records built from stored records; a lane as a list and a head; the
memory log's shared wait timer; checkpoint writes taking turns on their lease.

Expected values come from the reference rules (an MD5 of the partition key picks the shard,
sequence numbers are "49" + 14 digits of shard index + 40 of position, arrivals are rounded
to the millisecond as ``round`` does), computed here independently of the code under test.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import threading
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from opentelemetry.sdk.trace import TracerProvider

from eventmesh import BackpressureError, Context, Mesh, PayloadError, RealClock, Telemetry
from eventmesh.backends.memory import MemoryLogStore, memory_backend
from eventmesh.backends.protocols import LogRecord, StoredValue
from eventmesh.mappings.shard_leases import ShardLeases, WriteTurn
from eventmesh.resources import stream as stream_module
from eventmesh.resources.stream import KinesisRecords, Stream, create_stream, sequence_number
from eventmesh.testing import TimerHandle, VirtualClock, settle

T0 = 1_767_225_600.0
ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/s"
ROLE = "arn:aws:iam::123456789012:role/consume-role"


def shard_of(key: str, shards: int) -> int:
    """Kinesis's rule, written out: the MD5 of the key as a 128-bit integer, in even ranges."""
    value = int.from_bytes(hashlib.md5(key.encode()).digest(), "big")
    return min(value // (2**128 // shards), shards - 1)


def number(shard: int, position: int) -> str:
    return "49" + f"{shard:014d}" + f"{position:040d}"


# -- put_record: direct and general paths -----------------------------------------------------
async def test_put_record_routes_and_numbers_like_put_records(mesh: Mesh) -> None:
    stream = create_stream(mesh.context, "s", shards=4)
    keys = [f"key-{index}" for index in range(40)]
    async with mesh:
        first = [await stream.put_record(f"a{k}", k) for k in keys]  # each key new: general
        again = [await stream.put_record(f"b{k}", k) for k in keys]  # each key known: direct
        batch = await stream.put_records([{"data": f"c{k}", "partition_key": k} for k in keys])
    counts = [0, 0, 0, 0]
    expected = []
    for _ in range(3):
        for key in keys:
            shard = shard_of(key, 4)
            counts[shard] += 1
            expected.append((f"shardId-{shard:012d}", number(shard, counts[shard])))
    got = [(r.shard_id, r.sequence_number) for r in first + again + batch]
    assert got == expected
    assert got[0][1] == sequence_number(shard_of(keys[0], 4), 1)


async def test_an_explicit_hash_key_takes_the_general_path_even_for_a_known_key(
    mesh: Mesh,
) -> None:
    stream = create_stream(mesh.context, "s", shards=2)
    async with mesh:
        await stream.put_record("a", "k")  # "k" remembered for its own shard
        other = 1 - shard_of("k", 2)
        result = await stream.put_record(
            "b", "k", explicit_hash_key=stream.shards[other].starting_hash_key
        )
    assert result.shard_id == f"shardId-{other:012d}"


async def test_invalid_partition_keys_are_refused_every_time(mesh: Mesh) -> None:
    stream = create_stream(mesh.context, "s")
    async with mesh:
        for _ in range(2):  # never remembered as valid
            with pytest.raises(PayloadError, match="surrogate"):
                await stream.put_record("a", "bad\ud800")
            with pytest.raises(PayloadError, match="partition key"):
                await stream.put_record("a", ["not", "a", "str"])  # type: ignore[arg-type]
            with pytest.raises(PayloadError, match="partition key"):
                await stream.put_record("a", "")
        await stream.put_record("a", "k")
        with pytest.raises(PayloadError, match="1 MiB"):  # a known key: the size still counts
            await stream.put_record(b"x" * (1024 * 1024), "k")
        with pytest.raises(PayloadError, match="data"):
            await stream.put_record(None, "k")


async def test_forgotten_routes_are_found_again(
    mesh: Mesh, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream_module, "ROUTES_KEPT", 4)
    stream = create_stream(mesh.context, "s", shards=3)
    keys = [f"k{index}" for index in range(11)]
    async with mesh:
        for _ in range(3):
            results = [await stream.put_record("x", key) for key in keys]
            assert [r.shard_id for r in results] == [
                f"shardId-{shard_of(key, 3):012d}" for key in keys
            ]


async def test_a_known_key_at_the_limit_waits_like_any_other(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """The direct path is only for a shard with room: at max_pending a put waits (timeout 0:
    refuses at once) and the retention frees room, as on the general path."""
    stream = create_stream(mesh.context, "s", max_pending=2)
    async with mesh:
        await stream.put_record("a", "k")
        await stream.put_record("b", "k")  # known key, room: direct
        with pytest.raises(BackpressureError):
            await stream.put_record("c", "k", timeout=0)
        waiting = asyncio.create_task(stream.put_record("c", "k"))
        await settle()
        assert not waiting.done()
        await clock.advance(86_400 + 1)  # a and b expire
        result = await waiting
    assert result.sequence_number == number(0, 3)
    assert stream.lag(stream.shard_ids[0]) == 1


async def test_a_put_after_the_oldest_record_expired_trims_first(
    mesh: Mesh, clock: VirtualClock
) -> None:
    stream = create_stream(mesh.context, "s")
    shard = stream.shard_ids[0]
    async with mesh:
        await stream.put_record("old", "k")
        await clock.advance(86_400 + 1)
        await stream.put_record("new", "k")  # known key, but a trim is due: general path
        assert (await stream.positions(shard)) == (1, 2)
        assert stream.lag(shard) == 1
        iterator = await stream.get_shard_iterator(shard, "TRIM_HORIZON")
        records = (await stream.get_records(iterator)).records
    assert [r.data for r in records] == [b"new"]


async def test_a_mapping_reading_on_keeps_the_direct_path_open(mesh: Mesh) -> None:
    """Lag is the newest record less the slowest mapping's read position: once a mapping has
    read, puts at the limit's edge keep going straight to the store."""
    seen: list[str] = []

    async def handler(event: dict[str, Any], context: Context) -> None:
        seen.extend(base64.b64decode(r["kinesis"]["data"]).decode() for r in event["Records"])

    function = mesh.function(name="consume")(handler)
    stream = create_stream(mesh.context, "s", max_pending=3)
    stream.subscribe(function, starting_position="TRIM_HORIZON")
    async with mesh:
        for index in range(30):
            await stream.put_record(str(index), "k", timeout=0)  # never waits: all is read
            await settle()
        assert stream.lag(stream.shard_ids[0]) == 0
    assert seen == [str(index) for index in range(30)]


# -- Lambda's records -------------------------------------------------------------------------
def test_kinesis_records_are_lambdas_shape_with_fresh_dicts() -> None:
    shape = KinesisRecords(ARN, "us-east-1", ROLE, "shardId-000000000001", "49" + "0" * 13 + "1")
    stored = [
        LogRecord(7, b'{"a":1}', "k1", T0 + 0.0125),
        LogRecord(8, b"\x00\xff", "k2", T0 + 0.0125),
    ]
    first = shape.records(stored)
    assert first[0] == {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": "k1",
            "sequenceNumber": number(1, 7),
            "data": "eyJhIjoxfQ==",
            "approximateArrivalTimestamp": round(T0 + 0.0125, 3),
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"shardId-000000000001:{number(1, 7)}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": ROLE,
        "awsRegion": "us-east-1",
        "eventSourceARN": ARN,
    }
    assert first[1]["kinesis"]["data"] == "AP8="
    assert shape.sequence_number(8) == number(1, 8)
    first[0]["kinesis"]["data"] = "changed by a handler"
    assert shape.records(stored) == shape.records(stored)
    assert shape.records(stored)[0]["kinesis"]["data"] == "eyJhIjoxfQ=="


@pytest.mark.parametrize(
    "arrival",
    [
        T0,
        T0 + 0.0005,  # ties and near ties: round()'s own answer
        T0 + 0.0015,
        T0 + 0.0004999999,
        T0 + 0.123456,
        0.0005,
        1.0005,
        2.675,
        -1.0005,
        -0.0004,
        1e15 + 0.25,
        1_767_225_600.9996,
    ],
)
def test_arrival_is_rounded_to_the_millisecond_as_round_does(arrival: float) -> None:
    shape = KinesisRecords(ARN, "us-east-1", ROLE, "shardId-000000000000", "49" + "0" * 14)
    (record,) = shape.records([LogRecord(1, b"x", "k", arrival)])
    assert record["kinesis"]["approximateArrivalTimestamp"] == round(arrival, 3)


async def test_a_backlog_larger_than_a_lane_compacts_is_delivered_once_in_order(
    mesh: Mesh,
) -> None:
    seen: list[int] = []
    sizes: list[int] = []

    async def handler(event: dict[str, Any], context: Context) -> None:
        sizes.append(len(event["Records"]))
        seen.extend(int(base64.b64decode(r["kinesis"]["data"])) for r in event["Records"])

    function = mesh.function(name="consume")(handler)
    stream = create_stream(mesh.context, "s", max_pending=20_000)
    mapping = stream.subscribe(function, starting_position="TRIM_HORIZON", batch_size=10_000)
    for start in range(0, 12_000, 500):
        await stream.put_records(
            [{"data": str(i), "partition_key": "k"} for i in range(start, start + 500)]
        )
    async with mesh:
        await settle()
    assert seen == list(range(12_000))
    assert max(sizes) <= 10_000
    assert mapping.invocations == len(sizes)


# -- the memory log's waits -------------------------------------------------------------------
async def test_waiting_reads_share_a_timer_and_each_ends_at_its_deadline(
    clock: VirtualClock,
) -> None:
    logs = MemoryLogStore(clock)
    short = asyncio.create_task(logs.read("s", "a", 0, 10, wait=5))
    long = asyncio.create_task(logs.read("s", "b", 0, 10, wait=20))
    woken = asyncio.create_task(logs.read("s", "c", 0, 10, wait=30))
    await settle()
    assert clock.pending_timers == 1
    await logs.append("s", "c", [(b"x", "k", {})])
    await settle()
    assert [r.data for r in woken.result()] == [b"x"]
    await clock.advance(5)
    assert short.done() and short.result() == []
    assert not long.done()
    await clock.advance(14.9)
    assert not long.done()
    await clock.advance(0.1)
    assert long.result() == []
    await settle()
    assert clock.pending_timers == 0  # no waiter left: no timer left


class CountingClock(VirtualClock):
    """A virtual clock that counts the timers asked of it."""

    def __init__(self) -> None:
        super().__init__()
        self.timers_made = 0

    def call_at(self, when: float, callback: Callable[[], object]) -> TimerHandle:
        self.timers_made += 1
        return super().call_at(when, callback)


async def test_a_read_that_waits_again_at_once_keeps_the_timer() -> None:
    """A mapping's reader reads what woke it and waits again in the same turn of the loop:
    the shared timer stays, rather than being cancelled and made again."""
    clock = CountingClock()
    logs = MemoryLogStore(clock)
    records: list[list[LogRecord]] = []

    async def reader() -> None:
        after = 0
        for _ in range(3):
            got = await logs.read("s", "0", after, 10, wait=3600)
            records.append(got)
            after = got[-1].sequence

    task = asyncio.create_task(reader())
    await settle()
    for data in (b"1", b"2", b"3"):
        await logs.append("s", "0", [(data, "k", {})])
        await settle()
    await task
    await settle()
    assert [[r.data for r in got] for got in records] == [[b"1"], [b"2"], [b"3"]]
    assert clock.timers_made == 1
    assert clock.pending_timers == 0


def test_a_store_kept_for_a_mesh_restarted_on_another_loop_still_ends_waits() -> None:
    """A memory store outlives a mesh's event loop (a restart keeps its contents): a wait on
    the next loop is not left to a timer of the loop that ended."""
    logs = MemoryLogStore(RealClock())

    async def first() -> None:
        waiting = asyncio.create_task(logs.read("s", "0", 0, 1, wait=60))
        await asyncio.sleep(0.01)
        waiting.cancel()  # the loop ends with the store's timer armed on it

    async def second() -> list[LogRecord]:
        return await asyncio.wait_for(logs.read("s", "0", 0, 1, wait=0.05), timeout=5)

    outcome: list[Any] = []

    def run() -> None:
        asyncio.run(first())
        outcome.append(asyncio.run(second()))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(10)
    assert outcome == [[]]


# -- checkpoint writes take turns -------------------------------------------------------------
class SlowValues:
    """A key-value store whose puts wait for ``release`` (a store with real latency)."""

    def __init__(self, clock: VirtualClock) -> None:
        self.inner = memory_backend(clock).values
        self.release = asyncio.Event()
        self.written: list[bytes] = []

    async def get(self, key: str) -> StoredValue | None:
        return await self.inner.get(key)

    async def put(self, key: str, value: bytes, **conditions: Any) -> int | None:
        await self.release.wait()
        self.written.append(value)
        return await self.inner.put(key, value, **conditions)

    async def delete(self, key: str, **conditions: Any) -> bool:
        return await self.inner.delete(key, **conditions)

    async def close(self) -> None:
        return None


async def test_checkpoint_writes_land_in_the_order_asked(clock: VirtualClock) -> None:
    values = SlowValues(clock)
    values.release.set()
    leases = ShardLeases(values, clock, lambda shard: shard, owner="me", duration=6)
    (lease,) = (await leases.round(["s0"])).taken
    values.release.clear()
    writes = [asyncio.create_task(leases.write(lease, [position])) for position in (3, 5, 9)]
    await settle()
    assert lease.turn.held
    values.release.set()
    assert await asyncio.gather(*writes) == [True, True, True]
    lanes = [value.split(b'"lanes":')[1].split(b"]")[0] for value in values.written[-3:]]
    assert lanes == [b"[3", b"[5", b"[9"]
    assert lease.lanes == [9]
    assert not lease.turn.held


async def test_a_turn_handed_to_a_cancelled_writer_passes_on() -> None:
    turn = WriteTurn()
    await turn.take()
    second = asyncio.create_task(turn.take())
    third = asyncio.create_task(turn.take())
    await asyncio.sleep(0)
    turn.give()  # handed to second...
    second.cancel()  # ...which is cancelled before it runs: third gets it
    await asyncio.sleep(0)
    await asyncio.wait_for(third, timeout=1)
    assert second.cancelled()
    assert turn.held
    turn.give()
    assert not turn.held
    assert turn.take_free()


async def test_a_stream_mappings_checkpoint_moves_once_per_batch_done(mesh: Mesh) -> None:
    """The direct checkpoint write (no lock) still writes after every batch, through the
    lease, and the stored record says where the shard is."""

    async def handler(event: dict[str, Any], context: Context) -> None:
        return None

    function = mesh.function(name="consume")(handler)
    stream: Stream = create_stream(mesh.context, "s")
    mapping = stream.subscribe(function, starting_position="TRIM_HORIZON", batch_size=2)
    shard = stream.shard_ids[0]
    async with mesh:
        results = await stream.put_records(
            [{"data": str(i), "partition_key": "k"} for i in range(5)]
        )
        await settle()
        assert await mapping.checkpoint(shard) == results[-1].sequence_number
        stored = await mesh.backend.values.get(mapping.checkpoint_key(shard))
        assert stored is not None and b'"lanes":[5]' in stored.value
    assert mapping.invocations == 3


# -- a burst of puts, one batch ---------------------------------------------------------------
async def test_records_put_across_a_yield_of_the_producer_go_in_one_batch(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """On an in-memory log the reader woken by an append lets the loop's turn finish before
    it hands the records over: a producer that yields once between two puts still makes one
    batch, and no virtual time passes for it."""
    batches: list[list[str]] = []

    async def handler(event: dict[str, Any], context: Context) -> None:
        batches.append([base64.b64decode(r["kinesis"]["data"]).decode() for r in event["Records"]])

    function = mesh.function(name="consume")(handler)
    stream = create_stream(mesh.context, "s")
    stream.subscribe(function, starting_position="LATEST")
    async with mesh:
        await settle()
        started = clock.now()
        await stream.put_record("a", "k")
        await asyncio.sleep(0)
        await stream.put_record("b", "k")
        await settle()
        await stream.put_record("c", "k")  # alone: a batch of its own
        await settle()
        assert clock.now() == started
    assert batches == [["a", "b"], ["c"]]


async def test_a_shared_memory_store_reads_each_wake_up_as_it_comes(clock: VirtualClock) -> None:
    """A memory backend handed to the mesh may be another mesh's too: its reader does not
    linger (and the records still arrive in order, each once)."""
    mesh = Mesh(storage=memory_backend(clock), clock=clock, drain_timeout=2.0)
    batches: list[list[str]] = []

    async def handler(event: dict[str, Any], context: Context) -> None:
        batches.append([base64.b64decode(r["kinesis"]["data"]).decode() for r in event["Records"]])

    function = mesh.function(name="consume")(handler)
    stream = create_stream(mesh.context, "s")
    stream.subscribe(function, starting_position="LATEST")
    async with mesh:
        await settle()
        await stream.put_record("a", "k")
        await asyncio.sleep(0)
        await stream.put_record("b", "k")
        await settle()
    assert batches == [["a"], ["b"]]


# -- append_now: the memory log's append of one record, at once -------------------------------
class SteppedClock(VirtualClock):
    """A virtual clock whose wall time the test sets, back as well as forward."""

    def __init__(self) -> None:
        super().__init__(start=T0)
        self.wall = T0

    def time(self) -> float:
        return self.wall


async def test_append_now_stores_what_append_stores() -> None:
    """Sequences follow on, data is copied right-sized, attributes are copied (or shared
    empty), a wall clock stepped back repeats the previous arrival: as ``append`` does."""
    clock = SteppedClock()
    logs = MemoryLogStore(clock)
    assert logs.appends_now is True
    (first,) = await logs.append("s", "0", [(b"a", "k1", {})])
    attributes = {"traceparent": "00-1-2-01"}
    clock.wall = T0 + 5
    assert logs.append_now("s", "0", bytearray(b"b"), "k2", attributes) == (2, T0 + 5)
    attributes["traceparent"] = "changed"
    clock.wall = T0 + 1  # stepped back
    assert logs.append_now("s", "0", b"c", "k3", {}) == (3, T0 + 5)
    (fourth,) = await logs.append("s", "0", [(b"d", "k4", {})])
    _, second, third, _ = await logs.read("s", "0", 0, 10)
    assert [(r.sequence, r.data, r.partition_key, r.arrival) for r in (first, second, third)] == [
        (1, b"a", "k1", T0),
        (2, b"b", "k2", T0 + 5),
        (3, b"c", "k3", T0 + 5),
    ]
    assert type(second.data) is bytes
    assert second.attributes == {"traceparent": "00-1-2-01"}
    with pytest.raises(TypeError):  # read-only, as append's records' attributes
        second.attributes["traceparent"] = "x"  # type: ignore[index]
    assert third.attributes == {}
    assert (fourth.sequence, fourth.arrival) == (4, T0 + 5)
    stored = await logs.read("s", "0", 0, 10)
    assert [r.data for r in stored] == [b"a", b"b", b"c", b"d"]
    assert await logs.bounds("s", "0") == (0, 4)


async def test_append_now_wakes_a_waiting_reader(clock: VirtualClock) -> None:
    logs = MemoryLogStore(clock)
    reader = asyncio.create_task(logs.read("s", "0", 0, 10, wait=60))
    await settle()
    assert not reader.done()
    logs.append_now("s", "0", b"x", "k", {})
    records = await asyncio.wait_for(reader, 1)
    assert [r.data for r in records] == [b"x"]


class RecordingLogs(MemoryLogStore):
    """A store that sees its appends: it must not be bypassed by ``append_now``."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__(clock)
        self.appended: list[bytes] = []

    async def append(self, stream, shard, records):  # type: ignore[no-untyped-def]
        self.appended.extend(data for data, _, _ in records)
        return await super().append(stream, shard, records)


async def test_a_store_that_overrides_append_sees_every_put(clock: VirtualClock) -> None:
    logs = RecordingLogs(clock)
    assert logs.appends_now is False
    backend = memory_backend(clock)
    backend.logs = logs
    mesh = Mesh(storage=backend, clock=clock, telemetry=Telemetry(enabled=False))
    stream = create_stream(mesh.context, "s")
    async with mesh:
        results = [await stream.put_record(str(i), "k") for i in range(4)]  # then known: direct
    assert logs.appended == [b"0", b"1", b"2", b"3"]
    assert [r.sequence_number for r in results] == [number(0, i) for i in range(1, 5)]


async def test_a_known_keys_record_carries_the_producers_trace(clock: VirtualClock) -> None:
    """Tracing on, a known key (the direct path, appended at once): the record keeps the
    producer's trace context as the general path's record does."""
    provider = TracerProvider()
    mesh = Mesh(clock=clock, telemetry=Telemetry(provider))
    stream = create_stream(mesh.context, "s")
    tracer = provider.get_tracer("test")
    async with mesh:
        ids = []
        for name in ("general", "direct"):
            with tracer.start_as_current_span(name) as span:
                await stream.put_record(name, "k")
            ids.append(f"{span.get_span_context().trace_id:032x}")
        untraced = await stream.put_record("outside", "k")
    iterator = await stream.get_shard_iterator("shardId-000000000000", "TRIM_HORIZON")
    records = (await stream.get_records(iterator)).records
    assert [r.data for r in records] == [b"general", b"direct", b"outside"]
    for record, trace_id in zip(records, ids, strict=False):
        assert trace_id in record.trace_context["traceparent"]
    assert records[2].trace_context == {}
    assert untraced.sequence_number == number(0, 3)


def test_kinesis_records_keep_lambdas_key_order_and_share_no_dict() -> None:
    shape = KinesisRecords(ARN, "us-east-1", ROLE, "shardId-000000000000", "49" + "0" * 14)
    stored = [LogRecord(1, b"x", "k", T0), LogRecord(2, b"y", "k", T0)]
    first, second = shape.records(stored)
    assert list(first) == [
        "kinesis", "eventSource", "eventVersion", "eventID", "eventName",
        "invokeIdentityArn", "awsRegion", "eventSourceARN",
    ]  # fmt: skip
    assert first["eventID"] == f"shardId-000000000000:{number(0, 1)}"
    assert second["eventID"] == f"shardId-000000000000:{number(0, 2)}"
    first["eventSource"] = "changed by a handler"
    first["awsRegion"] = "changed too"
    again = shape.records(stored)[0]
    assert (again["eventSource"], again["awsRegion"]) == ("aws:kinesis", "us-east-1")
    assert second["eventSource"] == "aws:kinesis"


# -- a shard's two tasks on an in-memory log: each reads or delivers --------------------------
@pytest.fixture(params=[True, False], ids=["paired", "reader-and-lane"])
def listening(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Run a test with the paired tasks (a log that resolves a future at an append) and
    with the general reader and lane tasks: both must give the same batches."""
    value: bool = request.param
    if not value:
        monkeypatch.setattr(Stream, "can_listen", property(lambda self: False))
    return value


async def test_records_put_during_a_retry_backoff_are_read_ahead_and_follow_in_order(
    mesh: Mesh, clock: VirtualClock, listening: bool
) -> None:
    batches: list[list[str]] = []

    async def handler(event: dict[str, Any], context: Context) -> None:
        batches.append([base64.b64decode(r["kinesis"]["data"]).decode() for r in event["Records"]])
        if len(batches) == 1:
            raise RuntimeError("the first try fails")

    function = mesh.function(name="consume")(handler)
    stream = create_stream(mesh.context, "s")
    shard = stream.shard_ids[0]
    mapping = stream.subscribe(function, starting_position="LATEST")
    async with mesh:
        await settle()
        await stream.put_records([{"data": x, "partition_key": "k"} for x in "ab"])
        await settle()
        assert batches == [["a", "b"]]  # failed: backing off for a second
        await stream.put_records([{"data": x, "partition_key": "k"} for x in "cd"])
        await settle()
        assert mapping.read_position(shard) == 4  # read ahead while the batch waits
        assert batches == [["a", "b"]]
        await clock.advance(1)
        await settle()
        assert batches == [["a", "b"], ["a", "b"], ["c", "d"]]
        await stream.put_record("e", "k")
        await settle()
        assert await mapping.checkpoint(shard) == number(0, 5)
    assert batches[-1] == ["e"]
    assert mapping.invocations == 4


async def test_a_shard_taken_over_while_a_batch_runs_stops_here_after_it(
    mesh: Mesh, clock: VirtualClock, listening: bool
) -> None:
    """Another process takes the lease while one task delivers and the other reads or
    stands by: the batch finishes, no other starts here, and the records left are not given
    to this function again."""
    release = asyncio.Event()
    batches: list[list[str]] = []

    async def handler(event: dict[str, Any], context: Context) -> None:
        batches.append([base64.b64decode(r["kinesis"]["data"]).decode() for r in event["Records"]])
        await release.wait()

    function = mesh.function(name="consume", timeout=900)(handler)
    stream = create_stream(mesh.context, "s")
    shard = stream.shard_ids[0]
    mapping = stream.subscribe(function, starting_position="LATEST")
    values = mesh.backend.values
    async with mesh:
        await settle()
        await stream.put_record("a", "k")
        await settle()
        await stream.put_record("b", "k")  # read ahead, not delivered
        await settle()
        key = mapping.checkpoint_key(shard)
        stored = await values.get(key)
        assert stored is not None
        lease = orjson.loads(stored.value)
        await values.put(key, orjson.dumps({**lease, "owner": "another-process"}))
        await clock.advance(10 / 3)  # the next lease round finds the lease taken
        await settle()
        assert mapping.held_shards() == []
        release.set()
        await settle()
        await stream.put_record("c", "k")
        await settle()
        assert batches == [["a"]]


async def test_a_listener_is_told_of_the_next_append_once(clock: VirtualClock) -> None:
    logs = MemoryLogStore(clock)
    assert logs.listens is True
    loop = asyncio.get_running_loop()
    told, forgotten = loop.create_future(), loop.create_future()
    logs.listen("s", "0", told)
    logs.listen("s", "0", forgotten)
    logs.unlisten("s", "0", forgotten)
    await clock.advance(7200)  # no deadline: still listening after any time
    assert not told.done()
    logs.append_now("s", "0", b"x", "k", {})
    assert told.done() and not forgotten.done()
    again = loop.create_future()
    logs.listen("s", "0", again)
    await logs.close()
    assert again.done()  # the log closed: nothing more to wait for
    late = loop.create_future()
    logs.listen("s", "0", late)
    assert late.done()


class ReadRecordingLogs(MemoryLogStore):
    def __init__(self, clock: VirtualClock) -> None:
        super().__init__(clock)
        self.waits: list[float] = []

    async def read(self, stream, shard, after, limit, wait=0.0):  # type: ignore[no-untyped-def]
        self.waits.append(wait)
        return await super().read(stream, shard, after, limit, wait)


async def test_a_store_that_overrides_read_is_read_through_it(clock: VirtualClock) -> None:
    """No listening where ``read`` is overridden: the mapping's long polls go through it."""
    logs = ReadRecordingLogs(clock)
    assert logs.listens is False
    backend = memory_backend(clock)
    backend.logs = logs
    mesh = Mesh(storage=backend, clock=clock, telemetry=Telemetry(enabled=False))
    seen: list[str] = []

    async def handler(event: dict[str, Any], context: Context) -> None:
        seen.extend(base64.b64decode(r["kinesis"]["data"]).decode() for r in event["Records"])

    function = mesh.function(name="consume")(handler)
    stream = create_stream(mesh.context, "s")
    stream.subscribe(function, starting_position="TRIM_HORIZON")
    async with mesh:
        await stream.put_record("a", "k")
        await settle()
    assert seen == ["a"]
    assert any(wait > 0 for wait in logs.waits)


@pytest.mark.parametrize("position", [0, 1, 9, 10, 99, 12_345, 10**20, 10**39, 10**40 - 1])
def test_sequence_numbers_pad_every_length_of_position_to_forty_digits(position: int) -> None:
    """Sequence numbers are joined from a head per length of the position's digits: each
    length gives "49", the shard's 14 digits and the position's 40, zero-padded."""
    records = KinesisRecords(ARN, "us-east-1", ROLE, "shardId-000000000003", "49" + "0" * 13 + "3")
    expected = "49" + "0" * 13 + "3" + str(position).rjust(40, "0")
    assert records.sequence_number(position) == expected
    assert len(expected) == 56
    stored = LogRecord(position, b"x", "k", T0, {})
    (record,) = records.records([stored])
    assert record["kinesis"]["sequenceNumber"] == expected
    assert record["eventID"] == "shardId-000000000003:" + expected
