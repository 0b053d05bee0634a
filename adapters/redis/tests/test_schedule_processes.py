"""One schedule, three OS processes: every tick fired once in total while the process that
fired last is SIGKILLed and another is SIGSTOPped for 3 s, then resumed.

What the schedule code does (eventmesh/resources/schedule.py): every process sleeps to each
tick, then claims it with a put-if-absent on ``schedule/<name>/<time>`` in the shared
key-value store, a lease of ``CLAIM_LEASE`` (30 s). Only the winner delivers (here an
asynchronous invocation of ``tick``, run by whichever process takes it from the function's
shared queue); it then turns the lease into a lasting "done" record. A loser that finds a
lease not yet done waits for it to end, and finds "done". So:

* a tick fires once across the processes, and a process that wakes late (SIGCONT) finds its
  missed ticks done and fires none of them;
* a process killed between its claim and "done" leaves a lease another process takes over
  after 30 s: the tick then fires late, or twice if the delivery was made (at least once, as
  EventBridge Scheduler documents). The test kills half-way between two ticks, after the
  last tick's claim is done, so no claim is open then; that window is not exercised here;
* a tick that fell due before the schedule first started anywhere (``created`` in the store)
  is not fired (missed ticks are counted from then); all the processes run before the first
  tick here, and the test reads ``created`` to check that rule rather than assume it.

EventBridge's shortest rate is one minute, so the ticks are one-time ``at()`` schedules one
second apart, plus one ``rate(1 minute)`` tick (see schedule_worker_app).
"""

from __future__ import annotations

import asyncio
import math
import signal
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from worker_processes import Worker, ledger_key, read_ledger, wait_for, worker_processes

from eventmesh import RealClock
from eventmesh.resources.schedule import iso_z
from eventmesh_redis import redis_backend_from_url

PROCESSES = 3
TICKS = 20  # one a second; the test watches those up to two after the pause, no more
RATE_TICK = 5
KILL_AFTER, PAUSE_AFTER, PAUSE_FOR = 2, 4, 3.0
START_MARGIN = 4  # seconds from now to the first tick: three processes start meanwhile


async def _sleep_until(moment: float) -> None:
    await asyncio.sleep(max(0.0, moment - time.time()))


