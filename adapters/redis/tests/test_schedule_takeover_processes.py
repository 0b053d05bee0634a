"""A tick whose claimant is SIGKILLed in the middle of its delivery is fired by another of
three processes once the claim's lease runs out, and only then; the new deliverer's renewals
keep the third process off the tick while it works longer than the lease (schedule.py: "a
process that dies between its claim and the delivery leaves a lease that runs out; a restart
or another process then fires the tick: at least once"). The lease is shortened from 30 s to
3 s in the worker app, so that the test sees it run out.
"""

from __future__ import annotations

import asyncio
import math
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import redis.asyncio as aioredis
from worker_processes import ledger_key, read_ledger, wait_for, worker_processes

from eventmesh import RealClock
from eventmesh.resources.schedule import iso_z
from eventmesh_redis import redis_backend_from_url

PROCESSES = 3
LEASE, WORK = 3.0, 4.0  # the claim's lease in the workers, and the chosen tick's work
TICKS, SPACING = 4, 3  # candidate ticks, from 3 s after the start; the test uses the first
# one at least 0.5 s after every process runs (on a loaded machine they start slowly)


async def test_a_killed_claimants_tick_is_fired_by_another_process_once_its_lease_ends(
    redis_server: str, redis_url: str, tmp_path: Path
) -> None:
    key = ledger_key(redis_url, "takeover")
    base = math.ceil(time.time()) + SPACING
    env = {
        "SCHEDULE_BASE": str(base),
        "SCHEDULE_SPACING": str(SPACING),
        "SCHEDULE_TICKS": str(TICKS),
        "SCHEDULE_LEASE": str(LEASE),
        "SCHEDULE_WORK": str(WORK),
    }

    async def steps(name: str) -> list[dict[str, Any]]:
        return [e for e in await read_ledger(redis_server, key) if e["step"] == name]

    async with worker_processes(tmp_path, redis_server, key, env) as w:
        started = await w.start("schedule_takeover_app:mesh", redis_url, PROCESSES)
        ready_at = time.time()
        candidates = [i for i in range(TICKS) if base + i * SPACING > ready_at + 0.5]
        assert candidates, f"the workers took {ready_at - base + SPACING:.1f} s to start"
        chosen = candidates[0]
        at = base + chosen * SPACING
        tick = iso_z(datetime.fromtimestamp(at, UTC))
        await _flag(redis_server, f"{key}:chosen", tick)

        (first,) = await wait_for("a process delivers the tick", lambda: steps("start"), 20)
        (claimant,) = [worker for worker in started if worker.pid == first["pid"]]
        claimant.signal(signal.SIGKILL)
        killed_at = time.time()
        await wait_for("another process delivered the tick", lambda: steps("done"), 20)
        await asyncio.sleep(0.5)  # room for a late third delivery to show
        ledger = await read_ledger(redis_server, key)

    backend = redis_backend_from_url(redis_url, RealClock())
    try:
        stored = await backend.values.get(f"schedule/slow-{chosen}/{tick}")
    finally:
        await backend.close()
    starts = [e for e in ledger if e["step"] == "start"]
    dones = [e for e in ledger if e["step"] == "done"]
    # The killed claimant started it; exactly one other process delivered it, whole.
    assert starts[0]["pid"] == claimant.pid
    assert len(starts) == 2 and len(dones) == 1, ledger
    taker = starts[1]
    assert taker["pid"] != claimant.pid and dones[0]["pid"] == taker["pid"]
    assert {e["time"] for e in ledger} == {tick}
    # Not before the claim's lease ran out (claimed at the tick or later; renewed, if at
    # all, before the kill), and promptly then; its claim is done.
    assert taker["t"] >= at + LEASE - 0.05
    assert taker["t"] < killed_at + LEASE + 2.0
    assert dones[0]["t"] >= taker["t"] + WORK - 0.05
    assert stored is not None and orjson.loads(stored.value)["done"] is True
    print(
        f"\nschedule takeover across {PROCESSES} processes: claimant killed "
        f"{killed_at - at:.2f} s after the tick, tick fired again by another "
        f"{taker['t'] - at:.2f} s after it (lease {LEASE:g} s), delivered once whole, "
        f"no third delivery during its {WORK:g} s of work"
    )


async def _flag(server: str, key: str, value: str) -> None:
    client = aioredis.Redis.from_url(server)
    try:
        await client.set(key, value.encode())
    finally:
        await client.aclose()
