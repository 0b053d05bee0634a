"""The worker app of the multi-process FIFO test: ``eventmesh run fifo_worker_app:mesh
--storage redis://...`` in each worker process (ledger as in :mod:`process_ledger`).

FIFO queue ``orders.fifo`` (visibility timeout :data:`VISIBILITY`) is mapped to ``consume``,
which writes a ledger entry for every record (group, number in the group, receive count) and
processes it; a record whose body says ``block``, on its first receive, makes the handler
record ``hold`` and wait for ever (the test SIGKILLs the process).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import process_ledger as ledger

from eventmesh import Mesh, Telemetry

VISIBILITY = 2.0

mesh = Mesh(telemetry=Telemetry(enabled=False), drain_timeout=2.0)
orders = mesh.queue("orders.fifo", visibility_timeout=VISIBILITY)


def _entry(record: dict[str, Any], step: str) -> dict[str, Any]:
    body = orjson.loads(record["body"])
    return {
        "group": record["attributes"]["MessageGroupId"],
        "n": body["n"],
        "step": step,
        "receives": int(record["attributes"]["ApproximateReceiveCount"]),
    }


@mesh.function(timeout=VISIBILITY)
async def consume(event: dict[str, Any], context: object) -> None:
    records = event["Records"]
    entries = [_entry(r, "ok") for r in records]
    blocking = [
        r
        for r in records
        if orjson.loads(r["body"]).get("block")
        and r["attributes"]["ApproximateReceiveCount"] == "1"
    ]
    if blocking:
        await ledger.record(*[_entry(r, "hold") for r in records])
        await asyncio.Event().wait()  # until SIGKILL
    await asyncio.sleep(0.002 * len(records))
    await ledger.record(*entries)


orders.subscribe(consume, batch_size=10)
