"""A mesh on SQLite that tests/test_durability.py runs in a subprocess, and kills.

    python tests/crash_worker.py consume DB_URL LOG INCARNATION
    python tests/crash_worker.py share DB_URL LOG NAME

``consume``: a queue and a stream (produced beforehand by the test), each consumed by a
function whose side effect, a line in LOG, runs inside an idempotency key kept in the same
SQLite store. The process exits 0 by itself once the queue is empty and the checkpoint of
every shard is at the shard's newest record; until then the test SIGKILLs and restarts it.

``share``: the queue only, with a plain function, for two processes that consume one database
at the same moment (each waits for a ``go`` file beside LOG before it starts polling).

Not a test module (no ``test_`` prefix, so pytest does not collect it); the test imports
:func:`build` too, to open the same resources in the parent and read the stream checkpoints
and the idempotency records after each kill.

LOG lines are ``<incarnation> <kind> <source> <id>``, each written with one ``write(2)`` on
an ``O_APPEND`` descriptor: a SIGKILL leaves whole lines (the kernel finishes or never starts
the call, and the page cache outlives the process, so no fsync is needed against a process
crash; the reader ignores a last line without its newline anyway). Kinds:

* ``R``: a stream record reached the handler (every delivery, outside the idempotent part);
* ``E``: the side effect, inside the idempotent part (the queue function is idempotent as a
  whole, ``Idempotency("Records.0.body.id")``; the stream's per-record work through
  ``mesh.idempotent``);
* ``C``: the idempotent call of a stream record returned (its COMPLETED record is written);
* ``S``: ``share`` mode's side effect (no idempotency).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from eventmesh import Context, Idempotency, Mesh, Queue, Stream, Telemetry
from eventmesh.backends.protocols import KeyValueStore
from eventmesh.mappings.stream_mapping import StreamMapping

QUEUE = "orders"
STREAM = "events"
SHARDS = 2
QUEUE_FUNCTION = "queue_effect"  # also the namespace of its idempotency records
STREAM_FUNCTION = "stream_consumer"
STREAM_NAMESPACE = "stream_effect"
VISIBILITY_TIMEOUT = 3.0
"""How long a message taken by a worker that died stays hidden (wall time, so across
restarts): the restarted worker gets it back after this."""
QUEUE_TIMEOUT = 2.0
"""The queue function's timeout, hence the life of its in-progress idempotency claim (the
invocation's remaining time): a claim cut by a kill expires within this."""
CLAIM_TIMEOUT = 2.0
"""The in-progress expiry of the stream's per-record claims."""
STREAM_TIMEOUT = 10.0
"""Above CLAIM_TIMEOUT: a record whose claim a kill left behind waits for it in the handler."""
STREAM_BATCH = 10
LEASE_DURATION = 3.0
"""How long the shard leases of a killed incarnation keep their shards from the next one (it
takes them once they expire). The default, 10 s, made each restart after the queue drained
wait 10 s for the stream; 3 s keeps the same takeover path (an expired lease, not a released
one) with a renewal every second, ample for the one live process."""
SHARE_VISIBILITY_TIMEOUT = 60.0
POLL = 0.05


