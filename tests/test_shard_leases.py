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
import os
import re
import socket
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from eventmesh import ConfigurationError, Context, Mesh, Telemetry
from eventmesh._tasks import stop_tasks
from eventmesh.backends.memory import memory_backend
from eventmesh.backends.protocols import Backend, KeyValueStore, StoredValue
from eventmesh.mappings.shard_leases import Lease, ShardLeases, new_owner_id
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


# -- the rules one by one, on a lease table written by hand ------------------------------------
#
# Each test below writes the records other processes would have left (owner, counter, request)
# straight into the store, runs a round of one ShardLeases ("a") on the virtual clock, and checks
# what it took, granted, asked for or lost. With LEASE = 6 s a process renews every 2 s, and an
# owner counts as seen renewing while its record changed less than 4 s ago.


def lease_record(
    owner: str | None,
    counter: int = 1,
    lanes: list[int] | None = None,
    wanted_by: str | None = None,
) -> bytes:
    return orjson.dumps(
        {"lanes": lanes, "owner": owner, "counter": counter, "wanted_by": wanted_by}
    )


async def write_table(values: KeyValueStore, **records: bytes) -> None:
    for shard, value in records.items():
        assert await values.put(shard, value) is not None


async def fields_of(values: KeyValueStore, shard: str) -> dict[str, Any]:
    stored = await values.get(shard)
    assert stored is not None
    result: dict[str, Any] = orjson.loads(stored.value)
    return result


def shard_list(count: int) -> list[str]:
    return [f"s{index}" for index in range(count)]


def ids(leases: list[Lease]) -> list[str]:
    return [lease.shard_id for lease in leases]


class HookedValues:
    """A key-value store that lets another 'process' write a key just before this one's next
    write of it: the race between reading a record and writing it back."""

    def __init__(self, inner: KeyValueStore) -> None:
        self.inner = inner
        self.before_put: dict[str, list[bytes]] = {}

    async def get(self, key: str) -> StoredValue | None:
        return await self.inner.get(key)

    async def put(self, key: str, value: bytes, **conditions: Any) -> int | None:
        pending = self.before_put.get(key)
        if pending:
            assert await self.inner.put(key, pending.pop(0)) is not None
        return await self.inner.put(key, value, **conditions)

    async def delete(self, key: str, *, only_if_version: int | None = None) -> bool:
        return await self.inner.delete(key, only_if_version=only_if_version)

    async def close(self) -> None:
        await self.inner.close()


def table_of(clock: VirtualClock) -> tuple[HookedValues, ShardLeases]:
    values = HookedValues(memory_backend(clock).values)
    return values, ShardLeases(values, clock, str, owner="a", duration=LEASE)


def test_an_owner_id_names_the_host_and_the_process_with_a_nonce() -> None:
    first, second = new_owner_id(), new_owner_id()
    assert re.fullmatch(rf"{re.escape(socket.gethostname())}:{os.getpid()}:[0-9a-f]{{8}}", first)
    assert first != second


def test_a_lease_is_current_up_to_its_last_instant_on_both_clocks() -> None:
    clock = SteppingClock()
    lease = Lease("s0", "k", 1, 1, None, valid_until=100.0, valid_until_wall=1_000.0)
    assert lease.current(clock)  # type: ignore[arg-type]
    lease.lost = True
    assert not lease.current(clock)  # type: ignore[arg-type]


async def test_free_leases_are_taken_up_to_a_fair_share_of_the_live_owners(
    clock: VirtualClock,
) -> None:
    """Six shards, three live processes (a, b, c): a's share is two. It holds s3 already (a
    record naming it), so it takes one free shard, the first in order."""
    values, a = table_of(clock)
    await write_table(values, s1=lease_record("b"), s2=lease_record("c"), s3=lease_record("a"))
    result = await a.round(shard_list(6))
    assert result.error is None
    assert ids(result.taken) == ["s3", "s0"]
    assert sorted(a.held) == ["s0", "s3"]
    for free in ("s4", "s5"):
        assert await values.get(free) is None


async def test_processes_asking_for_a_lease_count_as_live(clock: VirtualClock) -> None:
    """Eight shards; b owns two, c and d each ask b for one: four live processes, a share of
    two."""
    values, a = table_of(clock)
    await write_table(
        values, s0=lease_record("b", wanted_by="c"), s1=lease_record("b", wanted_by="d")
    )
    result = await a.round(shard_list(8))
    assert ids(result.taken) == ["s2", "s3"]


