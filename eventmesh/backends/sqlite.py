"""The SQLite backend: the four stores in one file, durable across crashes and restarts.

``sqlite_backend(path, clock)`` opens (or creates) an eventmesh database with the standard
library's :mod:`sqlite3` in WAL mode and returns an :class:`SQLiteBackend`: the same semantics
as the in-memory backend, kept on disk.

Durability (``synchronous``; the two levels that are safe in WAL mode):

``"FULL"`` (the default)
    Every commit fsyncs the write-ahead log before the caller is answered. An acknowledged
    write survives a process crash, an OS crash and a power loss. Costs one fsync per commit
    (not per message: see group commit below).
``"NORMAL"``
    The log is fsynced only at checkpoints. An acknowledged write survives a crash of the
    process (SIGKILL included: it is in the OS's page cache); an OS crash or power loss may
    undo the transactions committed since the last checkpoint. The file is never corrupted
    either way: it comes back at an earlier, consistent point.

Threading and group commit: all SQLite work of a backend runs on one dedicated thread with
its own connection; the event loop never touches the file. Callers put operations on a
queue and await an :mod:`asyncio` future. The thread takes every operation queued since its
last commit, runs them in one transaction and commits once (should one fail, the batch is
rolled back and run again with each operation in a savepoint, so that it fails alone); only
then are the callers answered, so throughput is not one fsync per message and nothing is
acknowledged before it is durable. Reads share the thread rather than a second connection:
the hot paths of these protocols are writes anyway (a receive claims messages, a put checks
then writes), one connection orders every operation of a process simply, and a read-only
batch costs no fsync. ``commits`` counts write transactions, for tests and benchmarks.
Sends made in one turn of the event loop reach the thread as one operation (one insert).

Few steps: Python's :mod:`sqlite3` releases the GIL around every step of a statement (each
row of an ``executemany``, each row a ``SELECT`` returns) and must take it back afterwards.
While the event loop is busy, taking it back waits for the loop to let go: up to the
interpreter's switch interval (5 ms). A thousand single-row inserts took 1.4 ms with an idle
loop and 80-140 ms with a busy one on a 2-core machine; the same rows in 64-row statements
2-4 ms either way. So the thread's statements touch many rows each: multi-row inserts, one
``UPDATE`` for a receive's claims, two statements for a delete call, whatever their sizes.

Time: the backend takes every time from the mesh's clock, read on the event loop when an
operation is submitted, so a :class:`~eventmesh.testing.VirtualClock` drives visibility
timeouts, delays and expiries in tests. Deadlines are stored as *wall* times
(``clock.time()``): monotonic time restarts with the process, wall time does not, so an
in-flight message still comes back after its visibility timeout when the file is reopened.
(A wall clock stepped back lengthens the hiding by that step.) A wall time near 1.8e9 s holds
only a quarter of a microsecond, so a message counts as visible from one microsecond before
its ``visible_at``; this keeps a timer converted from wall to monotonic time from firing a
hair early and waking a poll that then finds nothing.

Long polls wake on the clock: in-process senders and appenders wake waiters at once (as in
memory), a timer wakes a queue poll when the next hidden message becomes visible, and every
poll re-checks at least every ``poll_interval`` seconds of the mesh clock (1 s by default),
which is how a send by another process is discovered.

Several processes may open one database: each write transaction starts with ``BEGIN
IMMEDIATE`` (the file's write lock, waiting up to ``busy_timeout``), so a receive's choice and
claim of messages, a conditional put's check and write, and a log's next sequence are atomic
across processes.

The file carries ``PRAGMA application_id`` and a ``meta`` table with the schema version: a
file that is not SQLite, another application's database, or one written by a newer eventmesh
is refused at open with a :class:`~eventmesh.BackendError` that says which.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import math
import os
import queue as _queue
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast

import orjson

from eventmesh._clock import Clock
from eventmesh._errors import BackendError, ConfigurationError
from eventmesh._ids import RequestIds
from eventmesh.backends.protocols import (
    Backend,
    BlobInfo,
    Delivery,
    LogRecord,
    OutgoingMessage,
    QueueStats,
    Redrive,
    StoredValue,
)
from eventmesh.backends.registry import CheckedFactory
from eventmesh.backends.urls import url_options

__all__ = [
    "APPLICATION_ID",
    "SCHEMA_VERSION",
    "SQLiteBackend",
    "SQLiteBlobStore",
    "SQLiteKeyValueStore",
    "SQLiteLogStore",
    "SQLiteQueueStore",
    "Synchronous",
    "apply_pragmas",
    "parse_sqlite_url",
    "sqlite_backend",
    "sqlite_backend_from_url",
    "sqlite_factory",
]

T = TypeVar("T")
Synchronous = Literal["FULL", "NORMAL"]

APPLICATION_ID = 0x45764D73  # b"EvMs": PRAGMA application_id of every eventmesh database
SCHEMA_VERSION = 1
_TOLERANCE = 1e-6  # see the module docstring: wall times hold ~0.24 µs
_MAX_BATCH = 1024  # operations per transaction, so one commit never grows without bound

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value NOT NULL);
CREATE TABLE messages (
    seq INTEGER PRIMARY KEY,            -- send order across queues; a visible message keeps it
    queue TEXT NOT NULL,
    message_id TEXT NOT NULL,
    hidden INTEGER NOT NULL,            -- 1: delayed or in flight until visible_at; 0: ready
    visible_at REAL NOT NULL,           -- wall time
    receive_count INTEGER NOT NULL,
    sent_at REAL NOT NULL,
    first_received_at REAL NOT NULL,
    group_id TEXT,
    attributes BLOB,                    -- JSON object, NULL when empty
    body BLOB NOT NULL
);
CREATE INDEX messages_ready ON messages (queue, seq) WHERE hidden = 0;
CREATE INDEX messages_hidden ON messages (queue, visible_at) WHERE hidden = 1;
CREATE INDEX messages_groups ON messages (queue, group_id)
    WHERE hidden = 1 AND group_id IS NOT NULL;
CREATE TABLE shards (
    id INTEGER PRIMARY KEY,
    stream TEXT NOT NULL,
    shard TEXT NOT NULL,
    first INTEGER NOT NULL,             -- sequence of the oldest kept record (next when empty)
    last INTEGER NOT NULL,              -- newest sequence ever assigned
    last_arrival REAL,                  -- arrivals never decrease within a shard
    UNIQUE (stream, shard)
);
CREATE TABLE records (
    shard_id INTEGER NOT NULL,
    sequence INTEGER NOT NULL,
    arrival REAL NOT NULL,
    partition_key TEXT NOT NULL,
    attributes BLOB,
    data BLOB NOT NULL,
    PRIMARY KEY (shard_id, sequence)
);
CREATE INDEX records_arrival ON records (shard_id, arrival, sequence);
CREATE TABLE kv (
    key TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    expires_at REAL,                    -- wall time, NULL for never
    value BLOB NOT NULL
);
CREATE INDEX kv_expiry ON kv (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE blobs (
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,                  -- BINARY collation: UTF-8 byte order, as S3 lists
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    last_modified REAL NOT NULL,
    content_type TEXT NOT NULL,
    metadata BLOB,
    data BLOB NOT NULL,
    PRIMARY KEY (bucket, key)
);
"""


