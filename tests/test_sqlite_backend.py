"""The SQLite backend beyond the shared conformance suite: what only a durable store can show.

Reopening (data, receive counts, in-flight state, sequences, versions), refusing foreign
files, two connections on one file (as two processes have), group commit, and the event loop
staying free while SQLite works.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from eventmesh import BackendError, ConfigurationError
from eventmesh._clock import RealClock
from eventmesh.backends.protocols import BlobInfo, LogRecord, OutgoingMessage, StoredValue
from eventmesh.backends.sqlite import (
    APPLICATION_ID,
    SQLiteBackend,
    sqlite_backend,
    sqlite_backend_from_url,
)
from eventmesh.testing import VirtualClock

T0 = 1_767_225_600.0  # VirtualClock's default start (wall time at now() == 0)

Open = Callable[..., SQLiteBackend]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "mesh.db"


@pytest.fixture
async def opened() -> AsyncIterator[Open]:
    """Open backends (NORMAL unless asked); every one is closed at the end of the test."""
    backends: list[SQLiteBackend] = []

    def open_(path: Path, clock: object, **options: object) -> SQLiteBackend:
        options.setdefault("synchronous", "NORMAL")
        backend = sqlite_backend(path, clock, **options)  # type: ignore[arg-type]
        backends.append(backend)
        return backend

    yield open_
    for backend in backends:
        await backend.close()


def messages(*bodies: str, **options: object) -> list[OutgoingMessage]:
    return [OutgoingMessage(body.encode(), **options) for body in bodies]  # type: ignore[arg-type]


# -- data survives close and reopen ------------------------------------------------------------
async def test_queue_messages_survive_reopen_with_their_receive_state(
    path: Path, opened: Open
) -> None:
    before = opened(path, VirtualClock())
    ids = await before.queues.send("q", messages("a", "b", attributes={"k": "v"}))
    await before.queues.send("q", messages("later", delay=60))
    (a,) = await before.queues.receive("q", 1, visibility_timeout=30)
    (b,) = await before.queues.receive("q", 1, visibility_timeout=100)
    await before.close()

    clock = VirtualClock()  # a restart: monotonic time starts again, wall time goes on
    after = opened(path, clock)
    stats = await after.queues.stats("q")
    assert (stats.visible, stats.in_flight, stats.delayed) == (0, 2, 1)
    assert await after.queues.receive("q", 10, 30) == []  # a is still hidden after reopen
    assert await after.queues.delete("q", [b.receipt]) == 1  # a receipt outlives a restart

    poll = asyncio.create_task(after.queues.receive("q", 10, 30, wait=45))
    await clock.advance(29.9)
    assert not poll.done()
    await clock.advance(0.1)  # a's visibility ends at T0 + 30 on the wall clock
    (again,) = await poll
    assert (again.message_id, again.body, again.attributes) == (ids[0], b"a", {"k": "v"})
    assert again.receive_count == 2
    assert again.first_received_at == a.first_received_at == T0
    assert await after.queues.delete("q", [a.receipt]) == 0  # stale since the redelivery
    assert await after.queues.delete("q", [again.receipt]) == 1
    await clock.advance(30)
    assert [d.body for d in await after.queues.receive("q", 10, 30)] == [b"later"]


async def test_log_records_and_sequences_survive_reopen(path: Path, opened: Open) -> None:
    clock = VirtualClock()
    before = opened(path, clock)
    await before.logs.append("s", "0", [(b"a", "k", {"x": "1"}), (b"b", "k", {})])
    await clock.advance(10)
    await before.logs.append("s", "0", [(b"c", "k", {})])
    assert await before.logs.trim("s", "0", before=T0 + 5) == 2
    await before.close()

    after = opened(path, VirtualClock(start=T0 + 20))
    assert await after.logs.bounds("s", "0") == (2, 3)
    assert await after.logs.read("s", "0", 0, 10) == [LogRecord(3, b"c", "k", T0 + 10, {})]
    assert await after.logs.sequence_at("s", "0", T0 + 15) == 3
    appended = await after.logs.append("s", "0", [(b"d", "k", {"y": "2"})])
    assert appended == [LogRecord(4, b"d", "k", T0 + 20, {"y": "2"})]  # never reused


async def test_values_and_versions_survive_reopen(path: Path, opened: Open) -> None:
    before = opened(path, VirtualClock())
    kept = await before.values.put("kept", b"1")
    leased = await before.values.put("lease", b"me", ttl=30)
    deleted = await before.values.put("gone", b"x")
    await before.values.delete("gone")
    await before.close()

    after = opened(path, VirtualClock(start=T0 + 10))
    assert await after.values.get("kept") == StoredValue(b"1", kept or 0, None)
    assert await after.values.get("lease") == StoredValue(b"me", leased or 0, T0 + 30)
    again = await after.values.put("gone", b"y")
    assert again is not None and deleted is not None and again > deleted  # no ABA on restart
    await after.close()

    late = opened(path, VirtualClock(start=T0 + 30))  # the lease expired while we were down
    assert await late.values.get("lease") is None
    assert await late.values.put("lease", b"you", only_if_absent=True) is not None


async def test_blobs_survive_reopen(path: Path, opened: Open) -> None:
    before = opened(path, VirtualClock())
    await before.blobs.put("b", "k/1", b"hello", {"m": "1"}, "text/plain")
    await before.blobs.put("b", "k/2", b"")
    await before.close()

    after = opened(path, VirtualClock())
    info = BlobInfo("k/1", 5, "5d41402abc4b2a76b9719d911017c592", T0, {"m": "1"}, "text/plain")
    assert await after.blobs.get("b", "k/1") == (b"hello", info)
    assert [i.key for i in await after.blobs.list("b", prefix="k/")] == ["k/1", "k/2"]


# -- opening the wrong file ----------------------------------------------------------------------
def test_a_file_that_is_not_sqlite_is_refused(path: Path) -> None:
    path.write_bytes(os.urandom(4096))
    with pytest.raises(BackendError, match=r"not an eventmesh database: SQLite cannot read it"):
        sqlite_backend(path, VirtualClock())


def test_another_applications_sqlite_database_is_refused_and_left_alone(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY)")
    conn.close()
    with pytest.raises(BackendError, match=r"another application's SQLite database.*customers"):
        sqlite_backend(path, VirtualClock())
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # not switched to WAL
    conn.close()


def test_a_database_with_another_application_id_is_refused(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA application_id = 1234")
    conn.close()
    with pytest.raises(BackendError, match=r"belongs to another application.*0x000004d2"):
        sqlite_backend(path, VirtualClock())


async def test_a_damaged_or_newer_eventmesh_database_is_refused(path: Path) -> None:
    await sqlite_backend(path, VirtualClock(), synchronous="NORMAL").close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("UPDATE meta SET value = 99 WHERE key = 'schema_version'")
    with pytest.raises(BackendError, match=r"written by a newer eventmesh \(schema 99"):
        sqlite_backend(path, VirtualClock())
    conn.execute("DROP TABLE meta")
    conn.close()
    with pytest.raises(BackendError, match=r"no readable schema.*damaged"):
        sqlite_backend(path, VirtualClock())


def test_an_unreachable_path_is_a_backend_error(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="cannot open the SQLite database"):
        sqlite_backend(tmp_path / "missing" / "mesh.db", VirtualClock())


# -- two connections on one file, as two processes ---------------------------------------------
async def test_two_backends_on_one_file_never_deliver_a_message_twice(
    path: Path, opened: Open
) -> None:
    one, two = opened(path, VirtualClock()), opened(path, VirtualClock())
    await one.queues.send("q", messages(*(str(i) for i in range(300))))

    async def consume(backend: SQLiteBackend) -> list[bytes]:
        got: list[bytes] = []
        while batch := await backend.queues.receive("q", 4, 30):
            got.extend(d.body for d in batch)
            await backend.queues.delete("q", [d.receipt for d in batch])
        return got

    results = await asyncio.gather(*(consume(b) for b in (one, two) for _ in range(4)))
    everything = [body for result in results for body in result]
    assert sorted(everything) == sorted(str(i).encode() for i in range(300))
    assert (await two.queues.stats("q")).total == 0


async def test_two_backends_on_one_file_have_one_conditional_winner(
    path: Path, opened: Open
) -> None:
    one, two = opened(path, VirtualClock()), opened(path, VirtualClock())
    results = await asyncio.gather(
        *(
            backend.values.put("tick", f"{n}-{i}".encode(), only_if_absent=True)
            for i in range(25)
            for n, backend in enumerate((one, two))
        )
    )
    assert sum(version is not None for version in results) == 1
    assert await one.values.get("tick") == await two.values.get("tick")


async def test_a_long_poll_discovers_another_connections_send_on_its_recheck(
    path: Path, opened: Open
) -> None:
    clock = VirtualClock()
    one, two = opened(path, clock), opened(path, clock, poll_interval=1.0)
    poll = asyncio.create_task(two.queues.receive("q", 10, 30, wait=20))
    await clock.advance(0.5)
    await one.queues.send("q", messages("from elsewhere"))  # wakes only `one`'s waiters
    await clock.advance(0.4)
    assert not poll.done()
    await clock.advance(0.1)  # the one-second re-check
    assert [d.body for d in await poll] == [b"from elsewhere"]


CONSUMER = """
import asyncio, json, sys
from eventmesh._clock import RealClock
from eventmesh.backends.sqlite import sqlite_backend