class EffectLog:
    """Appends whole lines to a file shared by every incarnation (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str], incarnation: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._incarnation = incarnation

    def write(self, kind: str, source: str, item_id: str) -> None:
        os.write(self._fd, f"{self._incarnation} {kind} {source} {item_id}\n".encode())

    def close(self) -> None:
        os.close(self._fd)


@dataclass(frozen=True, slots=True)
class Topology:
    """What ``consume`` mode runs; the parent builds the same to read its state."""

    queue: Queue
    stream: Stream
    mapping: StreamMapping


def build(mesh: Mesh, log: EffectLog | None = None) -> Topology:
    """Register the queue, the stream, their functions and mappings on ``mesh``.

    The parent passes no log: it never starts the mesh, it only reads the store.
    """

    def effect(source: str, item_id: str) -> None:
        if log is not None:
            log.write("E", source, item_id)

    queue = mesh.queue(QUEUE, visibility_timeout=VISIBILITY_TIMEOUT)

    @mesh.function(
        name=QUEUE_FUNCTION,
        timeout=QUEUE_TIMEOUT,
        idempotency=Idempotency("Records.0.body.id"),
    )
    async def queue_effect(event: dict[str, Any], context: Context) -> str:
        (record,) = event["Records"]
        item_id: str = orjson.loads(record["body"])["id"]
        effect("q", item_id)
        return item_id

    # Three pollers of one message each: the queue then drains at about the stream's pace, so
    # kills land in the middle of both.
    queue.subscribe(queue_effect, batch_size=1, max_concurrency=3)

    stream = mesh.stream(STREAM, shards=SHARDS)

    @mesh.idempotent("id", namespace=STREAM_NAMESPACE, timeout=CLAIM_TIMEOUT)
    async def stream_effect(item: dict[str, str]) -> str:
        effect("s", item["id"])
        return item["id"]

    @mesh.function(name=STREAM_FUNCTION, timeout=STREAM_TIMEOUT)
    async def stream_consumer(event: dict[str, Any], context: Context) -> None:
        for record in event["Records"]:
            item: dict[str, str] = orjson.loads(base64.b64decode(record["kinesis"]["data"]))
            if log is not None:
                log.write("R", "s", item["id"])
            await stream_effect(item)
            if log is not None:
                log.write("C", "s", item["id"])

    mapping = stream.subscribe(
        stream_consumer,
        batch_size=STREAM_BATCH,
        starting_position="TRIM_HORIZON",
        lease_duration=LEASE_DURATION,
    )
    return Topology(queue, stream, mapping)


def idempotency_key(values: KeyValueStore, namespace: str, item_id: str) -> str:
    """The store key of ``item_id``'s idempotency record in ``namespace``."""
    return Idempotency("id").bind(values, namespace=namespace).stored_key(namespace, item_id)


async def checkpoint_position(topology: Topology, shard_id: str) -> int:
    """The stored checkpoint of ``shard_id``: the store's position of the last record done."""
    checkpoint = await topology.mapping.checkpoint(shard_id)
    if checkpoint is None:
        return 0
    iterator = await topology.stream.get_shard_iterator(
        shard_id, "AFTER_SEQUENCE_NUMBER", checkpoint
    )
    return iterator.position


async def drained(topology: Topology) -> bool:
    """Every message deleted and every shard's checkpoint at its newest record."""
    if (await topology.queue.stats()).total:
        return False
    for shard_id in topology.stream.shard_ids:
        newest = (await topology.stream.get_shard_iterator(shard_id, "LATEST")).position
        if await checkpoint_position(topology, shard_id) < newest:
            return False
    return True


async def consume(url: str, log_path: str, incarnation: str) -> None:
    log = EffectLog(log_path, incarnation)
    mesh = Mesh(storage=url, telemetry=Telemetry(enabled=False))
    topology = build(mesh, log)
    async with mesh:
        while not await drained(topology):  # noqa: ASYNC110 - the store is the state to watch
            await asyncio.sleep(POLL)
    log.close()


async def share(url: str, log_path: str, name: str) -> None:
    log = EffectLog(log_path, name)
    mesh = Mesh(storage=url, telemetry=Telemetry(enabled=False))
    queue = mesh.queue(QUEUE, visibility_timeout=SHARE_VISIBILITY_TIMEOUT)

    @mesh.function(name="share_effect")
    async def share_effect(event: dict[str, Any], context: Context) -> None:
        for record in event["Records"]:
            log.write("S", "q", orjson.loads(record["body"])["id"])
        await asyncio.sleep(0.02)  # 20 ms of work per batch

    # SQLite's write lock is not fair: a process that finds it taken backs off 1, 2, 5, 10...
    # ms. With instant handlers, or pollers added for every batch taken, the process that
    # starts first can take the whole queue (40 batches) before the other's first retry;
    # two pollers with 20 ms batches keep each process on the file for a few hundred ms.
    queue.subscribe(share_effect, batch_size=10, max_concurrency=2)
    _touch(f"{log_path}.ready")
    while not _exists(Path(log_path).parent / "go"):  # noqa: ASYNC110 - another process's file
        await asyncio.sleep(0.005)  # so that both processes start polling at the same moment
    async with mesh:
        while (await queue.stats()).total:  # noqa: ASYNC110 - the store is the state to watch
            await asyncio.sleep(POLL)
    log.close()


def _touch(path: str | Path) -> None:
    Path(path).touch()


def _exists(path: str | Path) -> bool:
    return Path(path).exists()


def main(argv: list[str]) -> None:
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    mode, url, log_path, label = argv
    run = {"consume": consume, "share": share}[mode]
    asyncio.run(run(url, log_path, label))


if __name__ == "__main__":
    main(sys.argv[1:])
