"""Shard leases: which process reads which shard of a stream, when several share a backend.

Kinesis consumers split a stream's shards with leases (the Kinesis Client Library's model,
reference ``distributed-backends.md`` §7); eventmesh does the same over the key-value store,
so it behaves alike on every shared backend. One record per (mapping, shard), at the key the
shard's checkpoint always had, holds::

    {"lanes": [...], "owner": "host:pid:nonce" | null, "counter": n, "wanted_by": "..." | null}

* **Owner and fencing.** Every write is a compare-and-set on the record's version, so only
  the current owner moves the checkpoint: an owner whose write fails has lost the lease and
  stops the shard without writing again. ``counter`` grows at each change of owner.
* **Expiry without shared clocks.** An owner rewrites its records every third of the lease
  duration. Another process sees a record as expired when its version has not changed for a
  whole lease duration *by its own clock* (as the KCL does), so clocks of different machines
  never need to agree. An owner stops starting batches on a shard once a lease duration has
  passed since its last successful write, so a paused owner that wakes up late does not go
  on after another process has taken over.
* **Balance.** Each round a process counts the owners it sees (itself included), aims at
  ``ceil(shards / owners)`` leases, takes free or expired leases first, and else asks the
  busiest owner for one lease (``wanted_by``) if that owner holds more than its share, or
  exactly its share while this process lacks more than one. The owner finishes the batch it is
  delivering, writes its checkpoint and releases the lease, so a shard changes hands between
  two batches and keeps its order. A lease whose owner died is taken after it expires and
  resumes after its last checkpoint: the batch that was running is delivered again (at least
  once, as Kinesis consumers do).
* A process that stops releases its leases with its last checkpoint, so others (or its own
  restart) take them at once instead of waiting for them to expire.
"""

from __future__ import annotations

import math
import os
import socket
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from eventmesh._clock import Clock
    from eventmesh.backends.protocols import KeyValueStore, StoredValue

__all__ = ["DEFAULT_LEASE_DURATION", "Lease", "LeaseRound", "ShardLeases", "new_owner_id"]

DEFAULT_LEASE_DURATION = 10.0
"""Seconds without a renewal before a lease counts as abandoned (the KCL's failover time)."""