async def main(path, name):
    backend = sqlite_backend(path, RealClock(), synchronous="NORMAL")
    await backend.values.put("ready-" + name, b"1")
    for other in ("ready-a", "ready-b"):  # the other process, polled for 30 s at most
        for _ in range(3000):
            if await backend.values.get(other) is not None:
                break
            await asyncio.sleep(0.01)
    won = await backend.values.put("lease", name.encode(), only_if_absent=True) is not None
    got = []
    while batch := await backend.queues.receive("q", 3, 30):
        got.extend(d.body.decode() for d in batch)
        await backend.queues.delete("q", [d.receipt for d in batch])
    await backend.close()
    print(json.dumps({"won": won, "got": got}))

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_two_processes_share_one_database(path: Path) -> None:
    backend = sqlite_backend(path, RealClock(), synchronous="NORMAL")
    await backend.queues.send("q", messages(*(str(i) for i in range(400))))
    await backend.close()
    script = textwrap.dedent(CONSUMER)
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, str(path), name, stdout=subprocess.PIPE
        )
        for name in ("a", "b")
    ]
    outputs = [json.loads((await p.communicate())[0]) for p in processes]
    assert [p.returncode for p in processes] == [0, 0]
    assert sum(output["won"] for output in outputs) == 1
    everything = [body for output in outputs for body in output["got"]]
    assert sorted(everything, key=int) == [str(i) for i in range(400)]


