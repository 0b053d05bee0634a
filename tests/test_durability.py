"""Durability of the embedded SQLite mode, at the mesh level (issue 6, items 2 and 5).

* Crashes: a subprocess (``tests/crash_worker.py``) consumes a queue and a stream from
  ``Mesh(storage="sqlite:///...")``; the test SIGKILLs it at random points several times,
  restarts it, lets it finish, and checks from its side-effect log and from the store that
  nothing was lost, that no stream checkpoint ever passed a record not done, that what was
  in flight at a kill came back, and that an idempotent side effect ran once, plus once
  more exactly when a kill cut it before its result was recorded (see the test for why).
* Restarts in process (two meshes on one file, virtual clocks): an async invocation in retry
  keeps its attempt count and next-attempt time; a schedule due while nothing ran fires
  once at restart.
* Files: a damaged or foreign database is refused when the mesh opens it.
* Two processes consuming one queue of one database at the same time: each message once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import crash_worker
import orjson
import pytest
from crash_worker import (
    QUEUE_FUNCTION,
    STREAM_NAMESPACE,
    build,
    checkpoint_position,
    idempotency_key,
)

from eventmesh import BackendError, Context, Mesh, Telemetry
from eventmesh.testing import RecordingDestination, VirtualClock

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(crash_worker.__file__).resolve()
T0 = 1_767_225_600.0  # VirtualClock's default wall time at now() == 0: 2026-01-01T00:00:00Z

N = 300  # messages in the queue, and records in the stream
KILLS = 6
KILL_AFTER = (30, 90)
"""A kill comes once the running incarnation has made this many side effects (uniform), then
after a random 0-10 ms: 6 kills stay under 540 of the 600 effects, so each lands mid-work."""
FINISH_TIMEOUT = 60.0
PROGRESS_TIMEOUT = 30.0


def storage_url(path: Path) -> str:
    return f"sqlite:///{path}"  # an absolute path: sqlite:////tmp/...


async def settle_store(clock: VirtualClock, rounds: int = 10) -> None:
    """Let a chain of store operations finish without moving time.

    ``advance(0)`` waits for the SQLite thread's pending answers once or twice, but a fire or
    a retry is a chain of a few operations (claim, record, send, delete), each submitted when
    the one before is answered: a few rounds see it through.
    """
    for _ in range(rounds):
        await clock.advance(0)


def quiet_mesh(url: str, clock: VirtualClock | None = None) -> Mesh:
    return Mesh(storage=url, clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=5.0)


# -- the side-effect log -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Line:
    incarnation: str
    kind: str  # R, E, C or S: see crash_worker's docstring
    source: str  # q or s
    item_id: str


def parse(lines: Iterable[bytes]) -> list[Line]:
    return [Line(*line.decode().split(" ")) for line in lines]


def read_log(path: Path) -> list[Line]:
    """Whole lines only: a last line without its newline was cut by a kill."""
    if not path.exists():
        return []
    return parse(path.read_bytes().split(b"\n")[:-1])


class LogTail:
    """Counts the side effects of one incarnation as they are appended."""

    def __init__(self, path: Path, incarnation: str) -> None:
        self.path = path
        self.incarnation = incarnation
        self.offset = 0
        self.partial = b""
        self.effects = 0

    def poll(self) -> int:
        if self.path.exists():
            with self.path.open("rb") as log:
                log.seek(self.offset)
                data = self.partial + log.read()
            self.offset += len(data) - len(self.partial)
            *whole, self.partial = data.split(b"\n")
            self.effects += sum(
                1
                for line in parse(whole)
                if line.kind == "E" and line.incarnation == self.incarnation
            )
        return self.effects


def all_exist(paths: Iterable[Path]) -> bool:
    return all(path.exists() for path in paths)


# -- child processes ---------------------------------------------------------------------------
@dataclass
class Child:
    label: str
    process: asyncio.subprocess.Process
    stdout: Path
    stderr: Path

    def output(self) -> str:
        return (
            f"--- {self.label} (exit {self.process.returncode}) stdout:\n"
            f"{self.stdout.read_text(errors='replace')}"
            f"--- {self.label} stderr:\n{self.stderr.read_text(errors='replace')}"
        )

    def wrote_to_stderr(self) -> bool:
        return self.stderr.stat().st_size > 0


def outputs(children: Iterable[Child]) -> str:
    return "\n".join(child.output() for child in children)


async def spawn(tmp_path: Path, mode: str, url: str, log: Path, label: str) -> Child:
    """``python tests/crash_worker.py MODE URL LOG LABEL`` with the repository on PYTHONPATH."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    stdout, stderr = tmp_path / f"{mode}-{label}.out", tmp_path / f"{mode}-{label}.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(WORKER), mode, url, str(log), label,
            stdout=out, stderr=err, env=env, cwd=ROOT,
        )  # fmt: skip
    return Child(label, process, stdout, stderr)


