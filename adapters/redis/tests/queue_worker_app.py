"""The worker app of the multi-process queue test: ``eventmesh run queue_worker_app:mesh
--storage redis://...`` in each worker process (with this directory on ``PYTHONPATH`` and the
ledger's location in the environment, see :mod:`process_ledger`).

Queue ``work`` (visibility timeout :data:`VISIBILITY`, redrive to ``work-dlq`` after
:data:`MAX_RECEIVES` receives) is mapped to ``consume``, which writes a ledger entry for every
record it is given and acts on the record's ``kind``:

* ``plain``: processed (entry ``ok``).
* ``poison``: always fails, reported in ``batchItemFailures`` (entry ``fail``), so it ends
  in the dead-letter queue.
* ``block``: on its first receive the handler records ``hold`` and waits for ever: the test
  SIGKILLs the process holding it. Later receives process it.
* ``pause``: on its first receive the handler records ``hold`` with the receipts, starts
  :func:`_stale_calls` beside the invocation, and waits: the test SIGSTOPs the process past
  the visibility timeout. On a later receive (another process, new receipts) the handler
  records ``hold2``, waits until the paused process, resumed, has made its calls with the
  stale receipts, then checks that its own receipts still hold (``check``) and processes it.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import orjson
import process_ledger as ledger

from eventmesh import Mesh, Telemetry

VISIBILITY = 3.0
MAX_RECEIVES = 2
STALE_DONE_WAIT = 2.3
"""How long a later receive of a ``pause`` message waits for the stale calls (its function
times out after VISIBILITY seconds)."""
WORK_TIME = 0.01
"""Seconds of work per record, so that a batch takes a while and the workers share the bulk."""

mesh = Mesh(telemetry=Telemetry(enabled=False), drain_timeout=2.0)
dead_letters = mesh.queue("work-dlq")
work = mesh.queue(
    "work", visibility_timeout=VISIBILITY, max_receive_count=MAX_RECEIVES, dead_letter=dead_letters
)
_background: set[asyncio.Task[None]] = set()


def _entry(record: dict[str, Any], step: str) -> dict[str, Any]:
    body = orjson.loads(record["body"])
    attributes = record["attributes"]
    return {
        "n": body["n"],
        "kind": body["kind"],
        "step": step,
        "receives": int(attributes["ApproximateReceiveCount"]),
        "first_receive": int(attributes["ApproximateFirstReceiveTimestamp"]) / 1000,
        "receipt": record["receiptHandle"],
    }


async def _stale_calls(held: list[dict[str, Any]]) -> None:
    """Once the test says so (after SIGCONT): the calls a resumed consumer makes with the
    receipts it held, now stale. Each must neither extend, return nor delete the newer
    delivery another process holds."""
    if not await ledger.wait_flag(f"go:{os.getpid()}", within=60):
        return
    results = []
    for entry in held:
        receipt = entry["receipt"]
        extended = await work.change_visibility(receipt, 600)
        returned = await work.change_visibility(receipt, 0)
        deleted = await work.delete(receipt)
        results.append({**entry, "step": "stale", "results": [extended, returned, deleted]})
    await ledger.record(*results)
    await ledger.flag("stale-done")


@mesh.function(timeout=VISIBILITY)
async def consume(event: dict[str, Any], context: object) -> dict[str, Any]:
    records = event["Records"]
    kinds = {orjson.loads(r["body"])["kind"] for r in records}
    first = all(r["attributes"]["ApproximateReceiveCount"] == "1" for r in records)
    if first and kinds == {"block"}:
        await ledger.record(*[_entry(r, "hold") for r in records])
        await asyncio.Event().wait()  # until SIGKILL
    if first and kinds == {"pause"}:
        held = [_entry(r, "hold") for r in records]
        await ledger.record(*held)
        task = asyncio.create_task(_stale_calls(held))
        _background.add(task)
        task.add_done_callback(_background.discard)
        await asyncio.Event().wait()  # SIGSTOP, then this invocation times out
    again = [r for r in records if orjson.loads(r["body"])["kind"] == "pause"]
    if again:
        await ledger.record(*[_entry(r, "hold2") for r in again])
        stale_done = await ledger.wait_flag("stale-done", within=STALE_DONE_WAIT)
        checks = []
        for record in again:
            still_mine = await work.change_visibility(record["receiptHandle"], VISIBILITY)
            checks.append({**_entry(record, "check"), "results": [stale_done, still_mine]})
        await ledger.record(*checks)
    await asyncio.sleep(WORK_TIME * len(records))
    failures, entries = [], []
    for record in records:
        poison = orjson.loads(record["body"])["kind"] == "poison"
        entries.append(_entry(record, "fail" if poison else "ok"))
        if poison:
            failures.append({"itemIdentifier": record["messageId"]})
    await ledger.record(*entries)
    return {"batchItemFailures": failures}


work.subscribe(consume, batch_size=10, report_batch_item_failures=True)