async def test_each_tick_fires_once_across_processes_through_a_kill_and_a_pause(
    redis_server: str, redis_url: str, tmp_path: Path
) -> None:
    key = ledger_key(redis_url, "schedule")
    base = math.ceil(time.time()) + START_MARGIN
    moments = {f"at-{i:02d}": base + i for i in range(TICKS)} | {"every-minute": base + RATE_TICK}
    env = {
        "SCHEDULE_BASE": str(base),
        "SCHEDULE_TICKS": str(TICKS),
        "SCHEDULE_RATE_TICK": str(RATE_TICK),
        "OWNERS_DIR": str(tmp_path),
    }
    backend = redis_backend_from_url(redis_url, RealClock())

    async def claim(name: str) -> dict[str, Any] | None:
        tick = datetime.fromtimestamp(moments[name], UTC)
        stored = await backend.values.get(f"schedule/{name}/{iso_z(tick)}")
        return None if stored is None else orjson.loads(stored.value)

    async def firer(name: str, workers: list[Worker]) -> Worker:
        """The process whose claim on ``name``'s tick is done, once the tick's invocation
        ran (so the process is neither claiming nor running anything of it)."""
        done = await wait_for(f"{name} done", lambda: _done(claim(name)), within=10)
        await wait_for(f"{name} ran", lambda: _ran(read_ledger(redis_server, key), name), 10)
        owners = _owners(tmp_path)
        (worker,) = [w for w in workers if owners.get(done["owner"]) == w.pid]
        return worker

    try:
        async with worker_processes(tmp_path, redis_server, key, env) as workers:
            launched = time.time()
            started = await workers.start("schedule_worker_app:mesh", redis_url, PROCESSES)
            ready_at = time.time()

            # The first ticks after every process runs: a slow start shifts them, no more.
            kill_tick = max(KILL_AFTER, math.ceil(ready_at - base))
            pause_tick = kill_tick + PAUSE_AFTER - KILL_AFTER
            last_tick = pause_tick + math.ceil(PAUSE_FOR) + 2
            assert last_tick < TICKS, f"workers took {ready_at - launched:.1f} s to start"
            killed_at = base + kill_tick + 0.5  # half-way to the next tick
            await _sleep_until(killed_at)
            killed = await firer(f"at-{kill_tick:02d}", started)
            killed.signal(signal.SIGKILL)

            paused_at = base + pause_tick + 0.5
            await _sleep_until(paused_at)
            paused = await firer(f"at-{pause_tick:02d}", started)
            assert paused is not killed
            paused.signal(signal.SIGSTOP)
            await asyncio.sleep(PAUSE_FOR)
            paused.signal(signal.SIGCONT)

            await _sleep_until(base + last_tick + 0.5)
            watched = {name: at for name, at in moments.items() if at <= base + last_tick}
            created = {name: await _created(backend, name) for name in watched}
            due = {name: at for name, at in watched.items() if at > created[name]}
            await wait_for(
                "every due tick ran",
                lambda: _ran(read_ledger(redis_server, key), *due),
                within=10,
            )
            await asyncio.sleep(1.0)  # room for a duplicate to show
            ledger = [e for e in await read_ledger(redis_server, key) if e["rule"] in watched]
            claims = {name: await claim(name) for name in due}
            owners = _owners(tmp_path)
    finally:
        await backend.close()

    # Each due tick fired exactly once (one Scheduled Event, one invocation), for its
    # scheduled time; nothing else fired.
    fired = Counter((e["rule"], e["time"]) for e in ledger)
    expected = {(name, iso_z(datetime.fromtimestamp(at, UTC))) for name, at in due.items()}
    assert set(fired) == expected, (sorted(fired), sorted(expected))
    assert all(count == 1 for count in fired.values()), fired
    assert len({e["id"] for e in ledger}) == len(ledger)
    # Every tick after the processes ran was due (the rule about ticks before ``created``
    # only matters when they start late).
    assert {name for name, at in watched.items() if at > ready_at} <= set(due)
    # Each claim is done, by a process that was alive (and not stopped) at its tick.
    assert all(c is not None and c.get("done") for c in claims.values()), claims
    firers = {name: owners[c["owner"]] for name, c in claims.items() if c is not None}
    for name, pid in firers.items():
        if moments[name] > killed_at:
            assert pid != killed.pid, (name, firers)
        if paused_at < moments[name] < paused_at + PAUSE_FOR:
            assert pid != paused.pid, (name, firers)
    lag = max(e["t"] - moments[e["rule"]] for e in ledger)
    print(
        f"\nschedule across {PROCESSES} processes (running {ready_at - launched:.1f} s "
        f"after their start): {len(expected)} ticks "
        f"({len(expected) - 1} at() and 1 rate()), 1 SIGKILL, 1 SIGSTOP for {PAUSE_FOR:g} s; fired "
        f"{sum(fired.values())}, duplicates {sum(c - 1 for c in fired.values())}, missed "
        f"{len(expected - set(fired))}; fires per process "
        f"{sorted(Counter(firers.values()).values(), reverse=True)}; "
        f"latest run {lag:.2f} s after its tick"
    )


async def _created(backend: Any, name: str) -> float:
    stored = await backend.values.get(f"schedule/{name}/created")
    assert stored is not None, f"{name} never started"
    return datetime.fromisoformat(stored.value.decode()).timestamp()


async def _done(read: Any) -> dict[str, Any] | None:
    claim = await read
    return claim if claim is not None and claim.get("done") else None


async def _ran(read: Any, *names: str) -> bool:
    """Whether the ledger has an entry for each of ``names``."""
    return set(names) <= {entry["rule"] for entry in await read}


def _owners(directory: Path) -> dict[str, int]:
    """Schedule owner id to the pid of the process it runs in (see schedule_worker_app)."""
    owners = {}
    for path in directory.glob("owners-*.json"):
        pid = int(path.stem.removeprefix("owners-"))
        owners.update(dict.fromkeys(orjson.loads(path.read_bytes()), pid))
    return owners
