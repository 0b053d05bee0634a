"""Shard leases: which process reads which shard of a stream, when several share a backend.

Kinesis consumers split a stream's shards with leases (the Kinesis Client Library's model,
reference ``distributed-backends.md`` §7); eventmesh does the same over the key-value store,
so it behaves alike on every shared backend. One record per (mapping, shard), at the key the
shard's checkpoint always had, holds::

    {"lanes": [...], "owner": "host:pid:nonce" | null, "counter": n, "wanted_by": "..." | null}

* **Owner and fencing.** Every write is a compare-and-set on the record's version, so only
  the current owner moves the checkpoint: an owner whose write fails has lost the lease and
  stops the shard without writing again. ``counter`` grows at each change of owner. A
  process's own writes to one lease go one at a time, so they never race each other.
* **Expiry without shared clocks.** An owner rewrites its records every third of the lease
  duration. Another process sees a record as expired when its version has not changed for a
  whole lease duration *by its own clock* (as the KCL does), so clocks of different machines
  never need to agree. An owner starts no batch on a shard once a lease duration has passed
  since it sent its last successful write, by its monotonic clock or by the wall clock (which,
  unlike the monotonic one, also moves while a machine is suspended).
* **Balance.** Each round a process counts the live processes it can see (owners of live
  leases and processes asking for one, itself included) and aims at ``ceil(shards /
  processes)`` leases. It takes a lease released for it first, then free or expired ones up
  to that share, and otherwise asks the busiest owner for one (``wanted_by``), only if the
  move leaves the two better balanced (the owner holds at least two more) and only an owner
  seen renewing lately (asking changes the record, which would delay a dead owner's expiry).
  The owner grants a request only under the same condition, else clears it; it finishes the
  batch it is delivering, writes its checkpoint and releases the lease *reserved* for the
  asker, which takes it at its next round (anyone may take it if the asker does not within a
  lease duration). A shard thus changes hands between two batches and keeps its order, and a
  release cannot be snatched back, so the split settles instead of churning.
* A lease whose owner died is taken after it expires and resumes after its last checkpoint:
  the batch that was running is delivered again (at least once, as Kinesis consumers do). A
  batch still running in an owner cut off from the store (or paused) when its lease expires
  may overlap the new owner's first batch: leases bound when a batch may *start*, not how
  long it runs.
* A process that stops releases its leases with their last checkpoints, so others (or its own
  restart) take them at once instead of waiting for them to expire.
"""

from __future__ import annotations

import asyncio
import math
import os
import socket
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from eventmesh.backends.protocols import puts_now

if TYPE_CHECKING:
    from eventmesh._clock import Clock
    from eventmesh.backends.protocols import KeyValueStore, StoredValue

__all__ = [
    "DEFAULT_LEASE_DURATION",
    "Lease",
    "LeaseRound",
    "ShardLeases",
    "WriteTurn",
    "new_owner_id",
]

DEFAULT_LEASE_DURATION = 10.0
"""Seconds without a renewal before a lease counts as abandoned (the KCL's failover time)."""
_WRITE_TRIES = 10
"""Compare-and-set tries of one write when other processes keep asking for the lease."""


