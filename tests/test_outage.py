"""A store that is down for a while: consumers back off (bounded exponential), say so once per
outage, and resume by themselves when it answers again, losing nothing; a schedule's tick
waits for the store instead of being dropped. On the virtual clock, with memory stores that
raise :class:`~eventmesh.BackendError` while "down"."""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

import pytest

from eventmesh import BackendError, Context, Mesh, Telemetry
from eventmesh._outage import FIRST_PAUSE, MAX_PAUSE, Outage
from eventmesh.backends import Backend
from eventmesh.backends.memory import (
    MemoryBlobStore,
    MemoryKeyValueStore,
    MemoryLogStore,
    MemoryQueueStore,
)
from eventmesh.backends.protocols import Delivery, LogRecord, StoredValue
from eventmesh.resources.schedule import create_schedule
from eventmesh.testing import VirtualClock

DOWN = "storage 'redis://***@db:6379/0': script queue.receive (unreachable: 9 tries in 5.0 s)"


class Downtime:
    """When the store is down: from ``start`` to ``end`` on the clock (``now()``)."""

    def __init__(self, clock: VirtualClock, start: float = 0.0, end: float = 0.0) -> None:
        self.clock = clock
        self.start = start
        self.end = end
        self.failures: list[float] = []

    def check(self) -> None:
        now = self.clock.now()
        if self.start <= now < self.end:
            self.failures.append(now)
            raise BackendError(DOWN)


class DownQueues(MemoryQueueStore):
    def __init__(self, clock: VirtualClock, down: Downtime) -> None:
        super().__init__(clock)
        self.down = down

    async def receive(self, queue: str, *args: Any, **kwargs: Any) -> list[Delivery]:
        self.down.check()
        return await super().receive(queue, *args, **kwargs)


class DownLogs(MemoryLogStore):
    def __init__(self, clock: VirtualClock, down: Downtime) -> None:
        super().__init__(clock)
        self.down = down

    async def read(
        self, stream: str, shard: str, after: int, limit: int, wait: float = 0.0
    ) -> list[LogRecord]:
        if wait > 0:  # a mapping's reads (the stream's own short reads go on)
            self.down.check()
        return await super().read(stream, shard, after, limit, wait)


class DownValues(MemoryKeyValueStore):
    def __init__(self, clock: VirtualClock, down: Downtime) -> None:
        super().__init__(clock)
        self.down = down

    async def get(self, key: str) -> StoredValue | None:
        self.down.check()
        return await super().get(key)

    async def put(self, key: str, value: bytes, **kwargs: Any) -> int | None:
        self.down.check()
        return await super().put(key, value, **kwargs)


def down_mesh(clock: VirtualClock, down: Downtime, **stores: Any) -> Mesh:
    backend = Backend(
        queues=stores.get("queues", MemoryQueueStore(clock)),
        logs=stores.get("logs", MemoryLogStore(clock)),
        values=stores.get("values", MemoryKeyValueStore(clock)),
        blobs=MemoryBlobStore(clock),
        in_memory=True,
    )
    return Mesh(storage=backend, clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=2)


def lines(caplog: pytest.LogCaptureFixture, logger: str = "eventmesh") -> list[str]:
    """The WARNING and worse lines of ``logger`` and its children."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and (r.name + ".").startswith(logger + ".")
    ]


async def test_pauses_last_as_long_as_the_outage_so_far_from_one_to_ten_seconds(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Each pause is the outage's length so far, at least 1 s, at most 10 s: tries at 0, 1, 2,
    4, 8, 16, 26, 36 s. One warning when it starts, one when a call works again; the tries
    in between are DEBUG lines."""
    assert (FIRST_PAUSE, MAX_PAUSE) == (1.0, 10.0)
    outage = Outage("polling queue q", logging.getLogger("eventmesh.test"), clock)
    tries: list[float] = []
    caplog.set_level(logging.DEBUG, logger="eventmesh.test")

    async def consumer() -> None:
        for _ in range(7):
            tries.append(clock.now())
            await outage.failed(BackendError(DOWN))
        tries.append(clock.now())
        assert outage.ongoing
        outage.recovered()

    task = asyncio.ensure_future(consumer())
    await clock.advance(40)
    await task
    assert not outage.ongoing
    assert tries == [0, 1, 2, 4, 8, 16, 26, 36]
    assert lines(caplog) == [
        f"polling queue q failed; retrying in 1 s: {DOWN}",
        "polling queue q works again after 36.0 s (7 failed tries)",
    ]
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert len(debug) == 6 and debug[0].startswith("polling queue q failed again (2 tries)")