async def test_askers_of_held_leases_count_as_live_and_are_granted_in_turn(
    clock: VirtualClock,
) -> None:
    """a holds three of six shards, b and c ask for one each: three live processes, a share of
    two. b's request leaves a with two (b: one), c's with one (c: one); a then takes a free
    shard to come back to its share."""
    values, a = table_of(clock)
    await write_table(
        values,
        s0=lease_record("a", wanted_by="b"),
        s1=lease_record("a", wanted_by="c"),
        s2=lease_record("a"),
    )
    result = await a.round(shard_list(6))
    assert ids(result.taken) == ["s0", "s1", "s2", "s3"]
    assert [(lease.shard_id, lease.wanted_by) for lease in result.to_release] == [
        ("s0", "b"),
        ("s1", "c"),
    ]
    assert all(lease.releasing for lease in result.to_release)
    assert (await fields_of(values, "s0"))["wanted_by"] == "b"
    assert await values.get("s4") is None


async def test_an_expired_lease_does_not_count_its_owner_as_live(clock: VirtualClock) -> None:
    """d's record stands still for a whole lease duration while b and c renew: d is no longer
    counted, so a's share stays at two of six (a, b, c) and it takes nothing more."""
    values, a = table_of(clock)
    await write_table(values, s0=lease_record("d"), s1=lease_record("b"), s2=lease_record("c"))
    first = await a.round(shard_list(6))  # a, b, c, d live: a share of two
    assert ids(first.taken) == ["s3", "s4"]
    await clock.advance(LEASE - 1)
    await write_table(values, s1=lease_record("b"), s2=lease_record("c"))  # they renew
    await clock.advance(1)
    second = await a.round(shard_list(6))
    assert second.error is None
    assert second.taken == []
    assert sorted(a.held) == ["s3", "s4"]


async def test_a_record_naming_this_process_is_adopted_as_it_stands(clock: VirtualClock) -> None:
    """A take that was written but whose answer was lost: the next round holds the lease with
    the record's counter and checkpoint (a record without a counter counts as 0)."""
    values, a = table_of(clock)
    await write_table(
        values, s0=lease_record("a", counter=4, lanes=[7, 2]), s1=b'{"owner": "a", "lanes": [3]}'
    )
    result = await a.round(["s0", "s1"])
    assert [(lease.shard_id, lease.counter, lease.lanes) for lease in result.taken] == [
        ("s0", 4, [7, 2]),
        ("s1", 0, [3]),
    ]
    assert await fields_of(values, "s0") == {
        "lanes": [7, 2], "owner": "a", "counter": 4, "wanted_by": None,
    }  # fmt: skip
    assert (await fields_of(values, "s1"))["counter"] == 0


async def test_an_adopted_record_taken_meanwhile_is_not_overwritten(clock: VirtualClock) -> None:
    values, a = table_of(clock)
    await write_table(values, s0=lease_record("a", counter=4))
    values.before_put["s0"] = [lease_record("c", counter=5)]  # c takes it before a renews
    result = await a.round(["s0"])
    assert ids(result.lost) == ["s0"]
    assert a.held == {}
    assert (await fields_of(values, "s0"))["owner"] == "c"


@pytest.mark.parametrize(
    "value", [b"not json", b"[1, 2]", b'{"lanes": ["x"], "counter": "7"}', b'{"lanes": []}',
              b'{"lanes": [1, "x"]}']
)  # fmt: skip
async def test_a_record_that_is_not_a_lease_is_taken_afresh(
    clock: VirtualClock, value: bytes
) -> None:
    values, a = table_of(clock)
    await write_table(values, s0=value)
    (taken,) = (await a.round(["s0"])).taken
    assert (taken.counter, taken.lanes) == (1, None)
    assert await fields_of(values, "s0") == {
        "lanes": None, "owner": "a", "counter": 1, "wanted_by": None,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("asker_holds", "granted"),
    [(0, ["s0", "s1"]), (1, ["s0"])],
)
async def test_each_request_is_granted_only_if_it_leaves_the_two_better_balanced(
    clock: VirtualClock, asker_holds: int, granted: list[str]
) -> None:
    """a holds four shards and b asks for three of them. Holding none, b gets two (4/0 -> 3/1
    -> 2/2, a third would give 1/3); holding one already, b gets one (4/1 -> 3/2)."""
    values, a = table_of(clock)
    await write_table(
        values,
        **{f"s{index}": lease_record("a", wanted_by="b") for index in range(3)},
        s3=lease_record("a"),
    )
    if asker_holds:
        await write_table(values, s4=lease_record("b"))
    result = await a.round(shard_list(4 + asker_holds))
    assert result.error is None
    assert ids(result.to_release) == granted
    for index in range(3):
        wanted_by = (await fields_of(values, f"s{index}"))["wanted_by"]
        assert wanted_by == ("b" if f"s{index}" in granted else None)  # a refusal clears it


