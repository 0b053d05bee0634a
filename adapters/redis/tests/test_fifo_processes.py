"""A FIFO queue shared by three worker processes, one SIGKILLed while it holds a batch: each
group's messages are processed in order, the killed batch's group waits for its visibility
timeout (no later message of it overtakes), and nothing is lost."""

from __future__ import annotations

import signal
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
from fifo_worker_app import VISIBILITY
from worker_processes import ledger_key, read_ledger, wait_for, worker_processes

from eventmesh import Mesh, Telemetry

WORKERS = 3
GROUPS = 6
PER_GROUP = 40
BLOCK_AT = 5  # the first group's message of this number blocks its first receive


async def test_fifo_groups_keep_their_order_across_processes_when_a_holder_is_killed(
    redis_server: str, redis_url: str, tmp_path: Path
) -> None:
    key = ledger_key(redis_url, "fifo")
    producer = Mesh(storage=redis_url, telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    orders = producer.queue("orders.fifo", visibility_timeout=VISIBILITY)
    groups = [f"g{i}" for i in range(GROUPS)]

    async def entries(step: str) -> list[dict[str, Any]]:
        return [e for e in await read_ledger(redis_server, key) if e["step"] == step]

    async with producer, worker_processes(tmp_path, redis_server, key) as workers:
        for n in range(PER_GROUP):  # a backlog first: batches then hold several groups
            for group in groups:
                body = {"n": n, "block": group == groups[0] and n == BLOCK_AT}
                await orders.send(
                    orjson.dumps(body).decode(), group_id=group, deduplication_id=f"{group}-{n}"
                )
        started = await workers.start("fifo_worker_app:mesh", redis_url, WORKERS)
        held = await wait_for("a worker holds the blocking batch", lambda: entries("hold"), 20)
        (holder,) = {e["pid"] for e in held}
        (worker,) = [w for w in started if w.pid == holder]
        worker.signal(signal.SIGKILL)
        killed_at = time.time()

        async def settled() -> bool:
            done = {(e["group"], e["n"]) for e in await entries("ok")}
            stats = await orders.stats()
            return len(done) == GROUPS * PER_GROUP and stats.visible + stats.in_flight == 0

        await wait_for("every message processed", settled, within=25)
        ledger = await read_ledger(redis_server, key)

    by_group: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in ledger:
        if entry["step"] == "ok":
            by_group[entry["group"]].append(entry)
    for group, done in by_group.items():
        numbers = [e["n"] for e in done]
        # In order: the ledger is one list, appended in the order the invocations ended.
        assert numbers == sorted(numbers), (group, numbers)
        assert len(numbers) == len(set(numbers)) == PER_GROUP, (group, numbers)
    # Each group of the killed batch waited for the visibility timeout: nothing of it was
    # processed between the kill and then (a later message would have overtaken).
    held_groups = {e["group"] for e in held}
    resumed = min(
        e["t"]
        for e in ledger
        if e["step"] == "ok" and e["group"] in held_groups and e["t"] > killed_at
    )
    assert resumed >= min(e["t"] for e in held) + VISIBILITY - 0.05
    print(
        f"\nFIFO across {WORKERS} processes: {GROUPS * PER_GROUP} messages in {GROUPS} groups, "
        f"1 SIGKILL holding {len(held)} of groups {sorted(held_groups)}; in order, lost 0; "
        f"held groups resumed {resumed - killed_at:.2f} s after the kill"
    )
