"""Shard leases: processes sharing a backend split a stream's shards (reference
``distributed-backends.md`` §7, the Kinesis Client Library's model).

Two meshes on one memory backend and one VirtualClock stand for two processes on one shared
store (the Redis adapter's tests run the same with real processes). Expected values are
written from the rules in :mod:`eventmesh.mappings.shard_leases`: an owner renews every third
of the lease duration, another process takes a lease whose record stood still for a whole
duration by its own clock, a busy owner hands one lease over between two batches, and only the
current owner moves a checkpoint.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from eventmesh import ConfigurationError, Context, Mesh, Telemetry
from eventmesh._tasks import stop_tasks
from eventmesh.backends.memory import memory_backend
from eventmesh.backends.protocols import Backend, KeyValueStore, StoredValue
from eventmesh.mappings.shard_leases import Lease, ShardLeases
from eventmesh.mappings.stream_mapping import StreamMapping
from eventmesh.resources.stream import Stream, create_stream
from eventmesh.testing import VirtualClock, settle

LEASE = 6.0
SHARDS = [f"shardId-00000000000{index}" for index in range(4)]


class Process:
    """One 'process': a mesh of its own on the shared backend, with a consumer that records
    (shard, data) per record it is given."""

    def __init__(self, backend: Backend, clock: VirtualClock, name: str, shards: int) -> None:
        self.mesh = Mesh(
            storage=backend, clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=2.0
        )
        self.name = name
        self.seen: list[tuple[str, str]] = []

        async def handler(event: dict[str, Any], context: Context) -> None:
            for record in event["Records"]:
                shard = record["eventID"].split(":")[0]
                self.seen.append((shard, base64.b64decode(record["kinesis"]["data"]).decode()))

        function = self.mesh.function(name="consume")(handler)
        self.stream: Stream = create_stream(self.mesh.context, "s", shards=shards)
        self.mapping: StreamMapping = self.stream.subscribe(
            function, starting_position="TRIM_HORIZON", lease_duration=LEASE
        )


@pytest.fixture
async def backend(clock: VirtualClock) -> AsyncIterator[Backend]:
    shared = memory_backend(clock)
    yield shared


async def rounds(clock: VirtualClock, count: int) -> None:
    """Let ``count`` lease rounds pass (a round every third of the lease duration)."""
    for _ in range(count):
        await clock.advance(LEASE / 3)
        await settle()


async def record(values: KeyValueStore, mapping: StreamMapping, shard: str) -> dict[str, Any]:
    stored = await values.get(mapping.checkpoint_key(shard))
    assert stored is not None
    result: dict[str, Any] = orjson.loads(stored.value)
    return result


async def put(stream: Stream, shard_index: int, *datas: str) -> None:
    """Records on one shard (an explicit hash key inside the shard's range)."""
    shard = stream.shards[shard_index]
    await stream.put_records(
        [
            {"data": data, "partition_key": "k", "explicit_hash_key": shard.starting_hash_key}
            for data in datas
        ]
    )


async def test_one_process_holds_every_shard_and_releases_them_at_stop(
    backend: Backend, clock: VirtualClock
) -> None:
    only = Process(backend, clock, "a", shards=2)
    async with only.mesh:
        await settle()
        assert only.mapping.held_shards() == SHARDS[:2]
        lease = await record(backend.values, only.mapping, SHARDS[0])
        assert lease["owner"] == only.mapping.owner
        assert lease["counter"] == 1
        await put(only.stream, 0, "x")
        await settle()
    assert only.seen == [(SHARDS[0], "x")]
    released = await record(backend.values, only.mapping, SHARDS[0])
    assert released["owner"] is None
    assert released["lanes"] == [1]  # the checkpoint stays with the released lease


async def test_a_second_process_takes_a_fair_share_and_each_shard_keeps_its_order(
    backend: Backend, clock: VirtualClock
) -> None:
    first = Process(backend, clock, "a", shards=4)
    second = Process(backend, clock, "b", shards=4)
    async with first.mesh:
        await settle()
        assert first.mapping.held_shards() == SHARDS
        for index in range(4):
            await put(first.stream, index, f"{index}-early-1", f"{index}-early-2")
        await settle()
        async with second.mesh:
            await settle()
            assert second.mapping.held_shards() == []  # none free: it asks instead
            await rounds(clock, 9)
            assert len(first.mapping.held_shards()) == 2
            assert len(second.mapping.held_shards()) == 2
            assert set(first.mapping.held_shards()) | set(second.mapping.held_shards()) == set(
                SHARDS
            )
            for index in range(4):
                await put(first.stream, index, f"{index}-late-1", f"{index}-late-2")
            await settle()
            moved = second.mapping.held_shards()
            for shard in moved:
                lease = await record(backend.values, second.mapping, shard)
                assert lease["owner"] == second.mapping.owner
                assert lease["counter"] == 2  # a second owner
    everything = first.seen + second.seen
    assert sorted(everything) == sorted(
        (SHARDS[index], f"{index}-{when}-{n}")
        for index in range(4)
        for when in ("early", "late")
        for n in (1, 2)
    )  # each record once: a handover happens between batches, after the checkpoint
    for shard in moved:
        index = SHARDS.index(shard)
        assert [data for s, data in first.seen if s == shard] == [
            f"{index}-early-1",
            f"{index}-early-2",
        ]
        assert [data for s, data in second.seen if s == shard] == [
            f"{index}-late-1",
            f"{index}-late-2",
        ]


async def test_a_dead_owners_shards_are_taken_after_the_lease_expires(
    backend: Backend, clock: VirtualClock
) -> None:
    dead = Process(backend, clock, "a", shards=2)
    survivor = Process(backend, clock, "b", shards=2)
    await dead.mesh.start()
    await settle()
    await put(dead.stream, 0, "one", "two")
    await settle()
    assert dead.seen == [(SHARDS[0], "one"), (SHARDS[0], "two")]
    # The process dies: its tasks end, nothing is written or released.
    await stop_tasks(dead.mapping._tasks)
    await put(dead.stream, 0, "three")
    async with survivor.mesh:
        await settle()
        assert survivor.mapping.held_shards() == []
        await clock.advance(LEASE - 0.5)
        await settle()
        assert survivor.mapping.held_shards() == []  # not before a whole lease duration
        await rounds(clock, 3)
        assert survivor.mapping.held_shards() == SHARDS[:2]
        await settle()
        assert survivor.seen == [(SHARDS[0], "three")]  # resumed after the checkpoint
        lease = await record(backend.values, survivor.mapping, SHARDS[0])
        assert lease["counter"] == 2


async def test_only_the_current_owner_moves_the_checkpoint(clock: VirtualClock) -> None:
    values = memory_backend(clock).values

    def key_of(shard: str) -> str:
        return f"lease/{shard}"

    old = ShardLeases(values, clock, key_of, owner="old", duration=LEASE)
    new = ShardLeases(values, clock, key_of, owner="new", duration=LEASE)
    (held,) = (await old.round(["s0"])).taken
    assert await old.write(held, [5])
    assert (await new.round(["s0"])).taken == []  # owned, not yet expired
    await clock.advance(LEASE)  # the old owner is paused: no renewal
    (taken,) = (await new.round(["s0"])).taken
    assert taken.lanes == [5] and taken.counter == 2
    assert not await old.write(held, [9])  # fenced: the record moved on
    assert held.lost
    assert await new.write(taken, [7])
    stored = await values.get("lease/s0")
    assert stored is not None
    assert orjson.loads(stored.value) == {
        "lanes": [7],
        "owner": "new",
        "counter": 2,
        "wanted_by": None,
    }
    assert (await old.round(["s0"])).lost == []  # it already knew; nothing more to write


async def test_a_renewing_owner_keeps_its_lease(clock: VirtualClock) -> None:
    values = memory_backend(clock).values
    owner = ShardLeases(values, clock, lambda shard: shard, owner="a", duration=LEASE)
    other = ShardLeases(values, clock, lambda shard: shard, owner="b", duration=LEASE)
    await owner.round(["s0"])
    for _ in range(10):  # 10 rounds: 20 s, more than three lease durations
        await clock.advance(LEASE / 3)
        await owner.round(["s0"])
        assert (await other.round(["s0"])).taken == []
    assert list(owner.held) == ["s0"]


class FailingValues:
    """A key-value store whose calls can be made to fail: all of them (an outage), or the
    next write of one key (a blip)."""

    def __init__(self, inner: KeyValueStore) -> None:
        self.inner = inner
        self.down = False
        self.fail_next_put_of: str | None = None

    async def get(self, key: str) -> StoredValue | None:
        if self.down:
            raise ConnectionError("store unreachable")
        return await self.inner.get(key)

    async def put(self, key: str, value: bytes, **conditions: Any) -> int | None:
        if self.down:
            raise ConnectionError("store unreachable")
        if key == self.fail_next_put_of:
            self.fail_next_put_of = None
            raise ConnectionError("store unreachable for a moment")
        return await self.inner.put(key, value, **conditions)

    async def delete(self, key: str, *, only_if_version: int | None = None) -> bool:
        return await self.inner.delete(key, only_if_version=only_if_version)

    async def close(self) -> None:
        await self.inner.close()


async def test_no_batch_starts_once_the_lease_ran_out_unrenewed(clock: VirtualClock) -> None:
    inner = memory_backend(clock)
    values = FailingValues(inner.values)
    backend = Backend(inner.queues, inner.logs, values, inner.blobs, in_memory=True)  # type: ignore[arg-type]
    process = Process(backend, clock, "a", shards=1)
    async with process.mesh:
        await settle()
        await put(process.stream, 0, "before")
        await settle()
        values.down = True
        await clock.advance(LEASE + 1)
        await settle()
        await put(process.stream, 0, "during")
        await clock.advance(LEASE)
        await settle()
        assert process.seen == [(SHARDS[0], "before")]  # not "during": the lease ran out
        values.down = False
        await rounds(clock, 2)
        await clock.advance(1.0)
        await settle()
        assert process.seen == [(SHARDS[0], "before"), (SHARDS[0], "during")]


async def test_an_old_checkpoint_without_a_lease_is_adopted(
    backend: Backend, clock: VirtualClock
) -> None:
    process = Process(backend, clock, "a", shards=1)
    await put(process.stream, 0, "done-1", "done-2", "new")
    await backend.values.put(process.mapping.checkpoint_key(SHARDS[0]), b'{"lanes": [2]}')
    async with process.mesh:
        await settle()
    assert process.seen == [(SHARDS[0], "new")]


@pytest.mark.parametrize("duration", [0.5, 3601, True, "10"])
async def test_the_lease_duration_is_checked(
    backend: Backend, clock: VirtualClock, duration: Any
) -> None:
    mesh = Mesh(storage=backend, clock=clock, telemetry=Telemetry(enabled=False))
    function = mesh.function(name="f")(lambda event, context: None)
    stream = create_stream(mesh.context, "s")
    with pytest.raises(ConfigurationError, match="lease_duration must be a number from 1 to 3600"):
        stream.subscribe(function, lease_duration=duration)


async def test_three_processes_on_four_shards_end_two_one_one(
    backend: Backend, clock: VirtualClock
) -> None:
    """A process that lacks two leases asks even an owner at its share (ceil(4/3) = 2) for
    one, so nobody is left idle: 2/2/0 becomes 2/1/1, as the KCL balances."""
    processes = [Process(backend, clock, name, shards=4) for name in "abc"]
    async with processes[0].mesh, processes[1].mesh:
        await settle()
        await rounds(clock, 6)
        assert sorted(len(p.mapping.held_shards()) for p in processes[:2]) == [2, 2]
        async with processes[2].mesh:
            await rounds(clock, 9)
            assert sorted(len(p.mapping.held_shards()) for p in processes) == [1, 1, 2]


def failing_backend(clock: VirtualClock) -> tuple[Backend, FailingValues]:
    inner = memory_backend(clock)
    values = FailingValues(inner.values)
    backend = Backend(inner.queues, inner.logs, values, inner.blobs, in_memory=True)  # type: ignore[arg-type]
    return backend, values


async def test_a_store_error_in_a_round_strands_no_shard(clock: VirtualClock) -> None:
    """A round cut short by the store (here: the second take of a round fails) keeps what it
    did: the shard taken before the error is read, the other one is taken next round, and a
    stop releases everything held."""
    backend, values = failing_backend(clock)
    first = Process(backend, clock, "a", shards=2)
    second = Process(backend, clock, "b", shards=2)
    await first.mesh.start()
    await settle()
    await second.mesh.start()
    await settle()
    await first.mesh.stop()  # releases both, free for the second
    values.fail_next_put_of = second.mapping.checkpoint_key(SHARDS[1])
    await rounds(clock, 1)
    assert second.mapping.held_shards() == SHARDS[:1]
    await put(second.stream, 0, "x")
    await rounds(clock, 1)
    assert second.mapping.held_shards() == SHARDS[:2]
    assert second.seen == [(SHARDS[0], "x")]
    await second.mesh.stop()
    for shard in SHARDS[:2]:
        assert (await record(backend.values, second.mapping, shard))["owner"] is None


async def test_a_handover_does_not_wait_for_a_batching_window(
    backend: Backend, clock: VirtualClock
) -> None:
    """A lane gathering a batch (a 300 s window) stops gathering when its shard is handed
    over: the asker gets the shard within a few rounds, and each record is delivered once."""
    first = Process(backend, clock, "a", shards=2)
    first.mapping.batching_window = 300.0
    second = Process(backend, clock, "b", shards=2)
    second.mapping.batching_window = 300.0
    await first.mesh.start()
    await settle()
    for index in range(2):
        await put(first.stream, index, f"{index}-x")
    await settle()
    await second.mesh.start()
    await rounds(clock, 6)  # 12 s, far less than the window
    assert len(second.mapping.held_shards()) == 1
    (moved,) = second.mapping.held_shards()
    assert (await record(backend.values, second.mapping, moved))["counter"] == 2
    await clock.advance(300)
    await settle()
    await second.mesh.stop()
    await first.mesh.stop()
    assert sorted(first.seen + second.seen) == [(SHARDS[0], "0-x"), (SHARDS[1], "1-x")]


@pytest.mark.parametrize(("processes", "shards"), [(5, 7), (3, 4), (5, 6)])
async def test_the_split_settles_without_churn(
    backend: Backend, clock: VirtualClock, processes: int, shards: int
) -> None:
    """Processes joining one after another end with shares differing by at most one, and
    then no shard changes hands: a released lease is reserved for whoever asked for it."""
    group = [Process(backend, clock, f"p{n}", shards=shards) for n in range(processes)]
    for process in group:
        await process.mesh.start()
        await clock.advance(0.4)
        await settle()
    history = []
    for _ in range(120):  # 120 s, 20 lease durations
        await clock.advance(1.0)
        await settle()
        history.append([tuple(process.mapping.held_shards()) for process in group])
    for process in group:
        await process.mesh.stop()
    final = history[-1]
    assert sorted(shard for held in final for shard in held) == SHARDS_OF(shards)
    sizes = sorted(len(held) for held in final)
    assert sizes[-1] - sizes[0] <= 1, sizes
    assert all(step == final for step in history[-60:])  # nothing moved in the last minute


def SHARDS_OF(count: int) -> list[str]:
    return [f"shardId-{index:012d}" for index in range(count)]


async def test_a_lease_released_for_an_asker_is_reserved_for_it(clock: VirtualClock) -> None:
    values = memory_backend(clock).values
    owner = ShardLeases(values, clock, str, owner="owner", duration=LEASE)
    asker = ShardLeases(values, clock, str, owner="asker", duration=LEASE)
    third = ShardLeases(values, clock, str, owner="third", duration=LEASE)
    await owner.round(["s0", "s1"])
    await clock.advance(LEASE / 3)
    await asker.round(["s0", "s1"])  # asks the owner, which holds two more than it
    granted = await owner.round(["s0", "s1"])
    (lease,) = granted.to_release
    assert lease.wanted_by == "asker"
    assert await owner.release(lease)
    assert (await third.round(["s0", "s1"])).taken == []  # not for it
    assert (await owner.round(["s0", "s1"])).taken == []  # nor for the one that gave it
    (taken,) = (await asker.round(["s0", "s1"])).taken
    assert taken.shard_id == lease.shard_id and taken.counter == 2


async def test_an_unanswered_reservation_is_free_after_a_lease_duration(
    clock: VirtualClock,
) -> None:
    values = memory_backend(clock).values
    third = ShardLeases(values, clock, str, owner="third", duration=LEASE)
    await values.put("s0", orjson.dumps({"lanes": [4], "owner": None, "counter": 3,
                                         "wanted_by": "gone"}))  # fmt: skip
    assert (await third.round(["s0"])).taken == []
    await clock.advance(LEASE)
    (taken,) = (await third.round(["s0"])).taken
    assert (taken.lanes, taken.counter) == ([4], 4)


async def test_an_owner_at_its_share_refuses_a_request_that_would_not_balance(
    clock: VirtualClock,
) -> None:
    """Two shards, two owners with one each: a request for the other's shard is refused
    (it would only swap the imbalance), and the refusal clears it from the record."""
    values = memory_backend(clock).values
    one = ShardLeases(values, clock, str, owner="one", duration=LEASE)
    two = ShardLeases(values, clock, str, owner="two", duration=LEASE)
    await values.put("s0", orjson.dumps({"lanes": None, "owner": None, "counter": 0,
                                         "wanted_by": None}))  # fmt: skip
    (mine,) = (await one.round(["s0"])).taken
    await values.put("s1", b'{"lanes": null, "owner": "two", "counter": 1, "wanted_by": "one"}')
    (theirs,) = (await two.round(["s1"])).taken  # adopts its record
    refused = await two.round(["s0", "s1"])
    assert refused.to_release == []
    stored = await values.get("s1")
    assert stored is not None and orjson.loads(stored.value)["wanted_by"] is None
    assert mine.shard_id == "s0" and theirs.shard_id == "s1"


class SteppingClock:
    """A clock whose monotonic and wall readings are set by hand."""

    def __init__(self) -> None:
        self.monotonic = 100.0
        self.wall = 1_000.0

    def now(self) -> float:
        return self.monotonic

    def time(self) -> float:
        return self.wall


def test_a_lease_is_not_current_after_a_suspend_the_monotonic_clock_did_not_see() -> None:
    clock = SteppingClock()
    lease = Lease("s0", "k", 1, 1, None, valid_until=110.0, valid_until_wall=1_010.0)
    assert lease.current(clock)  # type: ignore[arg-type]
    clock.wall += 60  # the machine slept a minute: wall time moved, monotonic did not
    assert not lease.current(clock)  # type: ignore[arg-type]
    clock.wall -= 60
    clock.monotonic += 11
    assert not lease.current(clock)  # type: ignore[arg-type]
