"""What a scenario needs from its storage: the raw baselines and Redis memory figures.

With ``--storage redis://...`` the baseline is no ``asyncio.Queue`` loop but a raw redis-py
loop doing the same work on the same server (:mod:`eventmesh.bench.redis_raw`), so the ratio
says what eventmesh costs over the client itself. With ``--storage sqlite://...`` the queue
scenario's baseline is a raw ``sqlite3`` loop doing the same durable work with the store's
settings (:mod:`eventmesh.bench.sqlite_raw`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any
from urllib.parse import parse_qsl

import orjson

from eventmesh.bench.options import BenchOptions
from eventmesh.bench.recorder import Recorder
from eventmesh.bench.report import MEMORY_KEY
from eventmesh.bench.runner import Side
from eventmesh.bench.sqlite_raw import RAW_SUFFIX, is_sqlite

__all__ = [
    "MEMORY_KEY",
    "StorageMemory",
    "concurrent_calls",
    "send_concurrently",
    "is_redis",
    "is_sqlite",
    "raw_sqlite_queue_side",
    "raw_fanout_side",
    "raw_queue_side",
    "raw_stream_side",
    "storage_memory",
    "storage_prefix",
]


def is_redis(storage: str) -> bool:
    return storage.split(":", 1)[0].lower() in ("redis", "rediss")


def storage_prefix(storage: str) -> str:
    """The key prefix a Redis storage URL names (``eventmesh`` when it names none)."""
    options = dict(parse_qsl(storage.partition("?")[2]))
    return options.get("prefix") or "eventmesh"


class StorageMemory:
    """Redis's ``used_memory`` when made, and per pending event when asked (no-op for other
    storages)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._before = 0

    async def begin(self) -> None:
        if self._client is not None:
            from eventmesh.bench.redis_raw import used_memory

            self._before = await used_memory(self._client)

    async def per_pending(self, extra: dict[str, object], pending: int) -> None:
        """Put the memory grown since :meth:`begin`, per pending event, in ``extra``."""
        if self._client is None or pending <= 0:
            return
        from eventmesh.bench.redis_raw import used_memory

        grown = await used_memory(self._client) - self._before
        extra[MEMORY_KEY] = round(grown / pending, 1)


def concurrent_calls(
    call: Callable[[dict[str, Any]], Awaitable[Any]], recorder: Recorder
) -> tuple[Callable[[dict[str, Any]], Coroutine[Any, Any, None]], Callable[[], Awaitable[None]]]:
    """``call`` made in a task of its own, and a wait for those still running.

    Over a network a send is a round trip: a closed-loop producer awaiting each would measure
    its own round trips. Both sides of a Redis run send this way (the runner still bounds the
    events in flight); a failed call counts as an error.
    """
    tasks: set[asyncio.Task[Any]] = set()

    def finished(task: asyncio.Task[Any]) -> None:
        tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            recorder.failed(error)

    async def start(event: dict[str, Any]) -> None:
        task = asyncio.ensure_future(call(event))
        tasks.add(task)
        task.add_done_callback(finished)

    async def settle() -> None:
        if tasks:
            await asyncio.wait(set(tasks))

    return start, settle


def send_concurrently(side: Side, recorder: Recorder, drain: Callable[[], Awaitable[Any]]) -> None:
    """Make the mesh side of a Redis run send with :func:`concurrent_calls`; it settles once
    every send returned and the mesh drained."""
    side.call, sent = concurrent_calls(side.call, recorder)

    async def settle() -> None:
        await sent()
        await drain()

    side.settle = settle


@contextlib.asynccontextmanager
async def storage_memory(options: BenchOptions) -> AsyncIterator[StorageMemory]:
    """A :class:`StorageMemory` of the options' storage, begun now."""
    if not is_redis(options.storage):
        yield StorageMemory(None)
        return
    from eventmesh.bench.redis_raw import raw_client

    client = raw_client(options.storage)
    try:
        memory = StorageMemory(client)
        await memory.begin()
        yield memory
    finally:
        await client.aclose()