async def finish(child: Child, children: list[Child], timeout: float = FINISH_TIMEOUT) -> None:
    """Wait for ``child`` to exit by itself, with status 0."""
    try:
        await asyncio.wait_for(child.process.wait(), timeout)
    except TimeoutError:
        child.process.kill()
        await child.process.wait()
        pytest.fail(f"{child.label} did not finish in {timeout:g} s\n{outputs(children)}")
    assert child.process.returncode == 0, outputs(children)


# -- the store, read by the parent between runs -----------------------------------------------
@dataclass(frozen=True, slots=True)
class Snapshot:
    """The store right after a kill (the child is dead; nothing moves)."""

    checkpoints: dict[str, int]  # shard -> position of the last record done
    completed: frozenset[str]  # ids whose idempotency record is COMPLETED
    queue_in_flight: int  # messages taken and not deleted
    queue_total: int


async def snapshot(url: str, queue_ids: list[str], stream_ids: list[str]) -> Snapshot:
    """Open the database with a mesh of the same resources (never started) and read it."""
    mesh = quiet_mesh(url)
    topology = build(mesh)
    values = mesh.backend.values
    try:
        checkpoints = {
            shard: await checkpoint_position(topology, shard) for shard in topology.stream.shard_ids
        }
        keys = [(i, idempotency_key(values, QUEUE_FUNCTION, i)) for i in queue_ids]
        keys += [(i, idempotency_key(values, STREAM_NAMESPACE, i)) for i in stream_ids]
        stored = await asyncio.gather(*(values.get(key) for _, key in keys))
        completed = frozenset(
            item_id
            for (item_id, _), value in zip(keys, stored, strict=True)
            if value is not None and orjson.loads(value.value)["status"] == "COMPLETED"
        )
        stats = await topology.queue.stats()
    finally:
        await mesh.backend.close()
    return Snapshot(checkpoints, completed, stats.in_flight, stats.total)


async def produce(url: str) -> tuple[list[str], dict[str, tuple[str, int]]]:
    """N messages and N records, through a mesh on the file that is then closed.

    Returns the queue's ids and, for each stream id, its shard and position there.
    """
    mesh = quiet_mesh(url)
    topology = build(mesh)
    queue_ids = [f"q{i:04d}" for i in range(N)]
    stream_ids = [f"s{i:04d}" for i in range(N)]
    try:
        for start in range(0, N, 10):
            await topology.queue.send_batch([{"body": {"id": i}} for i in queue_ids[start:][:10]])
        await topology.stream.put_records(
            [{"data": {"id": i}, "partition_key": f"key-{i}"} for i in stream_ids]
        )
        positions: dict[str, tuple[str, int]] = {}
        for shard in topology.stream.shard_ids:
            iterator = await topology.stream.get_shard_iterator(shard, "TRIM_HORIZON")
            for record in (await topology.stream.get_records(iterator)).records:
                positions[record.json()["id"]] = (shard, record.position)
    finally:
        await mesh.backend.close()
    assert sorted(positions) == stream_ids
    assert len({shard for shard, _ in positions.values()}) == 2  # both shards have work
    return queue_ids, positions