def new_owner_id() -> str:
    """A process's name in lease records: host and pid for people, a nonce for uniqueness."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class WriteTurn:
    """The writes of one lease take turns, in the order they come (a later checkpoint is
    never overwritten by an earlier one). Unlike :class:`asyncio.Lock`, a free turn is taken
    without a coroutine: on an in-memory store every write finds its turn free, once per
    batch delivered."""

    __slots__ = ("_held", "_waiters")

    def __init__(self) -> None:
        self._held = False
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def held(self) -> bool:
        return self._held

    def take_free(self) -> bool:
        """Take the turn if it is free (True), without waiting."""
        if self._held:
            return False
        self._held = True
        return True

    async def take(self) -> None:
        """Wait for the turn (at once when it is free); :meth:`give` it back after."""
        if not self._held:
            self._held = True
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.give()  # handed the turn as it was cancelled: pass it on
            else:
                self._waiters.remove(future)
            raise

    def give(self) -> None:
        """End a turn: hand it to the oldest waiter, or leave it free."""
        while self._waiters:
            future = self._waiters.popleft()
            if not future.done():
                future.set_result(None)  # the turn passes to it, still held
                return
        self._held = False


@dataclass(slots=True)
class Lease:
    """A lease this process holds, as it last wrote it."""

    shard_id: str
    key: str
    version: int
    counter: int
    lanes: list[int] | None
    valid_until: float = 0.0
    """Monotonic clock time after which the holder must not start another batch."""
    valid_until_wall: float = 0.0
    """The same on the wall clock (which moves while a machine is suspended)."""
    wanted_by: str | None = None
    """Who asked for it: granted, it is released reserved for them."""
    releasing: bool = False
    """Granted to ``wanted_by``: the holder finishes its batch, then releases it."""
    lost: bool = False
    turn: WriteTurn = field(default_factory=WriteTurn, repr=False)
    """The holder's writes to this lease, one at a time."""

    def current(self, clock: Clock) -> bool:
        """Whether a batch may start now."""
        return (
            not self.lost
            and clock.now() <= self.valid_until
            and clock.time() <= self.valid_until_wall
        )


@dataclass(slots=True)
class LeaseRound:
    """What one round of the lease table gave; ``error`` is what stopped it early."""

    taken: list[Lease] = field(default_factory=list)
    lost: list[Lease] = field(default_factory=list)
    to_release: list[Lease] = field(default_factory=list)
    error: Exception | None = None


@dataclass(slots=True)
class _Seen:
    version: int
    since: float


@dataclass(slots=True)
class _Record:
    stored: StoredValue | None
    fields: dict[str, Any]

    @property
    def owner(self) -> str | None:
        owner = self.fields.get("owner")
        return str(owner) if owner else None

    @property
    def asker(self) -> str | None:
        asker = self.fields.get("wanted_by")
        return str(asker) if asker else None


def _decode(stored: StoredValue | None) -> _Record:
    fields: Any = None
    if stored is not None:
        try:
            fields = orjson.loads(stored.value)
        except orjson.JSONDecodeError:
            fields = None
    return _Record(stored, fields if isinstance(fields, dict) else {})


def _lanes(fields: dict[str, Any]) -> list[int] | None:
    lanes = fields.get("lanes")
    if isinstance(lanes, list) and lanes and all(isinstance(lane, int) for lane in lanes):
        return lanes
    return None


