"""The raw ``sqlite3`` loop eventmesh is measured beside when its storage is SQLite.

:class:`RawSQLiteQueue` is the smallest durable queue with eventmesh's at-least-once
guarantee, in the standard library's :mod:`sqlite3` and nothing else: a table of messages
with a visible-at time (0 for a new message, so new messages come out in send order) and a
body. It runs with exactly the settings of eventmesh's store
(:func:`~eventmesh.backends.sqlite.apply_pragmas`: WAL, the URL's ``synchronous``), and each
step of the durable work is a transaction of its own per batch:

1. *insert* up to a batch of sent messages (their senders are answered after the commit,
   as eventmesh answers a send only once it is durable);
2. *claim* a batch: select the visible messages in order and mark them in flight until now
   plus the visibility timeout (a consumer that dies leaves them to come back);
3. *delete* the batch once it was handled.

So a message costs three commits per batch, each one fsync with ``synchronous=FULL``.
:class:`RawSQLiteLoop` runs it on the event loop's own thread (no writer thread, no
futures crossing threads): sends are inserted by one flush per event-loop turn, a batch per
transaction, and consumer tasks claim, deliver and delete. It keeps no message ids,
receipts, receive counts, groups, delays or dead letters: those are what eventmesh adds.

:func:`bench_database` gives a bench run a database of its own and deletes every file of it
afterwards (see its docstring for what a named path means).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path

from eventmesh.backends.sqlite import Synchronous, apply_pragmas, parse_sqlite_url
from eventmesh.bench.options import OptionsError

__all__ = [
    "RAW_SUFFIX",
    "SIDECARS",
    "RawSQLiteLoop",
    "RawSQLiteQueue",
    "bench_database",
    "database_files",
    "is_sqlite",
    "raw_path",
    "sqlite_settings",
]

RAW_SUFFIX = ".raw"
"""The raw loop's database is the mesh's path plus this suffix."""
SIDECARS = ("", "-wal", "-shm", "-journal")
"""Suffixes of the files SQLite keeps for a database."""
WAIT = 0.1
"""Seconds an idle raw consumer waits before claiming again (a hidden message may be due)."""


def is_sqlite(storage: str) -> bool:
    return storage.split(":", 1)[0].lower() == "sqlite"


def sqlite_settings(storage: str) -> tuple[str, Synchronous]:
    """The database path and the ``synchronous`` level of an SQLite storage URL (FULL when
    it names none, as the store's default)."""
    path, options = parse_sqlite_url(storage)
    level = str(options.get("synchronous", "FULL")).upper()
    return path, "NORMAL" if level == "NORMAL" else "FULL"


def raw_path(storage: str) -> str:
    """Where the raw loop of a run on ``storage`` keeps its database."""
    return sqlite_settings(storage)[0] + RAW_SUFFIX


def database_files(path: str) -> list[Path]:
    """Every file SQLite may keep for the database at ``path`` (existing or not)."""
    return [Path(path + suffix) for suffix in SIDECARS]


def _remove(paths: Sequence[Path]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def bench_database(storage: str) -> Iterator[str]:
    """The SQLite storage URL a bench run uses for ``storage``; every file of it, the mesh's
    and the raw loop's, is deleted when the block ends, however it ends (an error, Ctrl-C).

    * No path (``sqlite://``, ``sqlite:///?synchronous=NORMAL``): a fresh temporary directory
      (``TMPDIR`` chooses where) holds both databases and is removed afterwards.
    * A path: it names the file the bench creates, so it must not exist yet (nor its
      ``-wal``, ``-shm`` or ``-journal``, nor the raw loop's ``PATH.raw``): the bench never
      runs on, nor deletes, a database it did not create. Refused with an
      :class:`~eventmesh.bench.options.OptionsError` otherwise. Its directory is the disk
      measured: name one on the disk your application will use (a tmpfs fsyncs for free).

    A SIGKILL of the bench process is the one end that leaves the files behind.
    """
    head, question, query = storage.partition("?")
    scheme, _, rest = head.partition(":")
    if rest.lstrip("/") == "":
        folder = tempfile.mkdtemp(prefix="eventmesh-bench-")
        try:
            yield f"{scheme}:///{folder}/bench.db{question}{query}"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    path = sqlite_settings(storage)[0]
    ours = database_files(path) + database_files(path + RAW_SUFFIX)
    if found := [str(file) for file in ours if file.exists()]:
        raise OptionsError(
            f"--storage {head}: {', '.join(found)} already exists; the bench creates its "
            "database and deletes it afterwards, so it never uses an existing one: name a "
            "new path, or give none (sqlite://) for a temporary file"
        )
    try:
        yield storage
    finally:
        _remove(ours)


class RawSQLiteQueue:
    """A table of (seq, visible_at, body) in its own database: see the module docstring.

    Synchronous: each method is one transaction, run on the caller's thread.
    """

    def __init__(self, path: str, synchronous: Synchronous, visibility: float = 900.0) -> None:
        self.path = path
        self.visibility = visibility
        self.commits = 0
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            apply_pragmas(self._conn, path, synchronous)
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS raw_queue"
                " (seq INTEGER PRIMARY KEY, visible_at REAL NOT NULL, body BLOB NOT NULL)"
            )
            self._conn.execute(
                "CREATE INDEX IF NOT EXISTS raw_queue_visible ON raw_queue (visible_at, seq)"
            )
        except BaseException:
            self._conn.close()
            raise

    def _transaction(
        self, work: Callable[[sqlite3.Connection], list[tuple[int, bytes]]]
    ) -> list[tuple[int, bytes]]:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = work(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        self.commits += 1
        return result

    def insert(self, bodies: Sequence[bytes]) -> None:
        """Store ``bodies``, visible at once, in send order: one transaction."""

        def work(conn: sqlite3.Connection) -> list[tuple[int, bytes]]:
            conn.executemany(
                "INSERT INTO raw_queue (visible_at, body) VALUES (0, ?)",
                [(body,) for body in bodies],
            )
            return []

        self._transaction(work)

    def claim(self, count: int, now: float | None = None) -> list[tuple[int, bytes]]:
        """Up to ``count`` visible messages as (seq, body), in flight for the visibility
        timeout from ``now`` (wall time unless given): one transaction (none written when
        none is visible)."""
        if now is None:
            now = time.time()

        def work(conn: sqlite3.Connection) -> list[tuple[int, bytes]]:
            rows: list[tuple[int, bytes]] = conn.execute(
                "SELECT seq, body FROM raw_queue WHERE visible_at <= ?"
                " ORDER BY visible_at, seq LIMIT ?",
                (now, count),
            ).fetchall()
            if rows:
                hidden = now + self.visibility
                conn.executemany(
                    "UPDATE raw_queue SET visible_at = ? WHERE seq = ?",
                    [(hidden, seq) for seq, _ in rows],
                )
            return rows

        return self._transaction(work)

    def delete(self, seqs: Sequence[int]) -> None:
        """Delete handled messages: one transaction for the batch."""

        def work(conn: sqlite3.Connection) -> list[tuple[int, bytes]]:
            conn.executemany("DELETE FROM raw_queue WHERE seq = ?", [(seq,) for seq in seqs])
            return []

        self._transaction(work)

    def pragma(self, name: str) -> object:
        """A setting of the loop's connection, as SQLite reports it (``synchronous``...)."""
        return self._conn.execute(f"PRAGMA {name}").fetchone()[0]

    def count(self) -> int:
        """Messages stored (visible or in flight)."""
        return int(self._conn.execute("SELECT COUNT(*) FROM raw_queue").fetchone()[0])

    def close(self) -> None:
        self._conn.close()


class RawSQLiteLoop:
    """Senders, one flush per event-loop turn and ``consumers`` consumer tasks over a
    :class:`RawSQLiteQueue`, all on the event loop's thread.

    ``send`` returns once its message is committed. Sends made in one turn of the event
    loop are inserted by one flush, ``batch`` per transaction; a consumer claims up to
    ``batch``, awaits ``deliver`` with their bodies, deletes them, and yields to the loop.
    """

    def __init__(
        self,
        queue: RawSQLiteQueue,
        deliver: Callable[[list[bytes]], Awaitable[None]],
        batch: int,
        consumers: int,
    ) -> None:
        self.queue = queue
        self._deliver = deliver
        self._batch = batch
        self._consumers = consumers
        self._pending: list[tuple[bytes, asyncio.Future[None]]] = []
        self._flush_scheduled = False
        self._bell = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._running = True

    async def send(self, body: bytes) -> None:
        """Queue ``body`` for the next flush; return once it is committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((body, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        await future

    def store(self, bodies: Sequence[bytes]) -> None:
        """Insert ``bodies`` at once (a backlog's fill), ``batch`` per transaction."""
        for first in range(0, len(bodies), self._batch):
            self.queue.insert(bodies[first : first + self._batch])

    def _flush(self) -> None:
        self._flush_scheduled = False
        pending, self._pending = self._pending, []
        for first in range(0, len(pending), self._batch):
            chunk = pending[first : first + self._batch]
            try:
                self.queue.insert([body for body, _ in chunk])
            except Exception as exc:
                for _, future in chunk:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for _, future in chunk:
                if not future.done():
                    future.set_result(None)
        self._bell.set()

    def start(self) -> None:
        """Start the consumers (once)."""
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._consume()) for _ in range(self._consumers)]

    async def _consume(self) -> None:
        queue, deliver, batch, bell = self.queue, self._deliver, self._batch, self._bell
        while self._running:
            rows = queue.claim(batch)
            if not rows:
                bell.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(bell.wait(), WAIT)
                continue
            await deliver([body for _, body in rows])
            queue.delete([seq for seq, _ in rows])
            await asyncio.sleep(0)  # a handler that never suspends must not starve senders

    async def stop(self) -> None:
        """Stop the consumers after the batch in hand; fail sends not flushed yet."""
        self._running = False
        self._bell.set()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for _, future in self._pending:
            if not future.done():
                future.cancel()
        self._pending.clear()