# -- 1. crashes ----------------------------------------------------------------------------------
async def test_sigkill_at_random_points_loses_nothing_and_repeats_only_cut_side_effects(
    tmp_path: Path,
) -> None:
    """SIGKILL the consuming process KILLS times, restart it, let it finish; then:

    * at least once: every message and every record had its side effect, the queue is
      empty, every shard's checkpoint is at its newest record;
    * a stream checkpoint never passed a record not done: at every kill, every record at or
      before the stored checkpoint had its idempotent call completed;
    * what a kill caught in flight came back: records handled beyond the checkpoint were
      delivered again after the restart; messages taken and not deleted were processed later;
    * exactly once, as far as it can hold. The idempotency key is claimed (IN_PROGRESS, in the
      store) before the side effect and marked COMPLETED after it, in two transactions; the
      side effect (a line in a file) is in neither. A SIGKILL after the side effect and before
      the COMPLETED commit leaves a claim that expires (the queue function's: with the
      invocation's remaining time; the stream's: after mesh.idempotent's timeout); the
      message or record is redelivered (it was not deleted / not checkpointed) and the
      handler runs again: that repetition is required by at-least-once and no store can
      prevent it for an effect outside its transaction (only an effect written in the same
      transaction as the result, or an idempotent receiver, can). So the assertion is exact:
      an id's side effect happened 1 + k times, where k is the number of kills that cut its
      idempotent call in that window (it had a side effect in the killed run and no
      COMPLETED record right after the kill); any other repetition, or a repetition missing
      after a cut, fails the test.
    """
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    url = storage_url(tmp_path / "mesh.db")
    log = tmp_path / "effects.log"
    queue_ids, positions = await produce(url)
    stream_ids = sorted(positions)
    children: list[Child] = []
    snapshots: list[Snapshot] = []
    started = time.monotonic()

    for incarnation in range(KILLS):
        label = str(incarnation)
        child = await spawn(tmp_path, "consume", url, log, label)
        children.append(child)
        tail = LogTail(log, label)
        target = rng.randint(*KILL_AFTER)
        deadline = time.monotonic() + PROGRESS_TIMEOUT
        while tail.poll() < target:
            if child.process.returncode is not None or time.monotonic() > deadline:
                child.process.kill()
                await child.process.wait()
                pytest.fail(
                    f"seed {seed}: run {label} made {tail.effects} of {target} side effects, "
                    f"then stopped or stalled\n{outputs(children)}"
                )
            await asyncio.sleep(0.002)
        await asyncio.sleep(rng.uniform(0.0, 0.01))
        child.process.send_signal(signal.SIGKILL)
        await child.process.wait()
        assert child.process.returncode == -signal.SIGKILL, outputs(children)
        snapshots.append(await snapshot(url, queue_ids, stream_ids))

    final = await spawn(tmp_path, "consume", url, log, str(KILLS))
    children.append(final)
    await finish(final, children)
    elapsed = time.monotonic() - started
    end = await snapshot(url, queue_ids, stream_ids)
    lines = read_log(log)
    context = f"seed {seed}, {elapsed:.1f} s\n{outputs(children)}"

    # Every check runs, and every finding is reported at once.
    problems: list[str] = []

    def check(ok: bool, finding: str) -> None:
        if not ok:
            problems.append(finding)

    # Nothing went wrong quietly: no run logged a warning or an error (such as an idempotency
    # claim that expired while its call ran, which would void the exact count below).
    noisy = [child.label for child in children if child.wrote_to_stderr()]
    check(not noisy, f"runs that wrote to stderr: {noisy}")

    # A stream checkpoint never passed a record not done; what a kill caught in flight came back.
    runs_of: dict[tuple[str, str], set[int]] = {}
    for line in lines:
        runs_of.setdefault((line.kind, line.item_id), set()).add(int(line.incarnation))
    passed: list[tuple[int, str]] = []
    redelivered: list[tuple[int, str]] = []
    not_redelivered: list[tuple[int, str]] = []
    for kill, snap in enumerate(snapshots):
        for item_id, (shard, position) in positions.items():
            if position <= snap.checkpoints[shard]:
                done_by_then = min(runs_of.get(("C", item_id), {KILLS + 1})) <= kill
                if item_id not in snap.completed or not done_by_then:
                    passed.append((kill, item_id))
            elif kill in runs_of.get(("R", item_id), set()):
                later = max(runs_of[("R", item_id)]) > kill
                (redelivered if later else not_redelivered).append((kill, item_id))
    check(not passed, f"(kill, record) at or before the checkpoint, not done: {passed}")
    check(
        not not_redelivered, f"(kill, record) in flight, never delivered again: {not_redelivered}"
    )
    check(bool(redelivered), "no kill caught a stream batch in flight")
    in_flight = [snap.queue_in_flight for snap in snapshots]
    check(sum(in_flight) > 0, "no kill caught a message in flight")

    # At least once: every message and every record had its side effect; all is done.
    effected = {line.item_id for line in lines if line.kind == "E"}
    calls_done = {line.item_id for line in lines if line.kind == "C"}
    check(set(queue_ids) <= effected, f"messages lost: {sorted(set(queue_ids) - effected)}")
    check(set(stream_ids) <= effected, f"records lost: {sorted(set(stream_ids) - effected)}")
    check(set(stream_ids) <= calls_done, f"unfinished: {sorted(set(stream_ids) - calls_done)}")
    newest = {
        shard: max(p for s, p in positions.values() if s == shard) for shard in end.checkpoints
    }
    check(end.checkpoints == newest, f"final checkpoints {end.checkpoints}, newest {newest}")
    check(end.queue_total == 0, f"{end.queue_total} messages left in the queue")
    not_completed = sorted(set(queue_ids + stream_ids) - end.completed)
    check(not not_completed, f"no COMPLETED idempotency record: {not_completed}")

    # Exactly once, but for the window a kill can cut (see the docstring).
    effects = Counter(line.item_id for line in lines if line.kind == "E")
    runs_with_effect = {(line.incarnation, line.item_id) for line in lines if line.kind == "E"}
    cut: Counter[str] = Counter()
    for kill, snap in enumerate(snapshots):
        for item_id in queue_ids + stream_ids:
            if (str(kill), item_id) in runs_with_effect and item_id not in snap.completed:
                cut[item_id] += 1
    wrong = {
        item_id: (effects[item_id], cut[item_id])
        for item_id in queue_ids + stream_ids
        if effects[item_id] != 1 + cut[item_id]
    }
    check(not wrong, f"id: (side effects, kills that cut its idempotent call): {wrong}")

    assert problems == [], "\n".join([*problems, context])
    print(
        f"seed {seed}: {KILLS} kills in {elapsed:.1f} s; cut and repeated: "
        f"{sorted(cut)}; stream records redelivered: {len(redelivered)}; "
        f"messages in flight at kills: {in_flight}"
    )