@contextlib.asynccontextmanager
async def _raw_side(
    client: Any,
    name: str,
    send: Callable[[dict[str, Any]], Coroutine[Any, Any, None]],
    store: Callable[[list[dict[str, Any]]], Awaitable[None]],
    workers: tuple[Callable[[], None], Callable[[], Awaitable[None]]],
    options: BenchOptions,
) -> AsyncIterator[Side]:
    """A raw loop's side: its workers (``workers``: start, stop) start at once, or at
    ``start`` with ``--backlog`` (after ``store`` filled the backlog, whose Redis memory per
    event is then measured); at the end the workers stop, then the client closes."""
    start_workers, stop_workers = workers
    memory = StorageMemory(client)
    filled = 0

    async def fill(events: list[dict[str, Any]]) -> None:
        nonlocal filled
        await store(events)
        filled += len(events)

    side = Side(name, send, blocking=False, fill=fill)

    async def start() -> None:
        await memory.per_pending(side.extra, filled)
        start_workers()

    side.start = start
    try:
        await client.ping()
        await memory.begin()
        if options.backlog is None:
            start_workers()
        yield side
    finally:
        await stop_workers()
        await client.aclose()


@contextlib.asynccontextmanager
async def raw_queue_side(
    options: BenchOptions,
    deliver: Callable[[list[bytes]], Awaitable[None]],
    batch: int,
    consumers: int,
    *,
    name: str = "bench",
) -> AsyncIterator[Side]:
    """The raw redis-py queue loop: ``consumers`` loops receive up to ``batch`` messages,
    ``deliver`` them, acknowledge the batch. Consumers start at once, or at ``start`` with
    ``--backlog``."""
    from eventmesh.bench.redis_raw import RawQueue, Running, consume_queue, raw_client, stop

    client = raw_client(options.storage)
    queue = RawQueue(client, storage_prefix(options.storage), name)
    dumps = orjson.dumps
    tasks: list[asyncio.Task[None]] = []
    running = Running()

    def start_consumers() -> None:
        tasks.extend(
            asyncio.create_task(consume_queue(queue, deliver, batch, running))
            for _ in range(consumers)
        )

    async def send(event: dict[str, Any]) -> None:
        await queue.send([dumps(event)])

    async def store(events: list[dict[str, Any]]) -> None:
        await queue.send([dumps(event) for event in events])

    name = f"raw redis-py: ZSET + hash + Lua, {consumers} consumers, batch {batch}"
    workers = (start_consumers, lambda: stop(running, tasks))
    async with _raw_side(client, name, send, store, workers, options) as side:
        yield side


@contextlib.asynccontextmanager
async def raw_stream_side(
    options: BenchOptions,
    handler: Callable[[Any, Any], Awaitable[None]],
    batch: int,
    keys: list[str],
) -> AsyncIterator[Side]:
    """The raw redis-py stream loop: a Redis stream per shard (a partition key always goes
    to the same one), one reader per shard handing ``handler`` Kinesis-shaped batches of up
    to ``batch`` records and writing a checkpoint after each."""
    import base64
    import itertools
    import zlib

    from eventmesh.bench.redis_raw import RawStream, Running, consume_stream, raw_client, stop

    client = raw_client(options.storage)
    stream = RawStream(client, storage_prefix(options.storage), options.shards)
    dumps, b64encode = orjson.dumps, base64.b64encode
    routes = itertools.cycle([(key, zlib.crc32(key.encode()) % options.shards) for key in keys])
    tasks: list[asyncio.Task[None]] = []
    running = Running()

    async def deliver(entries: list[tuple[bytes, bytes, bytes]]) -> None:
        records = [
            {
                "kinesis": {
                    "data": b64encode(data).decode(),
                    "partitionKey": key.decode(),
                    "sequenceNumber": entry_id.decode(),
                }
            }
            for entry_id, data, key in entries
        ]
        await handler({"Records": records}, None)

    def start_readers() -> None:
        tasks.extend(
            asyncio.create_task(consume_stream(stream, shard, deliver, batch, running))
            for shard in range(options.shards)
        )

    async def send(event: dict[str, Any]) -> None:
        key, shard = next(routes)
        await stream.append(shard, [(dumps(event), key)])

    async def store(events: list[dict[str, Any]]) -> None:
        by_shard: dict[int, list[tuple[bytes, str]]] = {}
        for event in events:
            key, shard = next(routes)
            by_shard.setdefault(shard, []).append((dumps(event), key))
        for shard, items in by_shard.items():
            await stream.append(shard, items)

    name = f"raw redis-py: XADD, XREAD per shard + checkpoint, batch {batch}"
    workers = (start_readers, lambda: stop(running, tasks))
    async with _raw_side(client, name, send, store, workers, options) as side:
        yield side


