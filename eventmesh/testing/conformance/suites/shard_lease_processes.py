"""T12 of the research notes: shard leases across real worker processes on a shared store.

Three processes (``shard_worker``) split a four-shard stream; while records flow, the one
holding the most shards is SIGKILLed and another SIGSTOPped past its lease, then woken. The
core's leases (:mod:`eventmesh.mappings.shard_leases`) must give, on any backend several
processes share: every record processed, each partition key's records first processed in the
order they were put, the dead and the paused process's shards taken over after the lease
expires, and the woken process starting no batch on a shard it lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from eventmesh.backends.protocols import KeyValueStore
from eventmesh.testing.conformance import BackendUnderTest
from eventmesh.testing.conformance.capabilities import Capabilities
from eventmesh.testing.conformance.multiprocess import Workers
from eventmesh.testing.conformance.shard_worker import LEASE, build

KEYS = [f"k{index}" for index in range(24)]
ROUNDS = 30
BATCH_SIZE = 10


def _pid(owner: object) -> int | None:
    return int(str(owner).split(":")[1]) if owner else None


async def _until(check: Callable[[], Awaitable[Any]], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := await check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)
    return result


PROBE_KEY = "conformance:pause-probe"
PROBE_WAIT = 1.0  # seconds: far above a write's time, far below the lease


async def _pause_holding_no_lock(
    process: asyncio.subprocess.Process, values: KeyValueStore
) -> float:
    """SIGSTOP ``process`` at a moment it holds none of the store's locks; the time it stopped.

    A process stopped inside a write transaction of a store with one write lock for all
    (SQLite's file lock) stops every process's writes until it runs again: no lease can move,
    and writers fail once their busy timeout passes. That is what such a store is, not a fault
    of the leases, and not the pause this test means: a worker that stops working and renewing
    its leases while the store goes on. So the test writes once itself after the stop; when
    that write does not go through within ``PROBE_WAIT`` the process is woken, the write ends,
    and the process is stopped again.
    """
    while True:
        process.send_signal(signal.SIGSTOP)
        stopped_at = time.monotonic()
        probe = asyncio.create_task(values.put(PROBE_KEY, b"%f" % stopped_at))
        done, _ = await asyncio.wait([probe], timeout=PROBE_WAIT)
        if done:
            await probe
            return stopped_at
        process.send_signal(signal.SIGCONT)
        await probe


def _ledger(path: Path) -> list[list[Any]]:
    if not path.exists():
        return []
    lines = path.read_bytes().split(b"\n")
    return [orjson.loads(line) for line in lines[:-1]]  # a last line without "\n" is cut


class ShardLeaseProcesses:
    """Part of :class:`~eventmesh.testing.conformance.suites.MultiProcessSuite`."""

    async def test_shards_move_from_a_killed_and_a_paused_worker_without_loss(
        self,
        conformance_backend: BackendUnderTest,
        capabilities: Capabilities,
        workers: Workers,
        tmp_path: Path,
    ) -> None:
        if not capabilities.multi_process or conformance_backend.url is None:
            pytest.skip("the store is not shared by processes")
        url = conformance_backend.url(tmp_path)
        ledger = tmp_path / "ledger.jsonl"
        processes = [
            await workers.spawn("eventmesh.testing.conformance.shard_worker:run", url, str(ledger))
            for _ in range(3)
        ]
        by_pid = {process.pid: process for process in processes}
        mesh, stream, mapping = build(url, None)
        async with mesh:
            values = mesh.backend.values

            async def leases() -> dict[str, dict[str, Any]]:
                found = {}
                for shard in stream.shard_ids:
                    stored = await values.get(mapping.checkpoint_key(shard))
                    found[shard] = {} if stored is None else orjson.loads(stored.value)
                return found

            async def split() -> bool:
                owners = {_pid(lease.get("owner")) for lease in (await leases()).values()}
                return owners == set(by_pid)

            await _until(split, 60, "the four shards to be split among the three workers")
            produced: list[str] = []
            held: dict[str, dict[str, Any]] = {}
            for round_ in range(ROUNDS):
                batch = [{"data": f"{key}:{round_}", "partition_key": key} for key in KEYS]
                await stream.put_records(batch)
                produced += [entry["data"] for entry in batch]
                if round_ == 8:
                    held = await leases()
                    counts: dict[int, int] = {}
                    for lease in held.values():
                        pid = _pid(lease["owner"])
                        assert pid is not None
                        counts[pid] = counts.get(pid, 0) + 1
                    killed, paused = sorted(counts, key=lambda pid: (-counts[pid], pid))[:2]
                    by_pid[killed].send_signal(signal.SIGKILL)
                    stopped_at = await _pause_holding_no_lock(by_pid[paused], values)
                await asyncio.sleep(0.1)

            async def taken_over() -> bool:
                owners = {_pid(lease.get("owner")) for lease in (await leases()).values()}
                return not owners & {killed, paused}

            try:
                await _until(taken_over, 30, "the survivors to take the leases over")
                takeover = time.monotonic() - stopped_at
                assert takeover >= LEASE * 0.9  # not before the lease expired
                await asyncio.sleep(max(0.0, 2 * LEASE - (time.monotonic() - stopped_at)))
                before_wake = len(_ledger(ledger))
            finally:
                with contextlib.suppress(ProcessLookupError):
                    by_pid[paused].send_signal(signal.SIGCONT)

            async def all_processed() -> bool:
                return set(produced) <= {entry[3] for entry in _ledger(ledger)}

            await _until(all_processed, 60, "every record to be processed")
            await asyncio.sleep(LEASE)  # time for the woken worker to do what it must not
        entries = _ledger(ledger)

        first: dict[str, int] = {}
        order: dict[str, list[int]] = {}
        for _, _, key, data in entries:
            if data not in first:
                first[data] = len(first)
                order.setdefault(key, []).append(int(data.split(":")[1]))
        assert set(first) == set(produced)  # nothing lost
        for key in KEYS:
            assert order[key] == list(range(ROUNDS)), f"records of {key} out of order"
        lost_shards = [s for s, lease in held.items() if _pid(lease["owner"]) == paused]
        woken = [entry for entry in entries[before_wake:] if entry[0] == paused]
        # At most the batch per shard it was running when paused: none started after.
        assert len(woken) <= BATCH_SIZE * len(lost_shards)
        print(
            f"\nshard leases on {conformance_backend.name}: {len(produced)} records, 3 workers, "
            f"1 SIGKILLed + 1 SIGSTOPped, taken over after {takeover:.1f} s, "
            f"{len(entries) - len(first)} processed twice, 0 lost"
        )