# -- 2. restarts in process: async retries and schedules ---------------------------------------
async def test_an_async_event_in_retry_keeps_its_attempts_and_next_attempt_time_across_a_restart(
    tmp_path: Path,
) -> None:
    url = storage_url(tmp_path / "mesh.db")
    attempts: list[tuple[float, str]] = []  # (wall time, request id)

    def register(mesh: Mesh, failure: RecordingDestination | None = None) -> None:
        @mesh.function(name="always_fails", retries=2, on_failure=failure)
        async def always_fails(event: Any, context: Context) -> None:
            attempts.append((mesh.clock.time(), context.aws_request_id))
            raise ValueError(f"cannot process {event!r}")

    first_clock = VirtualClock()
    first = quiet_mesh(url, first_clock)
    register(first)
    async with first:
        accepted = await first.invoke("always_fails", {"order": 7}, invocation_type="Event")
        await settle_store(first_clock)
        assert attempts == [(T0, accepted.request_id)]
        await first_clock.advance(20)  # attempt 2 is due at T0 + 60: the process stops first

    # Down for 30 s of wall time; the new process's monotonic clock starts again at 0.
    second_clock = VirtualClock(start=first_clock.time() + 30)  # wall T0 + 50 at now() == 0
    failure = RecordingDestination()
    second = quiet_mesh(url, second_clock)
    register(second, failure)
    async with second:
        await second_clock.advance_to(9.5)
        assert len(attempts) == 1  # not run at restart, nor 60 s after it
        await second_clock.advance_to(10)  # wall T0 + 60: one minute after attempt 1
        await settle_store(second_clock)
        assert len(attempts) == 2
        await second_clock.advance_to(129.5)
        assert len(attempts) == 2
        await second_clock.advance_to(130)  # wall T0 + 180: two minutes after attempt 2
        await settle_store(second_clock)
        await second_clock.advance(3600)
    assert attempts == [(T0 + when, accepted.request_id) for when in (0, 60, 180)]
    assert len(failure.messages) == 1
    record = failure.messages[0]
    assert record["requestContext"]["requestId"] == accepted.request_id
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestPayload"] == {"order": 7}