async def test_a_granted_lease_waits_for_its_release_and_later_requests_are_answered(
    clock: VirtualClock,
) -> None:
    values, a = table_of(clock)
    await write_table(
        values,
        s0=lease_record("a", wanted_by="b"),
        **{f"s{index}": lease_record("a") for index in range(1, 4)},
    )
    assert ids((await a.round(shard_list(4))).to_release) == ["s0"]
    await write_table(values, s1=lease_record("a", wanted_by="c"))
    await clock.advance(LEASE / 3)
    second = await a.round(shard_list(4))  # s0 is still being finished; c's request counts
    assert [(lease.shard_id, lease.wanted_by) for lease in second.to_release] == [("s1", "c")]
    assert (await fields_of(values, "s0"))["wanted_by"] == "b"


async def test_a_request_kept_by_a_checkpoint_write_is_granted_at_the_next_round(
    clock: VirtualClock,
) -> None:
    values, a = table_of(clock)
    await write_table(values, s0=lease_record("a"), s1=lease_record("a"))
    lease = (await a.round(["s0", "s1"])).taken[0]
    await write_table(values, s0=lease_record("a", wanted_by="b"))  # b asks
    assert await a.write(lease, [3])
    assert await fields_of(values, "s0") == {
        "lanes": [3], "owner": "a", "counter": 1, "wanted_by": "b",
    }  # fmt: skip
    (granted,) = (await a.round(["s0", "s1"])).to_release
    assert (granted, granted.wanted_by) == (lease, "b")
    assert (await fields_of(values, "s0"))["wanted_by"] == "b"


async def test_a_release_keeps_the_reservation_and_ends_the_lease(clock: VirtualClock) -> None:
    """Granted to b, the lease is released for b with its last checkpoint, even though c asked
    for it meanwhile; then it is no longer held and nothing more is written to it."""
    values, a = table_of(clock)
    await write_table(values, s0=lease_record("a", wanted_by="b"), s1=lease_record("a"))
    (lease,) = (await a.round(["s0", "s1"])).to_release
    await write_table(values, s0=lease_record("a", wanted_by="c"))
    assert await a.release(lease, [8])
    released = {"lanes": [8], "owner": None, "counter": 1, "wanted_by": "b"}
    assert await fields_of(values, "s0") == released
    assert lease.lost
    assert list(a.held) == ["s1"]
    assert not await a.write(lease, [9])
    assert await fields_of(values, "s0") == released


async def test_a_write_never_overwrites_a_record_changed_after_it_read_it(
    clock: VirtualClock,
) -> None:
    """The first try meets a request (kept, then tried again); the second meets a take by c:
    the lease is lost and c's record stands."""
    values, a = table_of(clock)
    (lease,) = (await a.round(["s0"])).taken
    values.before_put["s0"] = [lease_record("a", wanted_by="b"), lease_record("c", counter=2)]
    assert not await a.write(lease, [5])
    assert lease.lost and a.held == {}
    assert await fields_of(values, "s0") == {
        "lanes": None, "owner": "c", "counter": 2, "wanted_by": None,
    }  # fmt: skip


async def test_a_lease_taken_by_another_right_after_the_take_is_lost(clock: VirtualClock) -> None:
    values, a = table_of(clock)
    (lease,) = (await a.round(["s0"])).taken
    await write_table(values, s0=lease_record("c", counter=2))
    assert not await a.write(lease, [5])
    assert (await fields_of(values, "s0"))["owner"] == "c"


