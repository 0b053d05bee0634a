"""The worker process of the shard-lease conformance test (T12 of the research notes).

``build(url, ledger)`` defines the mesh every process of the test runs: a stream ``s`` of
four shards read by the function ``consume`` in batches of up to 10, from the oldest record,
with two-second shard leases. Each batch appends one line per record to the ``ledger`` file,
``[pid, shard, partition key, data]`` as JSON, in one ``write(2)`` on an ``O_APPEND``
descriptor, so the processes' lines never interleave and a SIGKILL leaves whole lines.

``run(url, ledger)`` is what the test's ``workers.spawn`` starts: the mesh, until killed.
"""

from __future__ import annotations

import asyncio
import base64
import os
from typing import Any

import orjson

from eventmesh import Context, Mesh
from eventmesh.mappings.stream_mapping import StreamMapping
from eventmesh.resources.stream import Stream

__all__ = ["LEASE", "SHARDS", "build", "run"]

LEASE = 2.0
SHARDS = 4


def build(url: str, ledger: str | None) -> tuple[Mesh, Stream, StreamMapping]:
    """The test's mesh on ``url``; with no ``ledger``, its mapping is disabled (the test's own
    process only produces and reads the lease records)."""
    mesh = Mesh(storage=url)
    stream = mesh.stream("s", shards=SHARDS)

    @mesh.function(name="consume", timeout=30)
    async def consume(event: dict[str, Any], context: Context) -> None:
        lines = b"".join(
            orjson.dumps(
                [
                    os.getpid(),
                    record["eventID"].split(":")[0],
                    record["kinesis"]["partitionKey"],
                    base64.b64decode(record["kinesis"]["data"]).decode(),
                ]
            )
            + b"\n"
            for record in event["Records"]
        )
        assert ledger is not None
        descriptor = os.open(ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(descriptor, lines)
        finally:
            os.close(descriptor)
        await asyncio.sleep(0.02)  # some work, so a kill may land in the middle of a batch

    mapping = stream.subscribe(
        consume,
        batch_size=10,
        starting_position="TRIM_HORIZON",
        lease_duration=LEASE,
        enabled=ledger is not None,
    )
    return mesh, stream, mapping


async def _serve(url: str, ledger: str) -> None:
    mesh, _, _ = build(url, ledger)
    async with mesh:
        await asyncio.Event().wait()


def run(url: str, ledger: str) -> None:
    asyncio.run(_serve(url, ledger))