async def test_a_schedule_due_while_the_process_was_down_fires_once_at_restart(
    tmp_path: Path,
) -> None:
    url = storage_url(tmp_path / "mesh.db")
    fired: list[str] = []

    async def record(payload: dict[str, Any]) -> None:
        fired.append(payload["time"])

    def mesh_at(clock: VirtualClock) -> Mesh:
        mesh = quiet_mesh(url, clock)
        mesh.schedule("rate(5 minutes)", record, name="every-5-minutes")
        return mesh

    first_clock = VirtualClock()
    async with mesh_at(first_clock):
        await first_clock.advance(600)
        await settle_store(first_clock)
    assert fired == ["2026-01-01T00:05:00Z", "2026-01-01T00:10:00Z"]

    # Down from 00:10:00 to 00:30:30: the ticks of 00:15, 00:20, 00:25 and 00:30 were missed.
    second_clock = VirtualClock(start=first_clock.time() + 20 * 60 + 30)
    async with mesh_at(second_clock):
        await settle_store(second_clock)
        assert fired[2:] == ["2026-01-01T00:30:00Z"]  # once, for the latest missed tick
        await second_clock.advance(269)  # 00:34:59
        await settle_store(second_clock)
        assert len(fired) == 3
        await second_clock.advance(1)  # 00:35:00: the rate goes on from its anchor
        await settle_store(second_clock)
        assert fired[3:] == ["2026-01-01T00:35:00Z"]

    third_clock = VirtualClock(start=second_clock.time() + 10)  # restarted within the period
    async with mesh_at(third_clock):
        await settle_store(third_clock)
    assert len(fired) == 4  # no tick fires twice


class HangingTarget:
    """A schedule target (anything with ``async send``) whose first process dies in ``send``."""

    name = "ticks"

    def __init__(self, hang: bool, sent: list[str]) -> None:
        self.hang = hang
        self.sent = sent

    async def send(self, message: Any, attributes: Any = None) -> None:
        if self.hang:
            await asyncio.Event().wait()  # the process is killed here, as far as the store knows
        self.sent.append(message["time"])


async def test_a_tick_whose_delivery_a_crash_cut_is_delivered_after_restart(
    tmp_path: Path,
) -> None:
    """A process that dies after claiming a tick and before its target took it: the restart
    delivers the tick (at least once), rather than finding it claimed and moving on."""
    url = storage_url(tmp_path / "mesh.db")
    sent: list[str] = []
    first_clock = VirtualClock()
    first = Mesh(storage=url, clock=first_clock, telemetry=Telemetry(enabled=False))
    first.drain_timeout = 0.05  # real seconds: the hanging send is then cancelled
    first.schedule("rate(5 minutes)", HangingTarget(True, sent), name="ticks")
    async with first:
        await first_clock.advance(300)  # 00:05:00: claimed, recorded, being sent
        await settle_store(first_clock)
    assert sent == []

    second_clock = VirtualClock(start=first_clock.time() + 60)  # back at 00:06:00
    second = quiet_mesh(url, second_clock)
    second.schedule("rate(5 minutes)", HangingTarget(False, sent), name="ticks")
    async with second:
        await settle_store(second_clock)
    assert sent == ["2026-01-01T00:05:00Z"]


# -- 3. damaged and foreign files ----------------------------------------------------------------
async def make_database(path: Path) -> None:
    """A real eventmesh database of a few dozen pages (messages of 500 bytes)."""
    mesh = quiet_mesh(storage_url(path))
    queue = mesh.queue("orders")
    for start in range(0, 200, 10):
        await queue.send_batch(
            [{"body": {"id": i, "pad": "x" * 500}} for i in range(start, start + 10)]
        )
    await mesh.backend.close()


def not_sqlite(path: Path) -> None:
    path.write_bytes(random.Random(6).randbytes(64 * 1024))