# -- group commit, the thread, durability settings, closing --------------------------------------
async def test_concurrent_writes_share_commits(path: Path, opened: Open) -> None:
    backend = opened(path, VirtualClock())
    commits, operations = backend.commits, backend.operations
    # (Puts: sends of one event-loop turn are merged before they reach the thread, below.)
    puts = [backend.values.put(f"k{i}", str(i).encode()) for i in range(1000)]
    assert all(await asyncio.gather(*puts))
    assert backend.operations - operations == 1000
    assert backend.commits - commits <= 50  # ~1-5 here: every put queued while one commits
    for i in (0, 499, 999):
        stored = await backend.values.get(f"k{i}")
        assert stored is not None and stored.value == str(i).encode()


def _rows(path: Path) -> list[tuple[str, bytes]]:
    """(queue, body) of every stored message, as another process sees the file."""
    with sqlite3.connect(path) as other:
        return other.execute("SELECT queue, body FROM messages ORDER BY seq").fetchall()


async def test_concurrent_sends_are_one_insert_in_one_commit_answered_after_it(
    path: Path, opened: Open
) -> None:
    backend = opened(path, RealClock())
    await backend.queues.send("warm", messages("w"))
    commits, operations = backend.commits, backend.operations
    sends = [backend.queues.send("q", messages(f"m{i}", f"n{i}")) for i in range(500)]
    ids = await asyncio.gather(*sends)
    assert backend.operations - operations == 1 and backend.commits - commits == 1
    assert len({i for pair in ids for i in pair}) == 1000
    # Answered after the commit: another connection sees all of them, in send order.
    bodies = [body.decode() for queue, body in _rows(path) if queue == "q"]
    assert bodies == [body for i in range(500) for body in (f"m{i}", f"n{i}")]
    received = await backend.queues.receive("q", 10, 30)
    assert [d.message_id for d in received] == [i for pair in ids[:5] for i in pair]