async def test_a_record_deleted_and_taken_afresh_by_another_is_not_ours(
    clock: VirtualClock,
) -> None:
    """The counter starts again at 1 on a new record: the owner decides, not the counter."""
    values, a = table_of(clock)
    (lease,) = (await a.round(["s0"])).taken
    assert await values.delete("s0")
    await write_table(values, s0=lease_record("c", counter=1))
    result = await a.round(["s0"])
    assert result.lost == [lease]
    assert (await fields_of(values, "s0"))["owner"] == "c"


@pytest.mark.parametrize("before", [None, lease_record(None, counter=3)])
async def test_a_take_loses_to_a_process_that_was_quicker(
    clock: VirtualClock, before: bytes | None
) -> None:
    """Absent or released when read, the record is taken by c before a writes: a's take fails
    and c's record stands."""
    values, a = table_of(clock)
    if before is not None:
        await write_table(values, s0=before)
    values.before_put["s0"] = [lease_record("c", counter=9)]
    result = await a.round(["s0"])
    assert result.taken == [] and a.held == {}
    assert (await fields_of(values, "s0"))["owner"] == "c"


async def test_a_lease_of_a_shard_no_longer_listed_is_lost(clock: VirtualClock) -> None:
    _values, a = table_of(clock)
    first, second = (await a.round(["s0", "s1"])).taken
    result = await a.round(["s0"])
    assert result.error is None
    assert result.lost == [second]
    assert second.lost and not first.lost
    assert list(a.held) == ["s0"]


async def test_a_lease_lost_in_its_renewal_is_listed_once(clock: VirtualClock) -> None:
    values, a = table_of(clock)
    (lease,) = (await a.round(["s0"])).taken
    values.before_put["s0"] = [lease_record("c", counter=2)]  # c takes it before a renews
    result = await a.round(["s0"])
    assert result.error is None
    assert result.lost == [lease]
    assert lease.lost and a.held == {}


async def test_a_store_error_is_reported_with_the_round(clock: VirtualClock) -> None:
    values = FailingValues(memory_backend(clock).values)
    values.down = True
    a = ShardLeases(values, clock, str, owner="a", duration=LEASE)
    result = await a.round(["s0"])
    assert isinstance(result.error, ConnectionError)


async def test_a_lease_released_for_this_process_is_taken_before_free_ones(
    clock: VirtualClock,
) -> None:
    """Four live processes (a, b, c and d asking b) on four shards: a's share is one, and the
    lease b released for it comes first, before the free s0."""
    values, a = table_of(clock)
    await write_table(
        values,
        s1=lease_record(None, counter=2, wanted_by="a"),
        s2=lease_record("b", wanted_by="d"),
        s3=lease_record("c"),
    )
    result = await a.round(shard_list(4))
    assert ids(result.taken) == ["s1"]
    assert await values.get("s0") is None


async def test_a_lease_released_for_this_process_is_taken_beyond_its_share(
    clock: VirtualClock,
) -> None:
    values, a = table_of(clock)
    await write_table(
        values,
        s0=lease_record("a"),
        s1=lease_record(None, counter=2, wanted_by="a"),
        s2=lease_record("b", wanted_by="d"),
        s3=lease_record("c"),
    )
    result = await a.round(shard_list(4))
    assert ids(result.taken) == ["s0", "s1"]
    assert (await fields_of(values, "s1"))["counter"] == 3


async def busiest_b_asked(clock: VirtualClock) -> tuple[HookedValues, ShardLeases]:
    """b owns s0 to s3, z owns s4: a (holding none) asks the busiest, b, for its first shard."""
    values, a = table_of(clock)
    await write_table(
        values, **{f"s{index}": lease_record("b") for index in range(4)}, s4=lease_record("z")
    )
    result = await a.round(shard_list(5))
    assert result.error is None
    assert (await fields_of(values, "s0"))["wanted_by"] == "a"
    return values, a


async def test_a_process_has_one_request_at_a_time(clock: VirtualClock) -> None:
    values, a = await busiest_b_asked(clock)
    await clock.advance(LEASE / 3)
    result = await a.round(shard_list(5))  # b has not answered yet
    assert result.error is None
    for index in range(1, 5):
        assert (await fields_of(values, f"s{index}"))["wanted_by"] is None