def another_application(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    conn.close()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        pytest.param(not_sqlite, r"not an eventmesh database: SQLite cannot read it", id="garbage"),
        pytest.param(
            another_application, r"another application's SQLite database.*invoices", id="foreign"
        ),
        pytest.param("header", r"not an eventmesh database: SQLite cannot read it", id="header"),
        pytest.param("truncated", r"SQLite cannot read it.*malformed", id="truncated"),
        pytest.param("pages", r"an eventmesh database, but damaged: .*quick_check", id="pages"),
    ],
)
async def test_a_damaged_or_foreign_database_is_refused_when_the_mesh_opens_it(
    tmp_path: Path, damage: Any, message: str
) -> None:
    """The error comes when the mesh binds its storage (at start, before anything runs); a
    damaged URL is refused by ``Mesh(storage=...)`` itself (see test_configuration).

    ``pages``: the header and the schema are intact, the data pages are not; without a check
    at open, such a file used to open and start, and then every poll failed.
    """
    path = tmp_path / "mesh.db"
    if callable(damage):
        damage(path)
    else:
        await make_database(path)
        page = 4096
        assert path.stat().st_size > 30 * page  # pages 10-19 hold messages
        with path.open("r+b") as file:
            if damage == "header":
                file.write(b"\xff" * 100)  # SQLite's 100-byte header
            elif damage == "pages":
                file.seek(10 * page)
                file.write(b"\xff" * 10 * page)
            else:
                file.truncate(path.stat().st_size // 2)
    before = path.read_bytes()
    mesh = Mesh(storage=storage_url(path))
    with pytest.raises(BackendError, match=message) as refused:
        await mesh.start()
    assert not mesh.running
    assert str(path) in str(refused.value)  # it says which file
    assert path.read_bytes() == before  # and leaves it as it was


async def test_a_mesh_whose_store_fails_still_shuts_down(tmp_path: Path) -> None:
    """A store that fails under a running mesh (closed here; in the field a disk error) must
    not keep it running when it stops: stop() used to raise from drain() and skip shutting
    down, leaving the pollers logging the failure every second."""
    mesh = quiet_mesh(storage_url(tmp_path / "mesh.db"), VirtualClock())
    mesh.queue("orders").subscribe(mesh.function(name="consume")(_ignore))
    await mesh.start()
    await mesh.backend.close()  # the store fails under the running mesh
    try:
        with contextlib.suppress(BackendError):
            await mesh.stop()
        assert not mesh.running
    finally:
        if mesh.running:
            await mesh._shut_down()


async def _ignore(event: Any, context: Context) -> None:
    """A handler that does nothing."""


# -- 4. two processes on one database ------------------------------------------------------------
async def test_two_processes_consuming_one_queue_of_one_database_process_each_message_once(
    tmp_path: Path,
) -> None:
    url = storage_url(tmp_path / "mesh.db")
    ids = [f"m{i:04d}" for i in range(400)]
    mesh = quiet_mesh(url)
    queue = mesh.queue(crash_worker.QUEUE)
    for start in range(0, len(ids), 10):
        await queue.send_batch([{"body": {"id": i}} for i in ids[start : start + 10]])
    await mesh.backend.close()

    logs = {name: tmp_path / f"{name}.log" for name in ("a", "b")}
    children = [await spawn(tmp_path, "share", url, log, name) for name, log in logs.items()]
    deadline = time.monotonic() + PROGRESS_TIMEOUT
    while not all_exist(Path(f"{log}.ready") for log in logs.values()):
        assert time.monotonic() < deadline, outputs(children)
        assert all(c.process.returncode is None for c in children), outputs(children)
        await asyncio.sleep(0.005)
    (tmp_path / "go").touch()  # both are open on the file: both start polling now
    for child in children:
        await finish(child, children)

    got = {name: [line.item_id for line in read_log(log)] for name, log in logs.items()}
    everything = got["a"] + got["b"]
    context = f"{ {name: len(items) for name, items in got.items()} }\n{outputs(children)}"
    assert sorted(everything) == ids, context  # every message, none twice
    assert all(got.values()), context  # a store that both really shared
    assert not [c.label for c in children if c.wrote_to_stderr()], context