# -- opening the file --------------------------------------------------------------------------
def _connect(path: str, synchronous: Synchronous, busy_timeout: float) -> sqlite3.Connection:
    """Open ``path``, refuse what is not an eventmesh database, create or check the schema."""
    try:
        conn = sqlite3.connect(
            path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise BackendError(f"cannot open the SQLite database {path!r}: {exc}") from exc
    try:
        _refuse_foreign(conn, path)
        apply_pragmas(conn, path, synchronous)
        _prepare_schema(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def _file_identity(path: str) -> tuple[int, int] | None:
    """``path``'s device and inode, None when there is no such file."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


def apply_pragmas(conn: sqlite3.Connection, path: str, synchronous: Synchronous) -> None:
    """Put ``conn`` in the journal mode and durability level an eventmesh store runs with:
    WAL, ``synchronous``, the WAL truncated to 64 MB after a checkpoint. Public so that a
    benchmark's raw ``sqlite3`` loop runs with exactly the store's settings."""
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise BackendError(f"{path!r}: SQLite could not use WAL mode (journal_mode={mode})")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("PRAGMA journal_size_limit = 67108864")


def _refuse_foreign(conn: sqlite3.Connection, path: str) -> None:
    """Raise before touching a file that is not ours (not even to switch it to WAL)."""
    try:
        application_id = conn.execute("PRAGMA application_id").fetchone()[0]
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master")]
    except sqlite3.DatabaseError as exc:
        raise BackendError(
            f"{path!r} is not an eventmesh database: SQLite cannot read it ({exc}); "
            "it is another kind of file, or corrupted"
        ) from exc
    if application_id not in (0, APPLICATION_ID):
        raise BackendError(
            f"{path!r} is not an eventmesh database: it belongs to another application "
            f"(SQLite application_id {application_id:#010x}, eventmesh's is {APPLICATION_ID:#010x})"
        )
    if application_id == 0 and tables:
        raise BackendError(
            f"{path!r} is not an eventmesh database: it is another application's SQLite "
            f"database (tables {', '.join(sorted(tables)[:5])}); give eventmesh a file of its own"
        )


def _statements(script: str) -> list[str]:
    """Split a script into statements (``executescript`` commits, which we must not)."""
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    return statements


def _prepare_schema(conn: sqlite3.Connection, path: str) -> None:
    """Create the schema in a new file, or check the version of an existing one.

    Done under the write lock, so two processes creating one file at once create it once.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute("PRAGMA application_id").fetchone()[0] == 0:
            for statement in _statements(_SCHEMA):
                conn.execute(statement)  # not executescript: it would COMMIT first
            conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [
                    ("application", "eventmesh"),
                    ("schema_version", SCHEMA_VERSION),
                    ("kv_version", 0),
                ],
            )
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        else:
            _check_version(conn, path)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _check_version(conn: sqlite3.Connection, path: str) -> None:
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.DatabaseError as exc:
        raise BackendError(
            f"{path!r} carries eventmesh's application id but no readable schema ({exc}): "
            "the file is damaged"
        ) from exc
    if row is None or not isinstance(row[0], int):
        raise BackendError(f"{path!r}: eventmesh database without a schema version: damaged")
    if row[0] > SCHEMA_VERSION:
        raise BackendError(
            f"{path!r} was written by a newer eventmesh (schema {row[0]}; this version "
            f"reads up to {SCHEMA_VERSION}): upgrade eventmesh to open it"
        )
    _check_integrity(conn, path)
    # Older schemas would be migrated here, one version at a time, inside this transaction.


def _check_integrity(conn: sqlite3.Connection, path: str) -> None:
    """Damaged pages give a clear error at open, not a poller failing every second later.

    ``PRAGMA quick_check`` reads every page once (it skips the index-content checks of
    ``integrity_check``): about a second per GB, paid once, when the mesh opens the file.
    """
    try:
        problems = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
    except sqlite3.DatabaseError as exc:
        problems = [str(exc)]
    if problems != ["ok"]:
        raise BackendError(
            f"{path!r} is an eventmesh database, but damaged: SQLite's quick_check reports "
            f"{'; '.join(problems)}. Restore it from a backup, or move it away to start anew"
        )


# -- the writer thread -------------------------------------------------------------------------
@dataclass(slots=True)
class _Operation:
    run: Callable[[sqlite3.Connection], Any]
    future: asyncio.Future[Any]
    write: bool


_Outcome = tuple[asyncio.Future[Any], Any, BaseException | None]


def _settle(outcomes: list[_Outcome]) -> None:
    """On the event loop: answer the callers of one committed batch."""
    for future, result, error in outcomes:
        if future.done():
            continue  # the caller was cancelled
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)


def _as_backend_error(exc: BaseException, doing: str) -> BaseException:
    if isinstance(exc, sqlite3.Error):
        error = BackendError(f"SQLite failed {doing}: {exc}")
        error.__cause__ = exc
        return error
    return exc