async def test_a_refused_request_is_made_again(clock: VirtualClock) -> None:
    values, a = await busiest_b_asked(clock)
    await write_table(values, s0=lease_record("b"))  # b refuses: its renewal clears it
    await clock.advance(LEASE / 3)
    await a.round(shard_list(5))
    assert (await fields_of(values, "s0"))["wanted_by"] == "a"


async def test_a_request_is_not_written_over_a_record_that_changed(clock: VirtualClock) -> None:
    values, a = table_of(clock)
    await write_table(values, **{f"s{index}": lease_record("b") for index in range(4)})
    values.before_put["s0"] = [lease_record("b", lanes=[9])]  # b writes a checkpoint meanwhile
    await a.round(shard_list(4))
    assert await fields_of(values, "s0") == {
        "lanes": [9], "owner": "b", "counter": 1, "wanted_by": None,
    }  # fmt: skip


async def test_taking_a_free_lease_keeps_the_request_standing(clock: VirtualClock) -> None:
    """a asked b for s0; then c releases s5 and a takes it. b still has not answered s0, so
    a asks for nothing else."""
    values, a = table_of(clock)
    await write_table(
        values, **{f"s{index}": lease_record("b") for index in range(5)}, s5=lease_record("c")
    )
    await a.round(shard_list(6))
    assert (await fields_of(values, "s0"))["wanted_by"] == "a"
    await write_table(values, s5=lease_record(None))
    await clock.advance(1)
    assert ids((await a.round(shard_list(6))).taken) == ["s5"]
    await clock.advance(1)
    await a.round(shard_list(6))
    assert (await fields_of(values, "s1"))["wanted_by"] is None


@pytest.mark.parametrize(("elapsed", "asks"), [(3.5, True), (4.0, False)])
async def test_only_an_owner_seen_renewing_lately_is_asked(
    clock: VirtualClock, elapsed: float, asks: bool
) -> None:
    """b's records stand still after a first sees them: within two renew intervals (4 s) b
    counts as renewing and is asked; from then on it is not (a request would delay the expiry
    of a dead owner's leases). a takes the free s4 at once, and asks nothing in that round."""
    values, a = table_of(clock)
    await write_table(values, **{f"s{index}": lease_record("b") for index in range(4)})
    assert ids((await a.round(shard_list(5))).taken) == ["s4"]
    assert (await fields_of(values, "s0"))["wanted_by"] is None
    await clock.advance(elapsed)
    await a.round(shard_list(5))
    assert (await fields_of(values, "s0"))["wanted_by"] == ("a" if asks else None)


async def test_a_process_at_its_share_asks_for_nothing(clock: VirtualClock) -> None:
    """Six shards, a, b and c live: a holds its share of two while b holds four."""
    values, a = table_of(clock)
    await write_table(
        values,
        s0=lease_record("a"),
        s1=lease_record("a"),
        s2=lease_record("b", wanted_by="c"),
        **{f"s{index}": lease_record("b") for index in range(3, 6)},
    )
    await a.round(shard_list(6))
    for index in range(3, 6):
        assert (await fields_of(values, f"s{index}"))["wanted_by"] is None


async def test_an_owner_with_only_one_more_is_not_asked(clock: VirtualClock) -> None:
    values, a = table_of(clock)
    await write_table(values, s0=lease_record("b"), s1=lease_record("b"), s2=lease_record("a"))
    await a.round(shard_list(3))  # a's share is two, but 1/2 would only become 2/1
    assert (await fields_of(values, "s0"))["wanted_by"] is None
    assert (await fields_of(values, "s1"))["wanted_by"] is None


async def test_a_requested_lease_of_a_dead_owner_expires_a_duration_after_the_request(
    clock: VirtualClock,
) -> None:
    """b is dead: a's own request changed s0's record, and a counts its lease duration from
    that request, so all four expire together and a, the only live process, takes them all."""
    values, a = table_of(clock)
    await write_table(values, **{f"s{index}": lease_record("b") for index in range(4)})
    await a.round(shard_list(4))
    assert (await fields_of(values, "s0"))["wanted_by"] == "a"
    for _ in range(2):
        await clock.advance(LEASE / 3)
        assert (await a.round(shard_list(4))).taken == []
    await clock.advance(LEASE / 3)
    result = await a.round(shard_list(4))
    assert ids(result.taken) == shard_list(4)
    assert [lease.counter for lease in result.taken] == [2, 2, 2, 2]
