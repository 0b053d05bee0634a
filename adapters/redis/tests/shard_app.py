"""The worker app of the shard-lease tests: ``eventmesh run shard_app:mesh --storage URL``.

A stream ``s`` of four shards read by ``consume`` with two-second leases; each batch is
recorded in one ``RPUSH`` to the ledger list named by ``SHARD_LEDGER`` (a key on the test's
Redis), as JSON ``[pid, shard, partition key, data]`` per record, in batch order.
"""

from __future__ import annotations

import asyncio
import base64
import os
from typing import Any

import orjson
import redis.asyncio as aioredis

from eventmesh import Context, Mesh

LEASE = 2.0
SHARDS = 4

mesh = Mesh()
stream = mesh.stream("s", shards=SHARDS)
_ledger: aioredis.Redis | None = None


@mesh.function(name="consume", timeout=30)
async def consume(event: dict[str, Any], context: Context) -> None:
    global _ledger
    if _ledger is None:
        _ledger = aioredis.Redis.from_url(os.environ["SHARD_LEDGER_URL"])
    entries = [
        orjson.dumps(
            [
                os.getpid(),
                record["eventID"].split(":")[0],
                record["kinesis"]["partitionKey"],
                base64.b64decode(record["kinesis"]["data"]).decode(),
            ]
        )
        for record in event["Records"]
    ]
    await _ledger.rpush(os.environ["SHARD_LEDGER"], *entries)
    await asyncio.sleep(0.02)  # some work, so a kill may land in the middle of a batch


mapping = stream.subscribe(
    consume, batch_size=10, starting_position="TRIM_HORIZON", lease_duration=LEASE
)