async def test_coalesced_sends_to_several_queues_land_each_in_its_own_and_wake_its_polls(
    path: Path, opened: Open
) -> None:
    backend = opened(path, RealClock(), poll_interval=30.0)
    polls = [asyncio.create_task(backend.queues.receive(q, 10, 30, wait=20)) for q in "ab"]
    await asyncio.sleep(0.05)
    await asyncio.gather(
        backend.queues.send("a", messages("a1")),
        backend.queues.send("b", messages("b1", "b2")),
        backend.queues.send("a", messages("a2")),
    )
    got = await asyncio.wait_for(asyncio.gather(*polls), 5)  # woken, not after poll_interval
    assert [[d.body for d in batch] for batch in got] == [[b"a1", b"a2"], [b"b1", b"b2"]]


async def test_a_send_cancelled_before_its_flush_is_not_stored_and_spares_the_others(
    path: Path, opened: Open
) -> None:
    backend = opened(path, RealClock())
    kept = asyncio.ensure_future(backend.queues.send("q", messages("kept")))
    dropped = asyncio.ensure_future(backend.queues.send("q", messages("dropped")))
    await asyncio.sleep(0)  # both have queued their rows; the flush comes at the end of a turn
    dropped.cancel()
    assert len(await kept) == 1
    with pytest.raises(asyncio.CancelledError):
        await dropped
    assert [body for _, body in _rows(path)] == [b"kept"]


async def test_a_send_waiting_for_its_flush_is_committed_by_close(path: Path, opened: Open) -> None:
    backend = opened(path, RealClock())
    pending = asyncio.ensure_future(backend.queues.send("q", messages("last")))
    await asyncio.sleep(0)  # the send holds its rows for the end-of-turn flush
    await backend.close()  # closing runs the flush before it stops the thread
    assert len(await asyncio.wait_for(pending, 5)) == 1
    assert [body for _, body in _rows(path)] == [b"last"]


async def test_the_event_loop_runs_while_sqlite_waits(path: Path, opened: Open) -> None:
    backend = opened(path, RealClock(), busy_timeout=5.0)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    send = asyncio.create_task(backend.queues.send("q", messages("m")))
    ticks = 0
    for _ in range(20):  # the send starts at the first turn; a send on the loop would block it
        await asyncio.sleep(0)
        ticks += 1
    assert not send.done() and ticks == 20  # the send waits on its thread, the loop runs on
    blocker.execute("COMMIT")
    blocker.close()
    assert len(await send) == 1


async def test_a_failing_operation_does_not_undo_its_batch(path: Path, opened: Open) -> None:
    backend = opened(path, VirtualClock())
    bad: object = object()  # SQLite cannot bind it
    results = await asyncio.gather(
        backend.values.put("a", b"1"),
        backend.values.put("bad", bad),  # type: ignore[arg-type]
        backend.values.put("b", b"2"),
        return_exceptions=True,
    )
    assert isinstance(results[1], BackendError)
    assert [isinstance(r, int) for r in results] == [True, False, True]
    assert await backend.values.get("bad") is None
    assert (await backend.values.get("b") or StoredValue(b"", 0)).value == b"2"


@pytest.mark.parametrize(("synchronous", "level"), [("FULL", 2), ("NORMAL", 1), ("normal", 1)])
async def test_the_durability_setting_reaches_sqlite(
    path: Path, opened: Open, synchronous: str, level: int
) -> None:
    backend = opened(path, VirtualClock(), synchronous=synchronous)
    pragmas = await backend.pragmas()
    assert pragmas["synchronous"] == level
    assert pragmas["journal_mode"] == "wal"
    assert pragmas["application_id"] == APPLICATION_ID


