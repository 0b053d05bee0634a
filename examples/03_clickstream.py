"""A clickstream on a Kinesis-style stream: one poison record, bisection, the on-failure record.

A website puts click events on the stream "clicks" (2 shards), keyed by user, so each user's
clicks stay in order in one shard. The `sessions` function reads batches of up to 8 records
from each shard. One click is malformed and makes the handler raise. With bisect_on_error,
a failed batch is split in two and each half retried (a split is not a retry), until the
poison record is alone; it is then retried max_retries=2 times (1 s, then 2 s later) and
given up: its on-failure record, metadata only (the shard and the sequence range, as
Lambda's KinesisBatchInfo), goes to the queue "clicks-failed", and the shard moves on. The
other shard never waits for it.

The mesh runs on a VirtualClock: the retries' seconds pass when the example advances the
clock, so the whole story takes milliseconds.

Run: uv run python examples/03_clickstream.py
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

from eventmesh import Context, Mesh
from eventmesh.testing import VirtualClock

clock = VirtualClock()  # 2026-01-01T00:00:00Z at t=0
mesh = Mesh(clock=clock)
clicks = mesh.stream("clicks", shards=2)
failed = mesh.queue("clicks-failed")

USERS = ("alice", "bob", "carol", "dave")  # alice and dave hash to shard 0, bob and carol to 1
PAGES = ("/", "/shoes", "/shoes/42", "/cart")
POISON = 13  # the 14th click is malformed


def short(sequence_number: str) -> str:
    """A 56-digit sequence number by its last digits (its place in the shard)."""
    return sequence_number[-3:]


def click_of(record: dict[str, Any]) -> dict[str, Any]:
    """The click a Kinesis record carries (base64 of JSON)."""
    click: dict[str, Any] = json.loads(base64.b64decode(record["kinesis"]["data"]))
    return click


@mesh.function
async def sessions(event: dict[str, Any], context: Context) -> dict[str, int]:
    records = event["Records"]
    shard = "shard " + records[0]["eventID"].split(":")[0][-1]  # "shardId-000000000001"
    batch = " ".join(
        f"{short(r['kinesis']['sequenceNumber'])}/{r['kinesis']['partitionKey']}" for r in records
    )
    bad = [click for click in map(click_of, records) if "page" not in click]
    outcome = f"error (click {bad[0]['n']} has no page)" if bad else "ok"
    print(f"t={clock.now():.0f}s {shard} [{len(records)}] {batch} -> {outcome}")
    if bad:
        raise ValueError(f"click {bad[0]['n']} has no page")
    return {"clicks": len(records)}


mapping = clicks.subscribe(
    sessions,
    batch_size=8,
    starting_position="TRIM_HORIZON",
    bisect_on_error=True,
    max_retries=2,
    on_failure="clicks-failed",
)


async def main() -> None:
    entries = []
    for n in range(16):
        click: dict[str, Any] = {"n": n, "user": USERS[n % 4], "page": PAGES[n // 4]}
        if n == POISON:
            del click["page"]
        entries.append({"data": click, "partition_key": click["user"]})
    results = await clicks.put_records(entries)
    poison = results[POISON]
    print(f"put 16 clicks; the poison one is {short(poison.sequence_number)} of {poison.shard_id}")
    print("invocations: time, shard, [batch size], sequence number (last digits)/partition key")
    async with mesh:
        await clock.advance(10)  # 10 virtual seconds: the retries at t=1 s and t=3 s run now
        print(f"advanced the virtual clock 10 s in no real time; {sessions.stats.errors} errors")
        for shard_id in clicks.shard_ids:
            done = await mapping.checkpoint(shard_id)
            print(f"checkpoint of {shard_id}: {short(done or '')} (every record up to it done)")
        (message,) = await failed.receive(max_messages=10)
        record = message.json()
        print("on-failure record received from queue 'clicks-failed':")
        print(json.dumps(record, indent=2))
        info = record["KinesisBatchInfo"]
        iterator = await clicks.get_shard_iterator(
            info["shardId"], "AT_SEQUENCE_NUMBER", info["startSequenceNumber"]
        )
        found = await clicks.get_records(iterator, limit=info["batchSize"])
        poisoned = found.records[0]
        where = f"{short(poisoned.sequence_number)}/{poisoned.partition_key}"
        print(f"the record it points to: {where} {poisoned.json()}")
        await failed.delete(message.receipt_handle)


if __name__ == "__main__":
    asyncio.run(main())