def new_owner_id() -> str:
    """A process's name in lease records: host and pid for people, a nonce for uniqueness."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(slots=True)
class Lease:
    """A lease this process holds, as it last wrote it."""

    shard_id: str
    key: str
    version: int
    counter: int
    lanes: list[int] | None
    valid_until: float
    """Local clock time after which the holder must not start another batch."""
    wanted_by: str | None = None
    lost: bool = False


@dataclass(slots=True)
class LeaseRound:
    """What one round of the lease table gave: shards newly taken, shards to hand over."""

    taken: list[Lease]
    to_release: list[Lease]
    lost: list[Lease]


@dataclass(slots=True)
class _Seen:
    version: int
    since: float


def _decode(stored: StoredValue) -> dict[str, Any]:
    try:
        record = orjson.loads(stored.value)
    except orjson.JSONDecodeError:
        record = None
    return record if isinstance(record, dict) else {}


def _lanes(record: dict[str, Any]) -> list[int] | None:
    lanes = record.get("lanes")
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

    def _record(self, lease: Lease, *, owner: str | None) -> bytes:
        return orjson.dumps(
            {
                "lanes": lease.lanes,
                "owner": owner,
                "counter": lease.counter,
                "wanted_by": None if owner is None else lease.wanted_by,
            }
        )

    # -- one round ---------------------------------------------------------------------------
    async def round(self, shard_ids: Iterable[str]) -> LeaseRound:
        """Renew what is held, notice what was lost or is wanted, and take a fair share."""
        shards = list(shard_ids)
        result = LeaseRound([], [], [])
        now = self._clock.now()
        records: dict[str, tuple[StoredValue | None, dict[str, Any]]] = {}
        for shard_id in shards:
            stored = await self._values.get(self._key_of(shard_id))
            records[shard_id] = (stored, _decode(stored) if stored is not None else {})
        for shard_id, lease in list(self.held.items()):
            stored, record = records.get(shard_id, (None, {}))
            if not await self._renew_from(lease, stored, record):
                result.lost.append(self.held.pop(shard_id))
            elif lease.wanted_by is not None:
                result.to_release.append(lease)
        owners: dict[str, list[str]] = {}
        available: list[tuple[str, StoredValue | None, dict[str, Any]]] = []
        for shard_id in shards:
            if shard_id in self.held:
                continue
            stored, record = records[shard_id]
            owner = record.get("owner")
            if stored is None or not owner or self._expired(shard_id, stored, now):
                available.append((shard_id, stored, record))
            else:
                owners.setdefault(str(owner), []).append(shard_id)
        for seen in set(self._seen) - set(shards):
            del self._seen[seen]
        target = math.ceil(len(shards) / (len(owners.keys() - {self.owner}) + 1)) if shards else 0
        mine = len(self.held) - len(result.to_release)
        for shard_id, stored, record in available:
            if mine >= target:
                break
            taken = await self._take(shard_id, stored, record)
            if taken is not None:
                result.taken.append(taken)
                mine += 1
        if mine < target and owners and not result.taken:
            await self._ask_busiest(owners, records, target)
        return result

    def _expired(self, shard_id: str, stored: StoredValue, now: float) -> bool:
        """Whether the record's version has stood still for a whole lease duration."""
        seen = self._seen.get(shard_id)
        if seen is None or seen.version != stored.version:
            self._seen[shard_id] = _Seen(stored.version, now)
            return False
        return now - seen.since >= self.duration

    async def _take(
        self, shard_id: str, stored: StoredValue | None, record: dict[str, Any]
    ) -> Lease | None:
        counter = record.get("counter")
        lease = Lease(
            shard_id,
            self._key_of(shard_id),
            0,
            (counter if isinstance(counter, int) else 0) + 1,
            _lanes(record),
            0.0,
        )
        version = await self._values.put(
            lease.key,
            self._record(lease, owner=self.owner),
            only_if_absent=stored is None,
            only_if_version=None if stored is None else stored.version,
        )
        if version is None:
            return None  # another process was quicker
        lease.version = version
        lease.valid_until = self._clock.now() + self.duration
        self.held[shard_id] = lease
        self._seen.pop(shard_id, None)
        if self._wanting == shard_id:
            self._wanting = None
        return lease

    async def _ask_busiest(
        self,
        owners: dict[str, list[str]],
        records: dict[str, tuple[StoredValue | None, dict[str, Any]]],
        target: int,
    ) -> None:
        """Ask the owner with the most leases (if it has more than its share) for one."""
        if self._wanting is not None:
            stored, record = records.get(self._wanting, (None, {}))
            if stored is not None and record.get("wanted_by") == self.owner:
                return  # the owner has not answered yet: one request at a time
            self._wanting = None
        shards = max(owners.values(), key=len)
        needed = target - len(self.held)
        # As the KCL does: take from an owner above its share, or from one at its share when
        # more than one is missing here (4 shards, 3 processes: 2/2/0 becomes 2/1/1).
        if not (len(shards) > target or (len(shards) == target and needed > 1)):
            return
        if len(shards) - 1 < len(self.held) + 1:
            return  # no better balanced after the move
        for shard_id in sorted(shards):
            stored, record = records[shard_id]
            if stored is None or record.get("wanted_by"):
                continue
            asked = orjson.dumps({**record, "wanted_by": self.owner})
            version = await self._values.put(
                self._key_of(shard_id), asked, only_if_version=stored.version
            )
            if version is not None:
                self._wanting = shard_id
                self._seen[shard_id] = _Seen(version, self._clock.now())
            return

    # -- the holder's writes -----------------------------------------------------------------
    async def _renew_from(
        self, lease: Lease, stored: StoredValue | None, record: dict[str, Any]
    ) -> bool:
        """Bring the lease up to date with the record just read, and renew it."""
        if not self._still_mine(lease, stored, record):
            lease.lost = True
            return False
        assert stored is not None
        lease.version = stored.version
        wanted = record.get("wanted_by")
        lease.wanted_by = str(wanted) if wanted else None
        return await self.write(lease)

    def _still_mine(self, lease: Lease, stored: StoredValue | None, record: dict[str, Any]) -> bool:
        return (
            stored is not None
            and record.get("owner") == self.owner
            and record.get("counter") == lease.counter
        )

    async def write(self, lease: Lease, lanes: list[int] | None = None) -> bool:
        """Renew the lease, with a new checkpoint when given; False when it was lost (then the
        holder must stop the shard and write nothing more)."""
        if lease.lost:
            return False
        if lanes is not None:
            lease.lanes = lanes
        for _ in range(3):
            version = await self._values.put(
                lease.key, self._record(lease, owner=self.owner), only_if_version=lease.version
            )
            if version is not None:
                lease.version = version
                lease.valid_until = self._clock.now() + self.duration
                return True
            # Changed under us: another process asked for it, or took it.
            stored = await self._values.get(lease.key)
            record = _decode(stored) if stored is not None else {}
            if not self._still_mine(lease, stored, record):
                break
            assert stored is not None
            lease.version = stored.version
            wanted = record.get("wanted_by")
            lease.wanted_by = str(wanted) if wanted else None
        lease.lost = True
        self.held.pop(lease.shard_id, None)
        return False

    async def release(self, lease: Lease, lanes: list[int] | None = None) -> bool:
        """Give the lease up with its last checkpoint, for anyone to take at once."""
        self.held.pop(lease.shard_id, None)
        if lease.lost:
            return False
        if lanes is not None:
            lease.lanes = lanes
        for _ in range(3):
            version = await self._values.put(
                lease.key, self._record(lease, owner=None), only_if_version=lease.version
            )
            if version is not None:
                lease.lost = True  # no longer ours to write
                return True
            stored = await self._values.get(lease.key)
            record = _decode(stored) if stored is not None else {}
            if not self._still_mine(lease, stored, record):
                break
            assert stored is not None
            lease.version = stored.version
        lease.lost = True
        return False
