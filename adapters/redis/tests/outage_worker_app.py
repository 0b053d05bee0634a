"""The worker app of the multi-process outage test: ``eventmesh run outage_worker_app:mesh
--storage redis://...`` in each worker process (this directory on ``PYTHONPATH``, the ledger's
location in the environment, see :mod:`process_ledger`).

Queue ``work`` is mapped to ``consume`` and stream ``clicks`` (two shards) to ``count``; both
write a ledger entry per record (kind, number, partition key), a little slowly, so that the
work is under way when the test cuts the workers off their storage.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import orjson
import process_ledger as ledger

from eventmesh import Mesh, Telemetry

WORK_TIME = 0.01
"""Seconds of work per batch."""

mesh = Mesh(telemetry=Telemetry(enabled=False), drain_timeout=2.0)
work = mesh.queue("work", visibility_timeout=3)
clicks = mesh.stream("clicks", shards=2)


@mesh.function(timeout=2)
async def consume(event: dict[str, Any], context: object) -> None:
    await asyncio.sleep(WORK_TIME)
    await ledger.record(*[{"kind": "queue", "n": int(r["body"])} for r in event["Records"]])


@mesh.function(timeout=2)
async def count(event: dict[str, Any], context: object) -> None:
    await asyncio.sleep(WORK_TIME)
    entries = []
    for record in event["Records"]:
        data = orjson.loads(base64.b64decode(record["kinesis"]["data"]))
        key = record["kinesis"]["partitionKey"]
        entries.append({"kind": "stream", "n": data, "key": key})
    await ledger.record(*entries)


work.subscribe(consume, batch_size=5)
clicks.subscribe(count, batch_size=5, starting_position="TRIM_HORIZON")