async def test_an_error_that_is_not_the_store_s_is_logged_with_its_traceback(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    outage = Outage("polling queue q", logging.getLogger("eventmesh.test"), clock)
    failing = asyncio.ensure_future(outage.failed(KeyError("bug")))
    await clock.advance(1)
    await failing
    [record] = caplog.records
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None and isinstance(record.exc_info[1], KeyError)


async def test_a_failure_beside_the_paced_call_is_counted_and_logged_once(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A batch that could not be finished (its delete failed) is part of the outage: a
    warning if it starts one, a DEBUG line if one is under way; never a traceback."""
    caplog.set_level(logging.DEBUG, logger="eventmesh.test")
    outage = Outage("polling queue q", logging.getLogger("eventmesh.test"), clock)
    outage.note(BackendError(DOWN), "finishing a batch of queue q")
    outage.note(BackendError(DOWN), "finishing a batch of queue q")
    failing = asyncio.ensure_future(outage.failed(BackendError(DOWN)))
    await clock.advance(1)
    await failing
    outage.recovered()
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, f"finishing a batch of queue q failed: {DOWN}"),
        (logging.DEBUG, f"finishing a batch of queue q failed: {DOWN}"),
        (logging.DEBUG, f"polling queue q failed again (3 tries); retrying in 1 s: {DOWN}"),
        (logging.WARNING, "polling queue q works again after 1.0 s (3 failed tries)"),
    ]
    assert not any(r.exc_info for r in caplog.records)


async def test_the_async_invocation_workers_wait_out_an_outage_and_run_the_event(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    down = Downtime(clock)
    mesh = down_mesh(clock, down, queues=DownQueues(clock, down))
    runs: list[float] = []

    @mesh.function(name="reader")
    async def reader(event: Any, context: Context) -> None:
        runs.append(clock.now())

    down.end = 30.0  # down from the start: the first poll fails
    async with mesh:
        await mesh.invoke("reader", {}, invocation_type="Event")  # the send is not failing
        await clock.advance(60)
    assert down.failures == [0, 1, 2, 4, 8, 16, 26]
    assert runs == [36.0]
    assert lines(caplog) == [
        f"polling eventmesh.async.reader failed; retrying in 1 s: {DOWN}",
        "polling eventmesh.async.reader works again after 36.0 s (7 failed tries)",
    ]


async def test_a_queue_mapping_waits_out_an_outage_and_loses_no_message(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    down = Downtime(clock)
    mesh = down_mesh(clock, down, queues=DownQueues(clock, down))
    queue = mesh.queue("orders")
    got: list[str] = []

    @mesh.function(name="consume")
    async def consume(event: Any, context: Context) -> None:
        got.extend(record["body"] for record in event["Records"])

    queue.subscribe(consume)
    down.end = 20.0
    async with mesh:
        await queue.send("waiting")  # the send is not failing
        await clock.advance(40)
    assert got == ["waiting"]
    assert clock.now() > 26 and down.failures[-1] == 16  # every poller: at 0, 1, 2, 4, 8, 16
    # (The function's own idle worker says it works again when its long poll returns.)
    warnings = lines(caplog, "eventmesh.mappings")
    assert len(warnings) == 2, warnings
    assert warnings[0].startswith("polling queue orders failed; retrying in 1 s: storage")
    assert warnings[1].startswith("polling queue orders works again after")


async def test_a_stream_mapping_waits_out_an_outage_and_keeps_its_order(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    down = Downtime(clock)
    mesh = down_mesh(clock, down, logs=DownLogs(clock, down))
    stream = mesh.stream("clicks")
    got: list[int] = []

    @mesh.function(name="count")
    async def count(event: Any, context: Context) -> None:
        got.extend(int(base64.b64decode(r["kinesis"]["data"])) for r in event["Records"])

    stream.subscribe(count, starting_position="TRIM_HORIZON")
    down.end = 15.0
    async with mesh:
        for n in range(6):
            await stream.put_record(n, partition_key="k")  # appends are not failing
        await clock.advance(40)
    assert down.failures == [0, 1, 2, 4, 8]
    assert got == [0, 1, 2, 3, 4, 5]
    warnings = lines(caplog, "eventmesh.mappings")
    assert len(warnings) == 2, warnings
    assert warnings[0].startswith("reading stream clicks failed; retrying in 1 s: storage")
    assert warnings[1].startswith("reading stream clicks works again after")


async def test_a_tick_whose_claim_meets_a_store_that_is_down_fires_when_it_is_back(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The claim of the 60 s tick fails while the store is down (50-75 s): the tick is not
    dropped, it fires once the claim can be written, once; the next tick is on time."""
    down = Downtime(clock)
    mesh = down_mesh(clock, down, values=DownValues(clock, down))
    fired: list[tuple[str, float]] = []

    async def target(payload: Any) -> None:
        fired.append((payload["time"], clock.now()))

    rule = create_schedule(mesh.context, "rate(1 minute)", target)
    async with mesh:
        down.start, down.end = 50.0, 75.0
        await clock.advance(130)
    assert fired == [
        ("2026-01-01T00:01:00Z", 76.0),  # tries at 60, 61, 62, 64, 68; 76 works
        ("2026-01-01T00:02:00Z", 120.0),
    ]
    assert rule.fired == 2
    warnings = lines(caplog)
    assert len(warnings) == 2, warnings
    assert warnings[0].startswith(f"schedule {rule.name}: the store failed; retrying in 1 s")
    assert (
        warnings[1] == f"schedule {rule.name}: the store works again after 16.0 s (5 failed tries)"
    )
