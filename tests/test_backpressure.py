"""Bounded memory: every producer waits for room at its resource's limit, or says so.

Each producer call (queue ``send``/``send_batch``, Event invocations, topic ``publish``,
bus ``put_events``, stream ``put_record(s)``) waits at ``max_pending`` and resumes when a
consumer frees room; ``timeout=0`` raises ``BackpressureError`` at once having stored
nothing; a timeout runs on the mesh's clock. Internal paths neither deadlock nor drop.
Producer loops that never suspend let consumers run.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from eventmesh import BackpressureError, ConfigurationError, Context, Mesh, Target, Telemetry
from eventmesh.testing import VirtualClock, settle


def _mesh(clock: VirtualClock, **settings: Any) -> Mesh:
    return Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=0.5, **settings)


def _assert_names(error: BackpressureError, kind: str, name: str, limit: int) -> None:
    assert (error.kind, error.resource, error.limit) == (kind, name, limit)
    assert f"{kind} {name!r}" in str(error)
    assert f"limit of {limit}" in str(error)


# -- queues ------------------------------------------------------------------------------------
async def test_send_waits_at_the_limit_and_resumes_when_a_message_is_deleted(
    clock: VirtualClock,
) -> None:
    mesh = _mesh(clock)
    queue = mesh.queue("jobs", max_pending=2)
    async with mesh:
        await queue.send("a")
        await queue.send("b")
        third = asyncio.create_task(queue.send("c"))
        await settle()
        assert not third.done()
        assert (await queue.stats()).total == 2
        (message,) = await queue.receive()
        await settle()
        assert not third.done()  # received is still pending: only a delete frees room
        assert await queue.delete(message.receipt_handle)
        await settle()
        assert third.done()
        await third
        assert (await queue.stats()).total == 2


async def test_send_with_timeout_zero_names_the_queue_and_stores_nothing(
    clock: VirtualClock,
) -> None:
    mesh = _mesh(clock)
    queue = mesh.queue("jobs", max_pending=2)
    async with mesh:
        await queue.send("a")
        await queue.send("b")
        with pytest.raises(BackpressureError) as caught:
            await queue.send("c", timeout=0)
        assert (await queue.stats()).total == 2
    _assert_names(caught.value, "queue", "jobs", 2)


async def test_a_send_timeout_expires_on_the_mesh_clock(clock: VirtualClock) -> None:
    mesh = _mesh(clock)
    queue = mesh.queue("jobs", max_pending=1)
    async with mesh:
        await queue.send("a")
        waiting = asyncio.create_task(queue.send("b", timeout=5))
        await clock.advance(4.9)
        assert not waiting.done()
        await clock.advance(0.1)
        assert waiting.done()
        with pytest.raises(BackpressureError):
            await waiting
        assert (await queue.stats()).total == 1
        # The waiter that gave up holds no room: the next send after a delete goes in.
        (message,) = await queue.receive()
        await queue.delete(message.receipt_handle)
        await queue.send("c", timeout=0)


async def test_send_batch_waits_for_room_or_raises_storing_nothing(clock: VirtualClock) -> None:
    mesh = _mesh(clock)
    queue = mesh.queue("jobs", max_pending=2)
    async with mesh:
        await queue.send("a")
        await queue.send("b")
        with pytest.raises(BackpressureError) as caught:
            await queue.send_batch([{"id": "1", "body": "x"}, {"id": "2", "body": "y"}], timeout=0)
        assert (await queue.stats()).total == 2
        batch = asyncio.create_task(queue.send_batch([{"id": "1", "body": "x"}]))
        await settle()
        assert not batch.done()
        (message,) = await queue.receive()
        await queue.delete(message.receipt_handle)
        await settle()
        result = await batch
    assert [entry["Id"] for entry in result["Successful"]] == ["1"]
    _assert_names(caught.value, "queue", "jobs", 2)


async def test_retention_frees_room_for_a_waiting_sender(clock: VirtualClock) -> None:
    mesh = _mesh(clock)
    queue = mesh.queue("jobs", max_pending=1, retention=60)
    async with mesh:
        await queue.send("old")
        waiting = asyncio.create_task(queue.send("new"))
        await clock.advance(59)
        assert not waiting.done()
        await clock.advance(61)  # the retention sweep (every 60 s) drops "old"
        assert waiting.done()
        await waiting
        (message,) = await queue.receive()
    assert message.body == "new"


async def test_a_redrive_into_a_full_dead_letter_queue_is_kept(clock: VirtualClock) -> None:
    mesh = _mesh(clock)
    dead = mesh.queue("dead", max_pending=1)
    queue = mesh.queue("jobs", max_receive_count=1, dead_letter="dead", visibility_timeout=1)
    async with mesh:
        await dead.send("earlier")
        await queue.send("poison")
        assert len(await queue.receive()) == 1
        await clock.advance(1)
        assert await queue.receive() == []  # received twice: redriven, over the DLQ's limit
        assert (await dead.stats()).total == 2
        with pytest.raises(BackpressureError):
            await dead.send("more", timeout=0)


# -- Event invocations ---------------------------------------------------------------------------
async def test_event_invocations_wait_at_the_function_limit(clock: VirtualClock) -> None:
    mesh = _mesh(clock)
    gate = asyncio.Event()
    seen: list[int] = []

    @mesh.function(reserved_concurrency=1, max_pending=2, timeout=900)
    async def slow(event: Any, context: Context) -> None:
        await gate.wait()
        seen.append(event["n"])

    async with mesh:
        await mesh.invoke("slow", {"n": 1}, "Event")  # taken by the worker, still pending
        await mesh.invoke("slow", {"n": 2}, "Event")  # queued
        third = asyncio.create_task(mesh.invoke("slow", {"n": 3}, "Event"))
        await settle()
        assert not third.done()
        with pytest.raises(BackpressureError) as caught:
            await mesh.invoke("slow", {"n": 4}, "Event", timeout=0)
        gate.set()
        await settle()
        assert (await third).status_code == 202
        await settle()
    assert sorted(seen) == [1, 2, 3]
    _assert_names(caught.value, "function", "slow", 2)
    assert caught.value.function_name == "slow"


async def test_an_event_waiting_to_retry_is_still_pending(clock: VirtualClock) -> None:
    mesh = _mesh(clock)
    calls: list[int] = []

    @mesh.function(max_pending=1)
    async def flaky(event: Any, context: Context) -> None:
        calls.append(event)
        if len(calls) == 1:
            raise RuntimeError("first attempt fails")

    async with mesh:
        await mesh.invoke("flaky", 1, "Event")
        await clock.advance(1)
        assert calls == [1]  # the retry is due in 60 s: the event is still pending
        with pytest.raises(BackpressureError):
            await mesh.invoke("flaky", 2, "Event", timeout=0)
        await clock.advance(60)
        assert calls == [1, 1]  # the retry succeeded: room again, counted once
        await mesh.invoke("flaky", 3, "Event", timeout=0)
        await clock.advance(1)
    assert calls == [1, 1, 3]


async def test_a_failure_record_reaches_a_full_destination_queue(clock: VirtualClock) -> None:
    mesh = _mesh(clock)
    failures = mesh.queue("failures", max_pending=1)

    @mesh.function(retries=0, on_failure="failures")
    async def broken(event: Any, context: Context) -> None:
        raise RuntimeError("no")

    async with mesh:
        await failures.send("earlier")
        await mesh.invoke("broken", {"n": 1}, "Event")
        await clock.advance(1)
        assert (await failures.stats()).total == 2  # over its limit, not lost nor waiting
    assert broken.stats.destination_failures == 0


async def test_a_destination_overflow_does_not_reach_a_subscriber_own_sends(
    clock: VirtualClock,
) -> None:
    mesh = _mesh(clock)
    inbox = mesh.queue("inbox", max_pending=1)
    topic = mesh.topic("results")
    sent: list[str] = []

    async def subscriber(envelope: dict[str, Any]) -> None:
        await inbox.send("from the subscriber")  # its own send: waits, the inbox is full
        sent.append(envelope["Type"])

    topic.subscribe(subscriber)

    @mesh.function(on_success="results")
    async def ok(event: Any, context: Context) -> dict[str, bool]:
        return {"ok": True}

    async with mesh:
        await inbox.send("earlier")
        await mesh.invoke("ok", {}, "Event")
        await clock.advance(1)
        assert sent == []
        assert (await inbox.stats()).total == 1
        (message,) = await inbox.receive()
        await inbox.delete(message.receipt_handle)
        await settle()
        assert sent == ["Notification"]


# -- topics ------------------------------------------------------------------------------------
async def test_publish_waits_while_the_topic_deliveries_are_at_the_limit(
    clock: VirtualClock,
) -> None:
    mesh = _mesh(clock)
    gate = asyncio.Event()
    got: list[str] = []

    async def subscriber(envelope: dict[str, Any]) -> None:
        await gate.wait()
        got.append(envelope["Message"])

    topic = mesh.topic("news", max_pending=2)
    topic.subscribe(subscriber)
    async with mesh:
        await topic.publish("1")
        await topic.publish("2")
        third = asyncio.create_task(topic.publish("3"))
        await settle()
        assert not third.done()
        with pytest.raises(BackpressureError) as caught:
            await topic.publish("4", timeout=0)
        gate.set()
        await settle()
        await third
        await settle()
    assert sorted(got) == ["1", "2", "3"]
    _assert_names(caught.value, "topic", "news", 2)


async def test_a_topic_delivery_to_a_full_queue_waits_in_the_background(
    clock: VirtualClock,
) -> None:
    mesh = _mesh(clock)
    queue = mesh.queue("inbox", max_pending=1)
    topic = mesh.topic("news")
    topic.subscribe(queue, raw_message_delivery=True)
    async with mesh:
        await queue.send("earlier")
        await topic.publish("late")  # returns: the queue is full, not the topic
        assert await topic.pending() == 1
        await clock.advance(200)  # waits 60 s an attempt, retries: never dropped
        assert topic.delivery_failures == 0
        (message,) = await queue.receive()
        await queue.delete(message.receipt_handle)
        await clock.advance(20)
        (delivered,) = await queue.receive()
    assert (message.body, delivered.body) == ("earlier", "late")


# -- buses -------------------------------------------------------------------------------------
def _entry(n: int) -> dict[str, Any]:
    return {"Source": "shop", "DetailType": "order", "Detail": {"n": n}}


async def test_put_events_waits_while_the_bus_deliveries_are_at_the_limit(
    clock: VirtualClock,
) -> None:
    mesh = _mesh(clock)
    gate = asyncio.Event()
    got: list[int] = []

    async def target(event: dict[str, Any]) -> None:
        await gate.wait()
        got.append(event["detail"]["n"])

    bus = mesh.bus("orders", max_pending=2)
    bus.rule("all", {"source": ["shop"]}, targets=[target])
    async with mesh:
        await bus.put_events([_entry(1)])
        await bus.put_events([_entry(2)])
        third = asyncio.create_task(bus.put_events([_entry(3)]))
        await settle()
        assert not third.done()
        with pytest.raises(BackpressureError) as caught:
            await bus.put_events([_entry(4)], timeout=0)
        assert bus.events_put == 2
        gate.set()
        await settle()
        assert (await third)["FailedEntryCount"] == 0
        await settle()
    assert sorted(got) == [1, 2, 3]
    _assert_names(caught.value, "bus", "orders", 2)


async def test_a_bus_delivery_to_a_full_queue_is_throttled_then_dead_lettered(
    clock: VirtualClock,
) -> None:
    mesh = _mesh(clock)
    inbox = mesh.queue("inbox", max_pending=1)
    dead = mesh.queue("dead")
    bus = mesh.bus("orders")
    bus.rule(
        "all",
        {"source": ["shop"]},
        targets=[Target(inbox, max_retries=0, dead_letter=dead)],
    )
    async with mesh:
        await inbox.send("earlier")
        await bus.put_events([_entry(1)])
        await clock.advance(59)
        assert await dead.receive() == []
        await clock.advance(1)  # 60 s without room: a THROTTLING failure, no retry left
        (letter,) = await dead.receive()
    assert letter.message_attributes["ERROR_CODE"]["StringValue"] == "THROTTLING"
    assert bus.dead_lettered == 1


# -- streams -----------------------------------------------------------------------------------
async def test_put_record_waits_for_retention_when_nothing_reads_the_stream(
    clock: VirtualClock,
) -> None:
    mesh = _mesh(clock)
    stream = mesh.stream("clicks", max_pending=2)
    async with mesh:
        await stream.put_record("a", "k")
        await stream.put_record("b", "k")
        with pytest.raises(BackpressureError) as caught:
            await stream.put_record("c", "k", timeout=0)
        waiting = asyncio.create_task(stream.put_record("c", "k"))
        await clock.advance(86_399)
        assert not waiting.done()
        await clock.advance(2)  # the first two expire: room
        assert waiting.done()
        await waiting
    _assert_names(caught.value, "stream", "clicks", 2)


async def test_put_records_stores_nothing_when_a_shard_is_full(clock: VirtualClock) -> None:
    mesh = _mesh(clock)
    stream = mesh.stream("clicks", max_pending=1)
    async with mesh:
        await stream.put_record("a", "k")
        entries = [{"data": "b", "partition_key": "k"}, {"data": "c", "partition_key": "k"}]
        with pytest.raises(BackpressureError):
            await stream.put_records(entries, timeout=0)
        iterator = await stream.get_shard_iterator(stream.shard_ids[0], "TRIM_HORIZON")
        result = await stream.get_records(iterator)
    assert [record.text() for record in result.records] == ["a"]


async def test_a_stream_mapping_that_reads_on_frees_room(clock: VirtualClock) -> None:
    mesh = _mesh(clock)
    stream = mesh.stream("clicks", max_pending=2)
    seen: list[str] = []

    @mesh.function
    async def reader(event: Any, context: Context) -> None:
        seen.extend(record["kinesis"]["data"] for record in event["Records"])

    stream.subscribe(reader, starting_position="TRIM_HORIZON", batch_size=100)
    await stream.put_record("a", "k")
    await stream.put_record("b", "k")
    with pytest.raises(BackpressureError):  # no mapping runs yet: both records are owed
        await stream.put_record("c", "k", timeout=0)
    waiting = asyncio.create_task(stream.put_record("c", "k"))
    await settle()
    assert not waiting.done()
    async with mesh:
        start = clock.now()
        await settle()  # the mapping starts and reads both: room
        assert waiting.done()
        await waiting
        for n in range(10):  # 5 times the limit: each waits (no time passes) for a read
            await stream.put_record(str(n), "k", timeout=1)
        assert clock.now() == start
        await clock.advance(1)
    assert len(seen) == 13


# -- starvation ----------------------------------------------------------------------------------
async def test_a_tight_send_loop_lets_the_queue_consumer_run(clock: VirtualClock) -> None:
    mesh = _mesh(clock)
    handled: list[int] = []

    @mesh.function
    async def consume(event: Any, context: Context) -> None:
        handled.append(len(event["Records"]))

    queue = mesh.queue("jobs")
    queue.subscribe(consume, batch_size=10)
    async with mesh:
        for n in range(2000):
            await queue.send(str(n))
        handled_during_the_loop = sum(handled)
    assert handled_during_the_loop > 0


async def test_a_tight_event_invocation_loop_lets_the_function_run(clock: VirtualClock) -> None:
    mesh = _mesh(clock)
    handled: list[int] = []

    @mesh.function
    async def consume(event: Any, context: Context) -> None:
        handled.append(event)

    async with mesh:
        for n in range(2000):
            await mesh.invoke("consume", n, "Event")
        handled_during_the_loop = len(handled)
    assert handled_during_the_loop > 0


async def test_a_tight_publish_loop_lets_the_subscriber_run(clock: VirtualClock) -> None:
    mesh = _mesh(clock)
    handled: list[str] = []

    async def subscriber(envelope: dict[str, Any]) -> None:
        handled.append(envelope["Message"])

    topic = mesh.topic("news")
    topic.subscribe(subscriber)
    async with mesh:
        for n in range(2000):
            await topic.publish(str(n))
        handled_during_the_loop = len(handled)
    assert handled_during_the_loop > 0


# -- settings ----------------------------------------------------------------------------------
async def test_limits_come_from_the_resource_or_function_else_the_mesh(
    clock: VirtualClock,
) -> None:
    mesh = _mesh(clock, max_pending=3)
    default_queue = mesh.queue("default-queue")
    own_queue = mesh.queue("own-queue", max_pending=1)
    gate = asyncio.Event()

    @mesh.function(timeout=900)
    async def default_fn(event: Any, context: Context) -> None:
        await gate.wait()

    @mesh.function(max_pending=1, timeout=900)
    async def own_fn(event: Any, context: Context) -> None:
        await gate.wait()

    limits: dict[str, int] = {}
    async with mesh:
        for name, send in (
            ("default-queue", lambda: default_queue.send("x", timeout=0)),
            ("own-queue", lambda: own_queue.send("x", timeout=0)),
            ("default_fn", lambda: mesh.invoke("default_fn", {}, "Event", timeout=0)),
            ("own_fn", lambda: mesh.invoke("own_fn", {}, "Event", timeout=0)),
        ):
            with pytest.raises(BackpressureError) as caught:
                for _ in range(10):
                    await send()
            limits[name] = caught.value.limit
        gate.set()
    assert limits == {"default-queue": 3, "own-queue": 1, "default_fn": 3, "own_fn": 1}


def test_each_kind_has_a_default_limit(clock: VirtualClock) -> None:
    mesh = _mesh(clock)
    limits = {
        "queue": mesh.queue("q").limit.limit,
        "topic": mesh.topic("t").limit.limit,
        "bus": mesh.bus("b").limit.limit,
    }
    assert limits == {"queue": 100_000, "topic": 10_000, "bus": 10_000}
    everywhere = _mesh(clock, max_pending=7)
    assert everywhere.topic("t").limit.limit == 7
    assert everywhere.bus("b").limit.limit == 7


async def test_no_limit_on_a_durable_queue(clock: VirtualClock, tmp_path: Path) -> None:
    mesh = Mesh(
        clock=clock,
        storage=f"sqlite:///{tmp_path / 'mesh.db'}",
        telemetry=Telemetry(enabled=False),
        max_pending=1,
    )
    queue = mesh.queue("jobs")
    async with mesh:
        for n in range(3):
            await queue.send(str(n), timeout=0)  # on disk, not in memory: not limited
        assert (await queue.stats()).total == 3


@pytest.mark.parametrize("value", [0, -1, True, 1.5, "10", math.inf])
def test_an_invalid_max_pending_is_refused(clock: VirtualClock, value: Any) -> None:
    with pytest.raises(ConfigurationError, match="max_pending"):
        _mesh(clock, max_pending=value)
    mesh = _mesh(clock)
    with pytest.raises(ConfigurationError, match="max_pending"):
        mesh.queue("q", max_pending=value)
    with pytest.raises(ConfigurationError, match="max_pending"):
        mesh.topic("t", max_pending=value)
    with pytest.raises(ConfigurationError, match="max_pending"):
        mesh.bus("b", max_pending=value)
    with pytest.raises(ConfigurationError, match="max_pending"):
        mesh.stream("s", max_pending=value)
    with pytest.raises(ConfigurationError, match="max_pending"):

        @mesh.function(max_pending=value)
        async def handler(event: Any, context: Context) -> None: ...


@pytest.mark.parametrize("value", [-1, math.nan, "1", True])
async def test_an_invalid_timeout_is_refused(clock: VirtualClock, value: Any) -> None:
    mesh = _mesh(clock)
    queue = mesh.queue("q")
    topic = mesh.topic("t")
    bus = mesh.bus("b")
    stream = mesh.stream("s")

    @mesh.function
    async def handler(event: Any, context: Context) -> None: ...

    async with mesh:
        calls = (
            lambda: queue.send("x", timeout=value),
            lambda: queue.send_batch([{"body": "x"}], timeout=value),
            lambda: mesh.invoke("handler", {}, "Event", timeout=value),
            lambda: topic.publish("x", timeout=value),
            lambda: bus.put_events([_entry(1)], timeout=value),
            lambda: stream.put_record("x", "k", timeout=value),
        )
        for call in calls:
            with pytest.raises(ConfigurationError, match="timeout"):
                await call()
        assert (await queue.stats()).total == 0


async def test_a_producer_cancelled_while_it_yields_or_waits_holds_no_room(
    clock: VirtualClock,
) -> None:
    mesh = _mesh(clock)
    queue = mesh.queue("jobs", max_pending=40)
    async with mesh:
        for n in range(31):
            await queue.send(str(n))
        sender = asyncio.create_task(queue.send("32nd"))  # the 32nd call yields to the loop
        await asyncio.sleep(0)
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        assert sender.cancelled()
        for n in range(9):
            await queue.send(f"fill {n}", timeout=0)  # room for all nine: none was leaked
        assert (await queue.stats()).total == 40
        waiting = asyncio.create_task(queue.send("late"))
        await settle()
        waiting.cancel()  # cancelled while waiting for room
        await asyncio.gather(waiting, return_exceptions=True)
        (message,) = await queue.receive()
        await queue.delete(message.receipt_handle)
        await queue.send("fits", timeout=0)
        assert (await queue.stats()).total == 40
        with pytest.raises(BackpressureError):
            await queue.send("over", timeout=0)


async def test_producers_waiting_at_stop_are_told_the_mesh_stopped(clock: VirtualClock) -> None:
    mesh = _mesh(clock)
    queue = mesh.queue("jobs", max_pending=1)

    @mesh.function(max_pending=2)
    async def work(event: Any, context: Context) -> None:
        await asyncio.Event().wait()  # never frees its room

    async with mesh:
        await queue.send("a")
        await mesh.invoke("work", {}, "Event")
        await settle()
        await mesh.invoke("work", {}, "Event")  # the first one runs; this one is queued
        waiting_send = asyncio.create_task(queue.send("b"))
        waiting_invoke = asyncio.create_task(mesh.invoke("work", {}, "Event"))
        await settle()
        assert queue.limit.waiting == 1
        await mesh.stop(drain=False)
        await settle()
        assert waiting_send.done() and waiting_invoke.done()
        with pytest.raises(BackpressureError, match="the mesh stopped") as caught:
            await waiting_send
        _assert_names(caught.value, "queue", "jobs", 1)
        with pytest.raises(BackpressureError, match="the mesh stopped"):
            await waiting_invoke
        assert (await queue.stats()).total == 1  # nothing of the waiter's was stored
        with pytest.raises(BackpressureError, match="the mesh stopped"):
            await queue.send("after stop")  # a full queue no consumer will empty: at once


async def test_a_put_record_waiting_at_stop_is_told_the_mesh_stopped(clock: VirtualClock) -> None:
    mesh = _mesh(clock)
    stream = mesh.stream("clicks", max_pending=1)
    async with mesh:
        await stream.put_record("a", "k")
        waiting = asyncio.create_task(stream.put_record("b", "k"))
        await settle()
        assert not waiting.done()
        await mesh.stop(drain=False)
        await settle()
        assert waiting.done()  # not spinning between the stopped limit and the next trim
        with pytest.raises(BackpressureError, match="the mesh stopped"):
            await waiting


async def test_a_handler_sending_to_its_own_full_queue_does_not_wait_for_itself(
    clock: VirtualClock,
) -> None:
    mesh = _mesh(clock)
    queue = mesh.queue("crawl", max_pending=2)
    seen: list[str] = []

    @mesh.function(timeout=3)
    async def crawl(event: Any, context: Context) -> None:
        for record in event["Records"]:
            seen.append(record["body"])
            depth = int(record["body"])
            if depth < 2:
                await queue.send(str(depth + 1))  # the queue is full of its own batch

    queue.subscribe(crawl, batch_size=1)
    async with mesh:
        await queue.send("0")
        await queue.send("0")
        for _ in range(5):
            await clock.advance(1)
            await settle()
    assert sorted(seen) == ["0", "0", "1", "1", "2", "2"]
    assert crawl.stats.errors == 0  # no handler timed out waiting for its own queue
    assert queue.limit.pending == 0


async def test_an_event_invocation_of_itself_at_the_limit_does_not_wait_for_itself(
    clock: VirtualClock,
) -> None:
    mesh = _mesh(clock)
    seen: list[int] = []

    @mesh.function(timeout=3, max_pending=1)
    async def countdown(event: Any, context: Context) -> None:
        seen.append(event)
        if event > 0:
            await mesh.invoke("countdown", event - 1, "Event")  # its own run holds the room

    async with mesh:
        await mesh.invoke("countdown", 2, "Event")
        for _ in range(5):
            await clock.advance(1)
            await settle()
    assert seen == [2, 1, 0]
    assert countdown.stats.errors == 0


# -- every producer's timeout ------------------------------------------------------------------
Producer = tuple[Callable[[], Awaitable[Any]], Callable[[float], Awaitable[Any]]]


def _function_at_its_limit(mesh: Mesh, gate: asyncio.Event) -> Producer:
    @mesh.function(max_pending=1, timeout=900)
    async def slow(event: Any, context: Context) -> None:
        await gate.wait()

    return (
        lambda: mesh.invoke("slow", {}, "Event"),
        lambda timeout: mesh.invoke("slow", {}, "Event", timeout=timeout),
    )


def _topic_at_its_limit(mesh: Mesh, gate: asyncio.Event) -> Producer:
    async def subscriber(envelope: dict[str, Any]) -> None:
        await gate.wait()

    topic = mesh.topic("news", max_pending=1)
    topic.subscribe(subscriber)
    return lambda: topic.publish("1"), lambda timeout: topic.publish("2", timeout=timeout)


def _bus_at_its_limit(mesh: Mesh, gate: asyncio.Event) -> Producer:
    async def target(event: dict[str, Any]) -> None:
        await gate.wait()

    bus = mesh.bus("orders", max_pending=1)
    bus.rule("all", {"source": ["shop"]}, targets=[target])
    return (
        lambda: bus.put_events([_entry(1)]),
        lambda timeout: bus.put_events([_entry(2)], timeout=timeout),
    )


def _stream_at_its_limit(mesh: Mesh, gate: asyncio.Event) -> Producer:
    stream = mesh.stream("clicks", max_pending=1)
    return (
        lambda: stream.put_record("a", "k"),
        lambda timeout: stream.put_record("b", "k", timeout=timeout),
    )


@pytest.mark.parametrize(
    "at_its_limit",
    [_function_at_its_limit, _topic_at_its_limit, _bus_at_its_limit, _stream_at_its_limit],
    ids=["event-invocation", "publish", "put_events", "put_record"],
)
async def test_a_producer_timeout_expires_on_the_mesh_clock(
    clock: VirtualClock, at_its_limit: Callable[[Mesh, asyncio.Event], Producer]
) -> None:
    mesh = _mesh(clock)
    gate = asyncio.Event()
    fill, produce = at_its_limit(mesh, gate)
    async with mesh:
        await fill()
        waiting = asyncio.create_task(produce(2))
        await clock.advance(1.9)
        assert not waiting.done()
        await clock.advance(0.1)
        assert waiting.done()
        with pytest.raises(BackpressureError):
            await waiting
        gate.set()


async def test_a_consumer_publishing_to_the_topic_that_feeds_its_full_queue_goes_on(
    clock: VirtualClock,
) -> None:
    mesh = _mesh(clock)
    queue = mesh.queue("work", max_pending=1)
    topic = mesh.topic("steps")
    topic.subscribe(queue, raw_message_delivery=True)
    seen: list[str] = []

    @mesh.function(timeout=3)
    async def step(event: Any, context: Context) -> None:
        for record in event["Records"]:
            seen.append(record["body"])
            if record["body"] != "3":
                await topic.publish(str(int(record["body"]) + 1))  # back into its own queue

    queue.subscribe(step, batch_size=1)
    async with mesh:
        await topic.publish("1")
        for _ in range(3):
            await clock.advance(1)
            await settle()
    # Each step goes on at once: the publish does not wait for the queue (its delivery waits
    # in the background), and the handler's delete wakes that delivery.
    assert seen == ["1", "2", "3"]
    assert step.stats.errors == 0