class _Database:
    """One SQLite connection on its own thread, running queued operations in group commits."""

    def __init__(
        self, path: str, clock: Clock, synchronous: Synchronous, busy_timeout: float
    ) -> None:
        self.path = path
        self.synchronous = synchronous
        self.commits = 0  # write transactions committed
        self.operations = 0  # operations run
        self.closed = False
        self.identity: tuple[int, int] | None = None
        """The file's device and inode when opened (None if SQLite did not make a file)."""
        self._ops: _queue.SimpleQueue[_Operation | None] = _queue.SimpleQueue()
        self._lock = threading.Lock()
        self._on_close: list[Callable[[], None]] = []
        self._before_close: list[Callable[[], None]] = []
        self._track: Callable[[asyncio.Future[Any]], None] | None = getattr(clock, "track", None)
        self._stopped: concurrent.futures.Future[None] = concurrent.futures.Future()
        ready: concurrent.futures.Future[sqlite3.Connection] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._serve,
            args=(ready, synchronous, busy_timeout),
            name=f"eventmesh-sqlite {os.path.basename(path)}",
            daemon=True,  # an unclosed backend must not keep the interpreter alive
        )
        self._thread.start()
        try:
            ready.result()
        except BaseException:
            self._thread.join()
            raise

    def on_close(self, callback: Callable[[], None]) -> None:
        self._on_close.append(callback)

    def before_close(self, flush: Callable[[], None]) -> None:
        """Call ``flush`` when closing starts, so that work it queues is still run."""
        self._before_close.append(flush)

    def submit(self, run: Callable[[sqlite3.Connection], T], *, write: bool) -> asyncio.Future[T]:
        """Queue ``run(connection)``; the future resolves after the commit that includes it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:  # so that nothing is queued after close's stop marker
            if self.closed:
                raise BackendError(f"the SQLite backend on {self.path!r} is closed")
            self._ops.put(_Operation(run, future, write))
        if self._track is not None:
            self._track(future)  # a virtual clock waits for it before moving time
        return future

    async def write(self, run: Callable[[sqlite3.Connection], T]) -> T:
        return await self.submit(run, write=True)

    async def read(self, run: Callable[[sqlite3.Connection], T]) -> T:
        return await self.submit(run, write=False)

    async def close(self) -> None:
        """Run what is queued, stop the thread, close the connection; end every long poll."""
        if not self.closed:
            for flush in self._before_close:
                flush()  # work held on the loop (sends of this turn) is queued first
        with self._lock:
            first = not self.closed
            self.closed = True
            if first:
                self._ops.put(None)
        if first:
            for callback in self._on_close:
                callback()
        await asyncio.wrap_future(self._stopped)

    # The rest runs on the thread.
    def _serve(
        self,
        ready: concurrent.futures.Future[sqlite3.Connection],
        synchronous: Synchronous,
        busy_timeout: float,
    ) -> None:
        try:
            conn = _connect(self.path, synchronous, busy_timeout)
        except BaseException as exc:
            ready.set_exception(exc)
            self._stopped.set_result(None)
            return
        self.identity = _file_identity(self.path)
        ready.set_result(conn)
        try:
            self._loop(conn)
        finally:
            with self._lock:
                self.closed = True  # also after an unexpected error: fail, never hang
            conn.close()
            self._fail_queued()
            self._stopped.set_result(None)

    def _loop(self, conn: sqlite3.Connection) -> None:
        while True:
            first = self._ops.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < _MAX_BATCH:
                try:
                    op = self._ops.get_nowait()
                except _queue.Empty:
                    break
                if op is None:
                    stop = True
                    break
                batch.append(op)
            self._answer(self._run_batch(conn, batch))
            if stop:
                return

    def _run_batch(self, conn: sqlite3.Connection, batch: list[_Operation]) -> list[_Outcome]:
        live = [op for op in batch if not op.future.cancelled()]  # a benign racy read
        if not live:
            return []
        begin = "BEGIN IMMEDIATE" if any(op.write for op in live) else "BEGIN"
        try:
            outcomes = self._optimistic(conn, live, begin)
            if outcomes is None:  # a write failed: run the batch again, each in a savepoint
                outcomes = self._isolating(conn, live, begin)
        except Exception as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            error = _as_backend_error(exc, "to commit")
            return [(op.future, None, error) for op in live]
        self.operations += len(live)
        if begin == "BEGIN IMMEDIATE":
            self.commits += 1
        return outcomes

    @staticmethod
    def _optimistic(
        conn: sqlite3.Connection, ops: list[_Operation], begin: str
    ) -> list[_Outcome] | None:
        """Run ``ops`` in one transaction and commit; None (rolled back) when a write failed.

        Savepoints cost as much as a small insert and operations rarely fail, so a batch
        runs without them first. A failed write's half-done changes can only be undone with
        the whole transaction, so the batch is then run again by :meth:`_isolating`. Running
        again is safe: an operation is a function of the database and of arguments captured
        on the event loop, and the rollback left the database as it was.
        """
        conn.execute(begin)
        outcomes: list[_Outcome] = []
        for op in ops:
            if not op.write:
                outcomes.append(_Database._read(conn, op))
                continue
            try:
                outcomes.append((op.future, op.run(conn), None))
            except Exception:
                conn.execute("ROLLBACK")
                return None
        conn.execute("COMMIT")
        return outcomes

    @staticmethod
    def _isolating(conn: sqlite3.Connection, ops: list[_Operation], begin: str) -> list[_Outcome]:
        """Run ``ops`` in one transaction, each write in a savepoint, and commit."""
        conn.execute(begin)
        outcomes = [
            _Database._isolated(conn, op) if op.write else _Database._read(conn, op) for op in ops
        ]
        conn.execute("COMMIT")
        return outcomes

    @staticmethod
    def _read(conn: sqlite3.Connection, op: _Operation) -> _Outcome:
        try:
            return op.future, op.run(conn), None
        except Exception as exc:
            return op.future, None, _as_backend_error(exc, "to read")

    @staticmethod
    def _isolated(conn: sqlite3.Connection, op: _Operation) -> _Outcome:
        """Run a write in a savepoint: its failure undoes its own changes only."""
        conn.execute("SAVEPOINT op")
        try:
            result = op.run(conn)
        except Exception as exc:
            conn.execute("ROLLBACK TO op")  # raises if SQLite dropped the transaction: all fail
            conn.execute("RELEASE op")
            return op.future, None, _as_backend_error(exc, "to write")
        conn.execute("RELEASE op")
        return op.future, result, None

    @staticmethod
    def _answer(outcomes: list[_Outcome]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
        for outcome in outcomes:
            by_loop.setdefault(outcome[0].get_loop(), []).append(outcome)
        for loop, answers in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(_settle, answers)

    def _fail_queued(self) -> None:
        error = BackendError(f"the SQLite backend on {self.path!r} is closed")
        failed: list[_Outcome] = []
        while True:
            try:
                op = self._ops.get_nowait()
            except _queue.Empty:
                break
            if op is not None:
                failed.append((op.future, None, error))
        self._answer(failed)


# -- helpers -----------------------------------------------------------------------------------
def _encode_map(mapping: Mapping[str, str] | None) -> bytes | None:
    if not mapping:
        return None
    return orjson.dumps(mapping if isinstance(mapping, dict) else dict(mapping))


def _decode_map(data: bytes | None) -> dict[str, str]:
    return {} if data is None else cast(dict[str, str], orjson.loads(data))


def _fan_out(
    futures: list[asyncio.Future[None]],
    done: asyncio.Future[Any] | None,
    error: BaseException | None,
) -> None:
    """Answer the callers of a coalesced operation with its outcome (``done``) or ``error``."""
    if done is not None:
        if done.cancelled():
            error = BackendError("the SQLite operation was cancelled")
        else:
            error = done.exception()
    for future in futures:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _wait(
    clock: Clock, waiters: Callable[[asyncio.Future[None]], Callable[[], None]], until: float
) -> None:
    """Wait until ``until`` (monotonic) or a wake; ``waiters`` registers and returns a remover."""
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    remove = waiters(future)
    timer = clock.call_at(until, lambda: _wake(future))
    try:
        await future
    finally:
        timer.cancel()
        remove()


# -- queues ------------------------------------------------------------------------------------
_READY = (
    "SELECT seq, message_id, body, attributes, receive_count, sent_at, first_received_at,"
    " group_id FROM messages WHERE queue = ? AND hidden = 0 ORDER BY seq"
)
_SURFACE = "UPDATE messages SET hidden = 0 WHERE queue = ? AND hidden = 1 AND visible_at <= ?"
_GROUP_IN_FLIGHT = (
    "SELECT 1 FROM messages WHERE queue = ? AND group_id = ? AND group_id IS NOT NULL"
    " AND hidden = 1 AND receive_count > 0 LIMIT 1"
)
_CLAIM = (
    "UPDATE messages SET hidden = 1, visible_at = ?, receive_count = receive_count + 1,"
    " first_received_at = CASE WHEN receive_count = 0 THEN ? ELSE first_received_at END"
    " WHERE seq IN ({})"
)  # one statement for the batch: the right-hand sides read each row's values before it
_BY_RECEIPT = "seq = ? AND receive_count = ? AND message_id = ? AND queue = ? AND hidden = 1"


def _receipt(seq: int, count: int, message_id: str) -> str:
    return f"{seq}:{count}:{message_id}"


def _parse_receipt(receipt: str) -> tuple[int, int, str] | None:
    parts = receipt.split(":", 2)
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    return int(parts[0]), int(parts[1]), parts[2]


_INSERT = (
    "INSERT INTO messages (queue, message_id, hidden, visible_at, receive_count, sent_at,"
    " first_received_at, group_id, attributes, body) VALUES "
)
_CHUNKS = (64, 32, 16, 8, 4, 2, 1)
"""Rows per multi-row ``INSERT`` (64 x 8 parameters stays under SQLite's oldest limit, 999);
a few fixed shapes, so that SQLite's statement cache keeps every one prepared."""
_INSERTS = {
    size: _INSERT + ", ".join(["(?, ?, ?, ?, 0, ?, 0, ?, ?, ?)"] * size) for size in _CHUNKS
}


def _insert_messages(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Insert ``rows`` with few statements (see "Few steps" in the module docstring)."""
    start, end = 0, len(rows)
    for size in _CHUNKS:
        statement = _INSERTS[size]
        while end - start >= size:
            conn.execute(statement, [value for row in rows[start : start + size] for value in row])
            start += size


def _marks(count: int) -> str:
    return ", ".join("?" * count)


def _choose(conn: sqlite3.Connection, queue: str, max_messages: int) -> list[tuple[Any, ...]]:
    """Ready messages in send order, skipping groups with a message in flight (FIFO)."""
    chosen: list[tuple[Any, ...]] = []
    open_groups: dict[str, bool] = {}  # may this receive take from the group?
    cursor = conn.execute(_READY, (queue,))
    try:
        for row in cursor:
            group = row[7]
            if group is not None:
                allowed = open_groups.get(group)
                if allowed is None:
                    busy = conn.execute(_GROUP_IN_FLIGHT, (queue, group)).fetchone()
                    allowed = open_groups[group] = busy is None
                if not allowed:
                    continue
            chosen.append(row)
            if len(chosen) >= max_messages:
                break
    finally:
        cursor.close()
    return chosen


def _take(
    conn: sqlite3.Connection,
    queue: str,
    max_messages: int,
    visibility: float,
    wall: float,
    redrive: Redrive | None = None,
) -> tuple[list[Delivery], float | None]:
    """Claim up to ``max_messages``; with none, also when the next hidden one shows.

    With a redrive policy, a message past its maximum receive count moves to the end of the
    dead-letter queue in this transaction instead (a new row, so a new place in send order).
    """
    conn.execute(_SURFACE, (queue, wall + _TOLERANCE))
    chosen = _choose(conn, queue, max_messages) if max_messages > 0 else []
    visible_at = wall + visibility
    deliveries: list[Delivery] = []
    claims: list[int] = []
    dead_letter = None if redrive is None else redrive.dead_letter
    most = 0 if redrive is None else redrive.max_receive_count
    for seq, message_id, body, attributes, count, sent_at, first, group in chosen:
        count += 1
        moved = False
        if dead_letter is not None and count > most:
            moved = True
            conn.execute("DELETE FROM messages WHERE seq = ?", (seq,))
            row = (dead_letter, message_id, 0, wall, sent_at, group, attributes, body)
            _insert_messages(conn, [row])
        else:
            if count == 1:
                first = wall
            claims.append(seq)
        deliveries.append(
            Delivery(
                message_id,
                "" if moved else _receipt(seq, count, message_id),
                body,
                _decode_map(attributes),
                count,
                sent_at,
                first,
                group,
                moved,
            )
        )
    if claims:
        conn.execute(_CLAIM.format(_marks(len(claims))), (visible_at, wall, *claims))
    if deliveries:
        return deliveries, None
    row = conn.execute(
        "SELECT MIN(visible_at) FROM messages WHERE queue = ? AND hidden = 1", (queue,)
    ).fetchone()
    return deliveries, row[0]


def _delete_messages(
    conn: sqlite3.Connection, queue: str, receipts: Sequence[str]
) -> tuple[int, bool]:
    """Delete by current receipts; returns how many, and whether any had a FIFO group.

    Two statements for the whole call (a count, then the delete), whatever its size: the
    ``seq IN`` finds the rows by key, the row values check the rest of each receipt.
    """
    parsed = [found for receipt in receipts if (found := _parse_receipt(receipt)) is not None]
    if not parsed:
        return 0, False
    seqs = {seq for seq, _, _ in parsed}
    receipt_rows = ", ".join(["(?, ?, ?)"] * len(parsed))
    where = (
        f"seq IN ({_marks(len(seqs))}) AND queue = ? AND hidden = 1"
        f" AND (seq, receive_count, message_id) IN (VALUES {receipt_rows})"
    )
    arguments = (*seqs, queue, *(value for receipt in parsed for value in receipt))
    deleted, grouped = conn.execute(
        f"SELECT COUNT(*), COALESCE(MAX(group_id IS NOT NULL), 0) FROM messages WHERE {where}",
        arguments,
    ).fetchone()
    if deleted:
        conn.execute(f"DELETE FROM messages WHERE {where}", arguments)
    return int(deleted), bool(grouped)


def _change_visibility(
    conn: sqlite3.Connection,
    queue: str,
    receipt: tuple[int, int, str],
    visible_at: float,
    hidden: bool,
) -> bool:
    """Re-hide an in-flight message until ``visible_at``, or return it to the ready ones.

    Returning it surfaces every due message of the queue, as a receive would (and as the
    memory backend does), so the receipts of those go stale at the same moment.
    """
    cursor = conn.execute(
        f"UPDATE messages SET visible_at = ?, hidden = ? WHERE {_BY_RECEIPT}",
        (visible_at, int(hidden), *receipt, queue),
    )
    if cursor.rowcount != 1:
        return False
    if not hidden:
        conn.execute(_SURFACE, (queue, visible_at + _TOLERANCE))
    return True


def _stats(conn: sqlite3.Connection, queue: str, wall: float) -> QueueStats:
    ready = conn.execute(
        "SELECT COUNT(*) FROM messages WHERE queue = ? AND hidden = 0", (queue,)
    ).fetchone()[0]
    due, in_flight, delayed = conn.execute(
        "SELECT COALESCE(SUM(visible_at <= ?1), 0),"
        " COALESCE(SUM(visible_at > ?1 AND receive_count > 0), 0),"
        " COALESCE(SUM(visible_at > ?1 AND receive_count = 0), 0)"
        " FROM messages WHERE queue = ?2 AND hidden = 1",
        (wall + _TOLERANCE, queue),
    ).fetchone()
    return QueueStats(visible=ready + due, in_flight=in_flight, delayed=delayed)


class SQLiteQueueStore:
    """:class:`~eventmesh.backends.protocols.QueueStore` in SQLite; a receive given a
    :class:`Redrive` moves what it redrives in its own transaction.

    A message is *ready* or *hidden* (delayed, or in flight until ``visible_at``), as in
    memory; a receive first surfaces the hidden messages whose time has come, then claims
    ready ones in send order. A receipt names one receive (``seq:count:id``); it deletes
    while its message has not surfaced again, like the memory backend's.

    A receive cancelled while its operation is queued claims nothing; one cancelled while
    its operation runs may claim messages that then come back after their visibility
    timeout (at least once, as with SQS).
    """

    redrives_in_receive = True

    def __init__(self, database: _Database, clock: Clock, poll_interval: float = 1.0) -> None:
        self._db = database
        self._clock = clock
        self._poll_interval = poll_interval
        self._ids = RequestIds()
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._inserts: list[tuple[list[tuple[Any, ...]], asyncio.Future[None]]] = []
        database.before_close(self._flush_inserts)
        database.on_close(self._end_polls)

    async def send(self, queue: str, messages: Sequence[OutgoingMessage]) -> list[str]:
        wall = self._clock.time()
        ids: list[str] = []
        rows: list[tuple[Any, ...]] = []
        for message in messages:
            message_id = self._ids.next()
            ids.append(message_id)
            delayed = message.delay > 0
            rows.append(
                (
                    queue,
                    message_id,
                    1 if delayed else 0,
                    wall + message.delay if delayed else wall,
                    wall,
                    message.group_id,
                    _encode_map(message.attributes),
                    message.body,
                )
            )
        if rows:
            await self._insert(rows)
            self._wake(queue, len(rows))
        return ids

    def _insert(self, rows: list[tuple[Any, ...]]) -> asyncio.Future[None]:
        """Store ``rows`` with every other send of this turn of the event loop.

        Sends made in one turn (producers sending concurrently, a topic's fan-out) become
        one operation of the writer thread, flushed at the end of the turn: one
        ``executemany``, one outcome, one wake-up of the loop, instead of one of each per
        send. Group commit then merges that operation with the other work queued since the
        last commit. Each send still resolves only after the commit that includes its rows;
        a send cancelled before the flush is left out; those flushed together succeed or
        fail together (they are one ``INSERT``). Closing the backend flushes first, so a send
        begun before ``close`` is committed, as any operation queued before it is.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        if not self._inserts:
            loop.call_soon(self._flush_inserts)
        self._inserts.append((rows, future))
        return future

    def _flush_inserts(self) -> None:
        entries, self._inserts = self._inserts, []
        waiting = [future for _, future in entries if not future.done()]
        rows = [row for batch, future in entries if not future.done() for row in batch]
        if not rows:
            return
        try:
            done = self._db.submit(lambda conn: _insert_messages(conn, rows), write=True)
        except BackendError as exc:  # closed meanwhile
            _fan_out(waiting, None, exc)
            return
        done.add_done_callback(lambda done: _fan_out(waiting, done, None))

    async def receive(
        self,
        queue: str,
        max_messages: int,
        visibility_timeout: float,
        wait: float = 0.0,
        redrive: Redrive | None = None,
    ) -> list[Delivery]:
        deadline = self._clock.now() + wait
        deliveries, next_at = await self._take(queue, max_messages, visibility_timeout, redrive)
        while not deliveries and wait > 0 and not self._db.closed:
            now = self._clock.now()
            if now >= deadline:
                break
            until = min(deadline, now + self._poll_interval)
            if next_at is not None:
                until = min(until, now + max(0.0, next_at - self._clock.time()))
            await _wait(self._clock, lambda future: self._enlist(queue, future), until)
            if self._db.closed:
                break
            deliveries, next_at = await self._take(queue, max_messages, visibility_timeout, redrive)
        return deliveries

    async def _take(
        self, queue: str, max_messages: int, visibility: float, redrive: Redrive | None
    ) -> tuple[list[Delivery], float | None]:
        wall = self._clock.time()
        taken = await self._db.write(
            lambda conn: _take(conn, queue, max_messages, visibility, wall, redrive)
        )
        if redrive is not None and (moved := sum(d.dead_lettered for d in taken[0])):
            self._wake(redrive.dead_letter, moved)
        return taken

    def _enlist(self, queue: str, future: asyncio.Future[None]) -> Callable[[], None]:
        waiters = self._waiters.setdefault(queue, [])
        waiters.append(future)

        def remove() -> None:
            if future in waiters:
                waiters.remove(future)

        return remove

    def _wake(self, queue: str, count: int | None = None) -> None:
        """Wake ``count`` waiting receivers of ``queue`` (all when None)."""
        waiters = self._waiters.get(queue)
        while waiters and (count is None or count > 0):
            waiter = waiters.pop(0)
            if not waiter.done():
                waiter.set_result(None)
                if count is not None:
                    count -= 1

    def _end_polls(self) -> None:
        for queue in list(self._waiters):
            self._wake(queue)

    async def delete(self, queue: str, receipts: Sequence[str]) -> int:
        if not receipts:
            return 0
        receipts = list(receipts)
        deleted, grouped = await self._db.write(
            lambda conn: _delete_messages(conn, queue, receipts)
        )
        if grouped:
            self._wake(queue)  # a FIFO group may have been unblocked
        return deleted

    async def change_visibility(self, queue: str, receipt: str, timeout: float) -> bool:
        parsed = _parse_receipt(receipt)
        if parsed is None:
            return False
        visible_at = self._clock.time() + timeout
        hidden = timeout > 0  # 0 returns it at once, and its receipt goes stale (as in memory)
        changed = await self._db.write(
            lambda conn: _change_visibility(conn, queue, parsed, visible_at, hidden)
        )
        if changed and timeout <= 0:
            self._wake(queue)
        return changed

    async def stats(self, queue: str) -> QueueStats:
        wall = self._clock.time()
        return await self._db.read(lambda conn: _stats(conn, queue, wall))

    async def purge(self, queue: str, sent_before: float) -> int:
        def purge(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "DELETE FROM messages WHERE queue = ? AND sent_at < ?", (queue, sent_before)
            )
            return cursor.rowcount

        removed = await self._db.write(purge)
        if removed:
            self._wake(queue)  # a FIFO group whose in-flight messages expired is free
        return removed

    async def close(self) -> None:
        """Close the database this store shares with the backend's other stores."""
        await self._db.close()


# -- logs --------------------------------------------------------------------------------------
_SHARD = "SELECT id FROM shards WHERE stream = ? AND shard = ?"


def _append(
    conn: sqlite3.Connection,
    stream: str,
    shard: str,
    records: list[tuple[bytes, str, dict[str, str]]],
    wall: float,
) -> list[LogRecord]:
    row = conn.execute(
        "SELECT id, last, last_arrival FROM shards WHERE stream = ? AND shard = ?",
        (stream, shard),
    ).fetchone()
    if row is None:
        cursor = conn.execute(
            "INSERT INTO shards (stream, shard, first, last) VALUES (?, ?, 1, 0)", (stream, shard)
        )
        shard_id, last, last_arrival = cast(int, cursor.lastrowid), 0, -math.inf
    else:
        shard_id, last, last_arrival = row[0], row[1], row[2]
        if last_arrival is None:
            last_arrival = -math.inf
    arrival = max(wall, last_arrival)
    stored = [
        LogRecord(last + index, data, key, arrival, attributes)
        for index, (data, key, attributes) in enumerate(records, 1)
    ]
    conn.executemany(
        "INSERT INTO records (shard_id, sequence, arrival, partition_key, attributes, data)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [
            (shard_id, r.sequence, arrival, r.partition_key, _encode_map(r.attributes), r.data)
            for r in stored
        ],
    )
    conn.execute(
        "UPDATE shards SET last = ?, last_arrival = ? WHERE id = ?",
        (last + len(stored), arrival, shard_id),
    )
    return stored


def _read(
    conn: sqlite3.Connection, stream: str, shard: str, after: int, limit: int
) -> list[LogRecord]:
    rows = conn.execute(
        "SELECT sequence, data, partition_key, arrival, attributes FROM records"
        f" WHERE shard_id = ({_SHARD}) AND sequence > ? ORDER BY sequence LIMIT ?",
        (stream, shard, after, limit),
    ).fetchall()
    return [
        LogRecord(seq, data, key, arrival, _decode_map(attrs))
        for seq, data, key, arrival, attrs in rows
    ]


def _bounds(conn: sqlite3.Connection, stream: str, shard: str) -> tuple[int, int]:
    row = conn.execute(
        "SELECT first, last FROM shards WHERE stream = ? AND shard = ?", (stream, shard)
    ).fetchone()
    return (0, 0) if row is None else (row[0] - 1, row[1])


def _sequence_at(conn: sqlite3.Connection, stream: str, shard: str, timestamp: float) -> int:
    row = conn.execute(
        f"SELECT sequence FROM records WHERE shard_id = ({_SHARD}) AND arrival >= ?"
        " ORDER BY arrival, sequence LIMIT 1",
        (stream, shard, timestamp),
    ).fetchone()
    if row is not None:
        return int(row[0]) - 1
    return _bounds(conn, stream, shard)[1]  # every kept record arrived before: the newest


def _trim(conn: sqlite3.Connection, stream: str, shard: str, before: float) -> int:
    row = conn.execute(_SHARD, (stream, shard)).fetchone()
    if row is None:
        return 0
    count = conn.execute(
        "DELETE FROM records WHERE shard_id = ? AND arrival < ?", (row[0], before)
    ).rowcount
    if count:
        conn.execute("UPDATE shards SET first = first + ? WHERE id = ?", (count, row[0]))
    return count


class SQLiteLogStore:
    """:class:`~eventmesh.backends.protocols.LogStore` in SQLite.

    As in memory, ``arrival`` never decreases within a shard (the previous arrival is
    repeated when the wall clock steps back), so a trim removes a prefix and sequences stay
    consecutive; a shard's ``first`` and ``last`` are kept so sequences are never reused,
    even after everything was trimmed.
    """

    def __init__(self, database: _Database, clock: Clock, poll_interval: float = 1.0) -> None:
        self._db = database
        self._clock = clock
        self._poll_interval = poll_interval
        self._waiters: dict[tuple[str, str], set[asyncio.Future[None]]] = {}
        database.on_close(self._end_polls)

    async def append(
        self,
        stream: str,
        shard: str,
        records: Sequence[tuple[bytes, str, Mapping[str, str]]],
    ) -> list[LogRecord]:
        if not records:
            return []
        wall = self._clock.time()
        owned = [(bytes(data), key, dict(attributes)) for data, key, attributes in records]
        stored = await self._db.write(lambda conn: _append(conn, stream, shard, owned, wall))
        self._wake((stream, shard))
        return stored

    async def read(
        self, stream: str, shard: str, after: int, limit: int, wait: float = 0.0
    ) -> list[LogRecord]:
        if limit <= 0:
            return []
        deadline = self._clock.now() + wait
        records = await self._read(stream, shard, after, limit)
        while not records and wait > 0 and not self._db.closed:
            now = self._clock.now()
            if now >= deadline:
                break
            until = min(deadline, now + self._poll_interval)
            await _wait(self._clock, lambda future: self._enlist((stream, shard), future), until)
            if self._db.closed:
                break
            records = await self._read(stream, shard, after, limit)
        return records

    async def _read(self, stream: str, shard: str, after: int, limit: int) -> list[LogRecord]:
        return await self._db.read(lambda conn: _read(conn, stream, shard, after, limit))

    def _enlist(self, key: tuple[str, str], future: asyncio.Future[None]) -> Callable[[], None]:
        waiters = self._waiters.setdefault(key, set())
        waiters.add(future)
        return lambda: waiters.discard(future)

    def _wake(self, key: tuple[str, str]) -> None:
        """Wake every reader of the shard: a log is not consumed, each may want the records."""
        waiters = self._waiters.pop(key, None)
        for waiter in waiters or ():
            _wake(waiter)

    def _end_polls(self) -> None:
        for key in list(self._waiters):
            self._wake(key)

    async def bounds(self, stream: str, shard: str) -> tuple[int, int]:
        return await self._db.read(lambda conn: _bounds(conn, stream, shard))

    async def sequence_at(self, stream: str, shard: str, timestamp: float) -> int:
        return await self._db.read(lambda conn: _sequence_at(conn, stream, shard, timestamp))

    async def trim(self, stream: str, shard: str, before: float) -> int:
        return await self._db.write(lambda conn: _trim(conn, stream, shard, before))

    async def close(self) -> None:
        """Close the database this store shares with the backend's other stores."""
        await self._db.close()


# -- key-value ---------------------------------------------------------------------------------
_LIVE = (
    "SELECT value, version, expires_at FROM kv"
    " WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)"
)


def _purge(conn: sqlite3.Connection, wall: float) -> None:
    conn.execute("DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?", (wall,))


def _next_version(conn: sqlite3.Connection) -> int:
    """One counter for the whole store, so a key's versions never repeat (no ABA)."""
    row = conn.execute(
        "UPDATE meta SET value = value + 1 WHERE key = 'kv_version' RETURNING value"
    ).fetchone()
    return int(row[0])


def _put(
    conn: sqlite3.Connection,
    key: str,
    value: bytes,
    expires_at: float | None,
    only_if_absent: bool,
    only_if_version: int | None,
    wall: float,
) -> int | None:
    _purge(conn, wall)
    row = conn.execute("SELECT version FROM kv WHERE key = ?", (key,)).fetchone()
    if only_if_absent and row is not None:
        return None
    if only_if_version is not None and (row is None or row[0] != only_if_version):
        return None
    version = _next_version(conn)
    conn.execute(
        "INSERT INTO kv (key, version, expires_at, value) VALUES (?, ?, ?, ?) ON CONFLICT (key)"
        " DO UPDATE SET version = excluded.version, expires_at = excluded.expires_at,"
        " value = excluded.value",
        (key, version, expires_at, value),
    )
    return version


def _delete_key(
    conn: sqlite3.Connection, key: str, only_if_version: int | None, wall: float
) -> bool:
    _purge(conn, wall)
    if only_if_version is None:
        return conn.execute("DELETE FROM kv WHERE key = ?", (key,)).rowcount == 1
    return (
        conn.execute(
            "DELETE FROM kv WHERE key = ? AND version = ?", (key, only_if_version)
        ).rowcount
        == 1
    )


class SQLiteKeyValueStore:
    """:class:`~eventmesh.backends.protocols.KeyValueStore` in SQLite.

    Versions come from one counter per database (in ``meta``), so they increase per key and
    never repeat, even across a delete, an expiry or a restart. Expiry is on the clock's wall
    time; a ``get`` ignores expired values and every write purges them.
    """

    def __init__(self, database: _Database, clock: Clock) -> None:
        self._db = database
        self._clock = clock

    async def get(self, key: str) -> StoredValue | None:
        wall = self._clock.time()
        row = await self._db.read(lambda conn: conn.execute(_LIVE, (key, wall)).fetchone())
        return None if row is None else StoredValue(row[0], row[1], row[2])

    async def put(
        self,
        key: str,
        value: bytes,
        *,
        ttl: float | None = None,
        only_if_absent: bool = False,
        only_if_version: int | None = None,
    ) -> int | None:
        if only_if_absent and only_if_version is not None:
            raise ValueError("give only_if_absent or only_if_version, not both")
        wall = self._clock.time()
        expires_at = None if ttl is None else wall + ttl
        return await self._db.write(
            lambda conn: _put(conn, key, value, expires_at, only_if_absent, only_if_version, wall)
        )

    async def delete(self, key: str, *, only_if_version: int | None = None) -> bool:
        wall = self._clock.time()
        return await self._db.write(lambda conn: _delete_key(conn, key, only_if_version, wall))

    async def close(self) -> None:
        """Close the database this store shares with the backend's other stores."""
        await self._db.close()


# -- blobs -------------------------------------------------------------------------------------
_INFO = "key, size, etag, last_modified, metadata, content_type"


def _info(row: Sequence[Any]) -> BlobInfo:
    key, size, etag, last_modified, metadata, content_type = row[:6]
    return BlobInfo(key, size, etag, last_modified, _decode_map(metadata), content_type)


def _put_blob(
    conn: sqlite3.Connection,
    bucket: str,
    key: str,
    data: bytes,
    metadata: dict[str, str],
    content_type: str,
    wall: float,
) -> BlobInfo:
    etag = hashlib.md5(data, usedforsecurity=False).hexdigest()  # on the thread, not the loop
    conn.execute(
        "INSERT OR REPLACE INTO blobs (bucket, key, size, etag, last_modified, content_type,"
        " metadata, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (bucket, key, len(data), etag, wall, content_type, _encode_map(metadata), data),
    )
    return BlobInfo(key, len(data), etag, wall, metadata, content_type)


def _get_blob(conn: sqlite3.Connection, bucket: str, key: str) -> tuple[bytes, BlobInfo] | None:
    row = conn.execute(
        f"SELECT {_INFO}, data FROM blobs WHERE bucket = ? AND key = ?", (bucket, key)
    ).fetchone()
    return None if row is None else (row[6], _info(row))


def _head_blob(conn: sqlite3.Connection, bucket: str, key: str) -> BlobInfo | None:
    row = conn.execute(
        f"SELECT {_INFO} FROM blobs WHERE bucket = ? AND key = ?", (bucket, key)
    ).fetchone()
    return None if row is None else _info(row)


def _list_blobs(
    conn: sqlite3.Connection, bucket: str, prefix: str, start_after: str, limit: int
) -> list[BlobInfo]:
    rows = conn.execute(
        f"SELECT {_INFO} FROM blobs WHERE bucket = ? AND key >= ? AND key > ? ORDER BY key LIMIT ?",
        (bucket, prefix, start_after, limit),
    )
    infos: list[BlobInfo] = []
    for row in rows:
        if not row[0].startswith(prefix):
            break  # keys with the prefix are contiguous in key order
        infos.append(_info(row))
    return infos


class SQLiteBlobStore:
    """:class:`~eventmesh.backends.protocols.BlobStore` in SQLite (objects as BLOB rows).

    Key order is SQLite's BINARY collation of UTF-8 text, which is code-point order: the
    order the memory backend and S3 list in.
    """

    def __init__(self, database: _Database, clock: Clock) -> None:
        self._db = database
        self._clock = clock

    async def put(
        self,
        bucket: str,
        key: str,
        data: bytes,
        metadata: Mapping[str, str] | None = None,
        content_type: str = "application/octet-stream",
    ) -> BlobInfo:
        wall = self._clock.time()
        owned, meta = bytes(data), dict(metadata or {})
        return await self._db.write(
            lambda conn: _put_blob(conn, bucket, key, owned, meta, content_type, wall)
        )

    async def get(self, bucket: str, key: str) -> tuple[bytes, BlobInfo] | None:
        return await self._db.read(lambda conn: _get_blob(conn, bucket, key))

    async def head(self, bucket: str, key: str) -> BlobInfo | None:
        return await self._db.read(lambda conn: _head_blob(conn, bucket, key))

    async def delete(self, bucket: str, key: str) -> bool:
        return await self._db.write(
            lambda conn: (
                conn.execute(
                    "DELETE FROM blobs WHERE bucket = ? AND key = ?", (bucket, key)
                ).rowcount
                == 1
            )
        )

    async def list(
        self, bucket: str, prefix: str = "", start_after: str = "", limit: int = 1000
    ) -> list[BlobInfo]:
        if limit <= 0:
            return []
        return await self._db.read(
            lambda conn: _list_blobs(conn, bucket, prefix, start_after, limit)
        )

    async def close(self) -> None:
        """Close the database this store shares with the backend's other stores."""
        await self._db.close()


# -- the backend -------------------------------------------------------------------------------
class SQLiteBackend(Backend):
    """The four stores on one SQLite file; see the module docstring for the guarantees.

    Opening checks the file (a foreign or newer file raises :class:`~eventmesh.BackendError`)
    and starts the backend's thread. ``close()`` (of the backend or of any of its stores, which
    share the file) runs what is queued, ends long polls, stops the thread; it is idempotent.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        clock: Clock,
        *,
        synchronous: Synchronous = "FULL",
        busy_timeout: float = 10.0,
        poll_interval: float = 1.0,
    ) -> None:
        level = str(synchronous).upper()
        if level not in ("FULL", "NORMAL"):
            raise ConfigurationError(f"synchronous must be 'FULL' or 'NORMAL', not {synchronous!r}")
        if busy_timeout < 0 or poll_interval <= 0:
            raise ConfigurationError("busy_timeout must be >= 0 and poll_interval > 0")
        database = _Database(os.fspath(path), clock, cast(Synchronous, level), busy_timeout)
        super().__init__(
            queues=SQLiteQueueStore(database, clock, poll_interval),
            logs=SQLiteLogStore(database, clock, poll_interval),
            values=SQLiteKeyValueStore(database, clock),
            blobs=SQLiteBlobStore(database, clock),
        )
        self._database = database

    @property
    def path(self) -> str:
        return self._database.path

    @property
    def synchronous(self) -> Synchronous:
        return self._database.synchronous

    @property
    def commits(self) -> int:
        """Write transactions committed so far (each answers every operation it included)."""
        return self._database.commits

    @property
    def operations(self) -> int:
        """Operations run so far; ``operations / commits`` is the group-commit batch size."""
        return self._database.operations

    @property
    def closed(self) -> bool:
        return self._database.closed

    async def pragmas(self) -> dict[str, Any]:
        """The connection's settings, as SQLite reports them (for diagnostics and tests)."""

        def read(conn: sqlite3.Connection) -> dict[str, Any]:
            names = ("journal_mode", "synchronous", "busy_timeout", "application_id")
            return {name: conn.execute(f"PRAGMA {name}").fetchone()[0] for name in names}

        return await self._database.read(read)

    async def check(self) -> None:
        """Raise :class:`~eventmesh.BackendError` when the database file on disk is no
        longer the one open: removed, or replaced by another file. The open file then still
        answers every read and write, but what is written goes where no process can find
        it again (a restart, another worker)."""
        if self._database.identity is None:
            return
        now = _file_identity(self.path)
        if now is None:
            raise BackendError(f"the SQLite database {self.path!r} was removed while in use")
        if now != self._database.identity:
            raise BackendError(f"the SQLite database {self.path!r} was replaced while in use")

    async def close(self) -> None:
        await self._database.close()

    def __repr__(self) -> str:
        return f"<SQLiteBackend {self.path!r} synchronous={self.synchronous}>"


def sqlite_backend(
    path: str | os.PathLike[str],
    clock: Clock,
    *,
    synchronous: Synchronous = "FULL",
    busy_timeout: float = 10.0,
    poll_interval: float = 1.0,
) -> SQLiteBackend:
    """The four stores on the SQLite database at ``path`` (created if missing), on ``clock``.

    ``synchronous``: ``"FULL"`` (survives power loss) or ``"NORMAL"`` (survives a process
    crash); ``busy_timeout``: seconds to wait for another process's write lock;
    ``poll_interval``: how often a long poll re-checks for other processes' writes.
    """
    return SQLiteBackend(
        path,
        clock,
        synchronous=synchronous,
        busy_timeout=busy_timeout,
        poll_interval=poll_interval,
    )


_URL_OPTIONS = {"synchronous": str, "busy_timeout": float, "poll_interval": float}


def sqlite_backend_from_url(url: str, clock: Clock) -> SQLiteBackend:
    """Open ``sqlite:///PATH[?option=value&...]``, with SQLAlchemy's convention for paths.

    What follows the third slash is the path: ``sqlite:///mesh.db`` is relative to the
    working directory, ``sqlite:////var/lib/app/mesh.db`` (four slashes) absolute. Options:
    ``synchronous`` (FULL or NORMAL), ``busy_timeout`` and ``poll_interval`` (seconds).
    """
    path, options = parse_sqlite_url(url)
    return SQLiteBackend(path, clock, **options)


def parse_sqlite_url(url: str) -> tuple[str, dict[str, Any]]:
    """The path and options of an SQLite storage URL (see :func:`sqlite_backend_from_url`),
    checked without opening anything; a ConfigurationError says what is wrong."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        raise ConfigurationError(
            f"{url!r} is not an SQLite storage URL: use 'sqlite:///mesh.db' (relative) or "
            "'sqlite:////var/lib/app/mesh.db' (absolute)"
        )
    path, _, query = url[len(prefix) :].partition("?")
    if not path or path == ":memory:":
        raise ConfigurationError(
            f"{url!r}: give a file path, e.g. 'sqlite:///mesh.db' or "
            "'sqlite:////var/lib/app/mesh.db' (for memory only, use storage='memory')"
        )
    return path, url_options(url, query, _URL_OPTIONS, shown=url)


sqlite_factory = CheckedFactory(sqlite_backend_from_url, parse_sqlite_url)
"""The ``sqlite`` entry point of the ``eventmesh.backends`` group."""