class ShardLeases:
    """The lease table of one mapping, seen from one process."""

    def __init__(
        self,
        values: KeyValueStore,
        clock: Clock,
        key_of: Callable[[str], str],
        *,
        owner: str | None = None,
        duration: float = DEFAULT_LEASE_DURATION,
    ) -> None:
        self._values = values
        self._put_now = values.put_now if puts_now(values) else None
        self._clock = clock
        self._key_of = key_of
        self.owner = owner or new_owner_id()
        self.duration = duration
        self.held: dict[str, Lease] = {}
        self._seen: dict[str, _Seen] = {}
        self._wanting: str | None = None

    @property
    def renew_interval(self) -> float:
        return self.duration / 3

    # -- one round ---------------------------------------------------------------------------
    async def round(self, shard_ids: Iterable[str]) -> LeaseRound:
        """Renew what is held, answer requests, and take or ask for a fair share. A store
        error ends the round early; what it did until then is in the result all the same."""
        result = LeaseRound()
        try:
            await self._round(list(shard_ids), result)
        except Exception as exc:
            result.error = exc
        return result

    async def _round(self, shards: list[str], result: LeaseRound) -> None:
        now = self._clock.now()
        records = {shard: _decode(await self._values.get(self._key_of(shard))) for shard in shards}
        for shard in set(self._seen) - set(shards):
            del self._seen[shard]
        for shard, lease in list(self.held.items()):
            record = records.get(shard)
            if record is None or not self._still_mine(lease, record):
                self._lose(lease, result)
        for shard, record in records.items():  # a take that was written but not answered
            if record.owner == self.owner and shard not in self.held and record.stored:
                lease = Lease(
                    shard, self._key_of(shard), record.stored.version,
                    int(record.fields.get("counter") or 0), _lanes(record.fields),
                )  # fmt: skip
                self.held[shard] = lease
                result.taken.append(lease)

        live = {self.owner}
        counts: dict[str, int] = {}
        alive: set[str] = set()  # shards whose record changed lately: their owner is renewing
        for shard, record in records.items():
            if shard in self.held:
                if record.asker:
                    live.add(record.asker)
                continue
            if record.stored is None:
                continue
            expired = self._expired(shard, record.stored, now)
            seen = self._seen[shard]
            if now - seen.since < 2 * self.renew_interval:
                alive.add(shard)
            if expired:
                continue
            if record.owner:
                counts[record.owner] = counts.get(record.owner, 0) + 1
                live.add(record.owner)
            if record.asker:
                live.add(record.asker)
        target = math.ceil(len(shards) / len(live)) if shards else 0

        mine = sum(1 for lease in self.held.values() if not lease.releasing)
        for shard, lease in sorted(self.held.items()):
            if lease.releasing:
                continue  # granted at an earlier round: its holder is finishing a batch
            asker = records[shard].asker
            if asker and asker != self.owner and counts.get(asker, 0) + 1 <= mine - 1:
                lease.wanted_by = asker
                lease.releasing = True
                result.to_release.append(lease)
                counts[asker] = counts.get(asker, 0) + 1
                mine -= 1
            else:
                lease.wanted_by = None  # not granted: the renewal clears the request
        for lease in list(self.held.values()):
            if not await self.write(lease):
                self._lose(lease, result)

        taken_any = False
        for shard, record in sorted(records.items(), key=lambda item: item[1].asker != self.owner):
            if shard in self.held:
                continue
            reserved_for_me = record.owner is None and record.asker == self.owner
            if not reserved_for_me and (mine >= target or not self._available(shard, record, now)):
                continue
            taken = await self._take(shard, record)
            if taken is not None:
                result.taken.append(taken)
                mine += 1
                taken_any = True
        if mine < target and not taken_any:
            await self._ask_busiest(records, counts, alive, mine)

    def _lose(self, lease: Lease, result: LeaseRound) -> None:
        lease.lost = True
        if self.held.get(lease.shard_id) is lease:
            del self.held[lease.shard_id]
        if lease not in result.lost:
            result.lost.append(lease)

    def _expired(self, shard_id: str, stored: StoredValue, now: float) -> bool:
        """Whether the record's version has stood still for a whole lease duration."""
        seen = self._seen.get(shard_id)
        if seen is None or seen.version != stored.version:
            self._seen[shard_id] = _Seen(stored.version, now)
            return False
        return now - seen.since >= self.duration

    def _available(self, shard_id: str, record: _Record, now: float) -> bool:
        """Free to take: never written, released (and not reserved for someone else who is
        still coming for it), or expired."""
        if record.stored is None:
            return True
        expired = self._expired(shard_id, record.stored, now)
        if record.owner is None:
            return record.asker in (None, self.owner) or expired
        return expired

    async def _take(self, shard_id: str, record: _Record) -> Lease | None:
        counter = record.fields.get("counter")
        lease = Lease(
            shard_id,
            self._key_of(shard_id),
            0,
            (counter if isinstance(counter, int) else 0) + 1,
            _lanes(record.fields),
        )
        started, started_wall = self._clock.now(), self._clock.time()
        version = await self._values.put(
            lease.key,
            self._encode(lease, owner=self.owner),
            only_if_absent=record.stored is None,
            only_if_version=None if record.stored is None else record.stored.version,
        )
        if version is None:
            return None  # another process was quicker
        self._renewed(lease, version, started, started_wall)
        self.held[shard_id] = lease
        self._seen.pop(shard_id, None)
        if self._wanting == shard_id:
            self._wanting = None
        return lease

    async def _ask_busiest(
        self, records: dict[str, _Record], counts: dict[str, int], alive: set[str], mine: int
    ) -> None:
        """Ask the owner with the most leases for one, if it holds at least two more than
        this process; one request at a time."""
        if self._wanting is not None:
            record = records.get(self._wanting)
            if record is not None and record.asker == self.owner and record.owner is not None:
                return  # the owner has not answered yet
            self._wanting = None
        if not counts:
            return
        busiest = max(counts, key=lambda owner: (counts[owner], owner))
        if counts[busiest] < mine + 2:
            return
        for shard in sorted(records):
            record = records[shard]
            if record.owner != busiest or record.asker or shard not in alive:
                continue
            assert record.stored is not None
            asked = orjson.dumps({**record.fields, "wanted_by": self.owner})
            version = await self._values.put(
                self._key_of(shard), asked, only_if_version=record.stored.version
            )
            if version is not None:
                self._wanting = shard
                self._seen[shard] = _Seen(version, self._clock.now())
            return

    # -- the holder's writes -----------------------------------------------------------------
    def _encode(self, lease: Lease, *, owner: str | None) -> bytes:
        return orjson.dumps(
            {
                "lanes": lease.lanes,
                "owner": owner,
                "counter": lease.counter,
                "wanted_by": lease.wanted_by,
            }
        )

    def _still_mine(self, lease: Lease, record: _Record) -> bool:
        return (
            record.stored is not None
            and record.owner == self.owner
            and record.fields.get("counter") == lease.counter
        )

    def _renewed(self, lease: Lease, version: int, started: float, started_wall: float) -> None:
        lease.version = version
        lease.valid_until = started + self.duration
        lease.valid_until_wall = started_wall + self.duration

    async def write(self, lease: Lease, lanes: list[int] | None = None) -> bool:
        """Renew the lease, with a new checkpoint when given; False when it was lost (then the
        holder must stop the shard and write nothing more)."""
        return await self._write(lease, lanes, owner=self.owner)

    def write_now(self, lease: Lease, lanes: list[int]) -> bool | None:
        """:meth:`write`, done before it returns, when the store writes at once, no other
        write of the lease is waiting its turn, and the lease's record is as this process
        left it (as it is on a store of this process's own): True, or False when the lease
        was lost. None otherwise: await :meth:`write` instead, which writes nothing twice."""
        put_now = self._put_now
        if put_now is None or lease.turn.held:
            return None
        if lease.lost:
            return False
        lease.lanes = lanes  # (as write does first)
        clock = self._clock
        started, started_wall = clock.now(), clock.time()
        body = self._encode(lease, owner=self.owner)
        version = put_now(lease.key, body, only_if_version=lease.version)
        if version is None:
            return None  # changed under us: write's general path finds out why
        self._renewed(lease, version, started, started_wall)
        return True

    async def release(self, lease: Lease, lanes: list[int] | None = None) -> bool:
        """Give the lease up with its last checkpoint: reserved for the process that asked
        for it, if one did, else for anyone to take at once."""
        released = await self._write(lease, lanes, owner=None)
        lease.lost = True  # no longer ours to write, either way
        if self.held.get(lease.shard_id) is lease:
            del self.held[lease.shard_id]
        return released

    async def _write(self, lease: Lease, lanes: list[int] | None, *, owner: str | None) -> bool:
        turn = lease.turn
        if not turn.take_free():
            await turn.take()
        try:
            if lease.lost:
                return False
            if lanes is not None:
                lease.lanes = lanes
            for _ in range(_WRITE_TRIES):
                started, started_wall = self._clock.now(), self._clock.time()
                version = await self._values.put(
                    lease.key, self._encode(lease, owner=owner), only_if_version=lease.version
                )
                if version is not None:
                    self._renewed(lease, version, started, started_wall)
                    return True
                # Changed under us: another process asked for it, or took it.
                record = _decode(await self._values.get(lease.key))
                if not self._still_mine(lease, record):
                    break
                assert record.stored is not None
                lease.version = record.stored.version
                if owner is not None:
                    # A request made since the last round stays in the record, for the next
                    # round to grant or refuse.
                    lease.wanted_by = record.asker
            lease.lost = True
            if self.held.get(lease.shard_id) is lease:
                del self.held[lease.shard_id]
            return False
        finally:
            turn.give()