async def test_the_default_durability_is_full(path: Path) -> None:
    backend = sqlite_backend(path, VirtualClock())
    assert backend.synchronous == "FULL"
    assert (await backend.pragmas())["synchronous"] == 2
    await backend.close()
    with pytest.raises(ConfigurationError, match="synchronous must be"):
        sqlite_backend(path, VirtualClock(), synchronous="OFF")  # type: ignore[arg-type]


async def test_close_flushes_queued_work_and_is_idempotent(path: Path, opened: Open) -> None:
    clock = VirtualClock()
    backend = sqlite_backend(path, clock, synchronous="NORMAL")
    sends = [asyncio.create_task(backend.queues.send("q", messages(str(i)))) for i in range(50)]
    poll = asyncio.create_task(backend.queues.receive("other", 1, 30, wait=1000))
    await asyncio.sleep(0)  # every send is queued, none committed
    await backend.close()
    await backend.close()
    await backend.values.close()  # any store closes the same file: still fine
    assert all(send.done() and len(send.result()) == 1 for send in sends)
    assert await poll == []  # closing ends long polls
    with pytest.raises(BackendError, match="closed"):
        await backend.queues.send("q", messages("late"))
    reopened = opened(path, clock)
    assert (await reopened.queues.stats("q")).visible == 50


# -- storage URLs ------------------------------------------------------------------------------
async def test_storage_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    absolute = sqlite_backend_from_url(
        f"sqlite:///{tmp_path}/abs.db?synchronous=NORMAL", RealClock()
    )
    assert (absolute.path, absolute.synchronous) == (f"{tmp_path}/abs.db", "NORMAL")
    await absolute.close()
    monkeypatch.chdir(tmp_path)
    relative = sqlite_backend_from_url("sqlite:///rel.db", RealClock())
    assert (relative.path, relative.synchronous) == ("rel.db", "FULL")
    await relative.close()
    assert (tmp_path / "rel.db").exists()
    bad_urls = (
        "sqlite://",
        "sqlite:///",
        "sqlite://x.db",
        "sqlite:///:memory:",
        "sqlite:///x.db?fsync=1",
        "sqlite:///x.db?synchronous=OFF",
    )
    for bad in (*bad_urls, "sqlite:///x.db?busy_timeout=soon", "postgres://x"):
        with pytest.raises(ConfigurationError):
            sqlite_backend_from_url(bad, RealClock())


async def test_a_large_send_keeps_its_order_across_the_multi_row_inserts(
    path: Path, opened: Open
) -> None:
    backend = opened(path, VirtualClock())
    bodies = [f"m{i:03d}" for i in range(103)]  # 64 + 32 + 4 + 2 + 1 rows per statement
    ids = await backend.queues.send("q", messages(*bodies, attributes={"k": "v"}))
    received = []
    while batch := await backend.queues.receive("q", 10, 30):
        received += batch
    assert [d.body.decode() for d in received] == bodies
    assert [d.message_id for d in received] == ids
    assert all(d.attributes == {"k": "v"} and d.receive_count == 1 for d in received)


async def test_one_delete_call_counts_current_receipts_only(path: Path, opened: Open) -> None:
    clock = VirtualClock()
    backend = opened(path, clock)
    await backend.queues.send("q", messages(*"abcde"))
    first = await backend.queues.receive("q", 5, visibility_timeout=10)
    await clock.advance(11)  # a, b, c, d, e come back: the first receipts are stale
    second = await backend.queues.receive("q", 3, visibility_timeout=10)
    assert [d.receive_count for d in second] == [2, 2, 2]
    assert all(d.first_received_at == first[0].first_received_at for d in second)
    receipts = [
        second[0].receipt,
        second[0].receipt,  # the same receipt twice deletes once
        second[1].receipt,
        first[2].receipt,  # stale: c was received again
        first[3].receipt,  # stale: d surfaced again and is visible
        "not-a-receipt",
        second[2].receipt.replace(":2:", ":1:"),  # the right message, an old receive
    ]
    assert await backend.queues.delete("q", receipts) == 2
    assert await backend.queues.delete("other", [second[2].receipt]) == 0  # another queue's
    stats = await backend.queues.stats("q")
    assert (stats.visible, stats.in_flight) == (2, 1)  # d, e visible; c in flight