@contextlib.asynccontextmanager
async def raw_fanout_side(
    options: BenchOptions,
    delivers: list[Callable[[list[bytes]], Awaitable[None]]],
    consumers: int,
) -> AsyncIterator[Side]:
    """The raw redis-py fan-out: a publish stores the event in every subscriber's raw queue
    in one pipelined round trip; ``consumers`` loops per subscriber take events one by one
    (as an Event invocation is) and acknowledge each."""
    from eventmesh.bench.redis_raw import RawQueue, Running, consume_queue, raw_client, stop

    client = raw_client(options.storage)
    prefix = storage_prefix(options.storage)
    queues = [RawQueue(client, prefix, f"subscriber-{index}") for index in range(len(delivers))]
    dumps = orjson.dumps
    running = Running()
    tasks = [
        asyncio.create_task(consume_queue(queue, deliver, 1, running))
        for queue, deliver in zip(queues, delivers, strict=True)
        for _ in range(consumers)
    ]

    async def publish(event: dict[str, Any]) -> None:
        body = [dumps(event)]
        pipe = client.pipeline(transaction=False)
        for queue in queues:
            queue.queue_send(pipe, body)
        await pipe.execute()

    try:
        yield Side(
            f"raw redis-py: {len(queues)} ZSET + hash queues, {consumers} consumers each",
            publish,
            blocking=False,
            deliveries=len(queues),
        )
    finally:
        await stop(running, tasks)
        await client.aclose()


@contextlib.asynccontextmanager
async def raw_sqlite_queue_side(
    options: BenchOptions,
    deliver: Callable[[list[bytes]], Awaitable[None]],
    batch: int,
    consumers: int,
) -> AsyncIterator[Side]:
    """The raw ``sqlite3`` queue loop (:class:`~eventmesh.bench.sqlite_raw.RawSQLiteLoop`)
    on its own database beside the mesh's, with the storage URL's ``synchronous``: each
    send answered once committed, ``consumers`` consumers claiming, delivering and deleting
    up to ``batch`` messages, a transaction per batch for each step. Consumers start at once,
    or at ``start`` with ``--backlog``. The database's files are the run's to delete
    (:func:`~eventmesh.bench.sqlite_raw.bench_database`)."""
    from eventmesh.bench.sqlite_raw import RawSQLiteLoop, RawSQLiteQueue, sqlite_settings

    path, synchronous = sqlite_settings(options.storage)
    queue = RawSQLiteQueue(path + RAW_SUFFIX, synchronous)
    raw = RawSQLiteLoop(queue, deliver, batch, consumers)
    dumps = orjson.dumps

    async def send(event: dict[str, Any]) -> None:
        await raw.send(dumps(event))

    async def fill(events: list[dict[str, Any]]) -> None:
        raw.store([dumps(event) for event in events])

    async def start() -> None:
        raw.start()

    name = f"raw sqlite3, WAL {synchronous}: insert, claim, delete, a commit each per {batch}"
    try:
        if options.backlog is None:
            raw.start()
        yield Side(name, send, blocking=False, fill=fill, start=start)
    finally:
        await raw.stop()
        queue.close()
