"""Redis unreachable, paused, or dropping connections: what producers see, how consumers resume.

Every outage here is on a server of the test's own (see outage_tools): a proxy cut (the server
looks down: connections refused and closed), a SIGSTOP (connections open, no answer), or
``CLIENT KILL`` (every connection closed by the server). The shared server other tests use is
never touched.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from outage_tools import PASSWORD, PrivateServer, Proxy

from eventmesh import BackendError, Context, Mesh, Telemetry
from eventmesh_redis import RedisConnection, parse_redis_url
from eventmesh_redis.connection import Script

ADD = Script("add", "return redis.call('INCRBY', KEYS[1], ARGV[1])")
SLACK = 1.0  # seconds a loaded two-core machine may add to a bounded wait


def _mesh(url: str) -> Mesh:
    return Mesh(storage=url, telemetry=Telemetry(enabled=False), drain_timeout=2.0)


async def eventually(check: Callable[[], bool], within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "not within the time allowed"
        await asyncio.sleep(0.02)


def every_line(caplog: pytest.LogCaptureFixture) -> str:
    """Everything logged, with the tracebacks as they would be printed."""
    handler = logging.Handler()
    formatter = logging.Formatter()
    parts = []
    for record in caplog.records:
        parts.append(record.getMessage())
        if record.exc_info:
            parts.append(formatter.formatException(record.exc_info))
    del handler
    return "\n".join(parts)


def causes(error: BaseException) -> Iterator[BaseException]:
    while error is not None:
        yield error
        error = error.__cause__ or error.__context__  # type: ignore[assignment]


def assert_no_secret(error: BaseException) -> None:
    for each in causes(error):
        assert PASSWORD not in str(each) and PASSWORD not in repr(each), each


# -- one connection --------------------------------------------------------------------------
async def test_connections_the_server_killed_are_made_again_without_an_error(
    private_server: PrivateServer,
) -> None:
    """``CLIENT KILL`` closes every pooled connection: the next command reconnects (a
    script, a log read), and the caller sees no error."""
    url = private_server.url() + "?timeout=2"
    connection = RedisConnection(url, parse_redis_url(url), [ADD])
    try:
        key = connection.key("test", "n")
        assert await connection.call(ADD, [key], [1]) == 1
        for round_ in range(3):
            assert await private_server.kill_clients() >= 1
            assert await connection.call(ADD, [key], [1]) == 2 + round_
    finally:
        await connection.close()


async def test_a_short_cut_is_waited_out_within_the_timeout(private_server: PrivateServer) -> None:
    async with Proxy(private_server.port) as proxy:
        url = proxy.url("?timeout=5")
        connection = RedisConnection(url, parse_redis_url(url), [ADD])
        try:
            key = connection.key("test", "n")
            assert await connection.call(ADD, [key], [1]) == 1
            proxy.cut()
            asyncio.get_running_loop().call_later(0.4, proxy.restore)
            started = time.monotonic()
            assert await connection.call(ADD, [key], [1]) == 2
            assert 0.3 < time.monotonic() - started < 5
        finally:
            proxy.restore()
            await connection.close()


@pytest.mark.parametrize("outage", ["cut", "paused"])
async def test_a_server_that_does_not_answer_is_a_backend_error_within_the_timeout(
    private_server: PrivateServer, outage: str
) -> None:
    """Refused (proxy cut) or silent (SIGSTOP): a BackendError after ``timeout`` seconds of
    tries, saying so, with the password in neither the error nor its causes."""
    async with Proxy(private_server.port) as proxy:
        url = proxy.url("?timeout=0.6")
        connection = RedisConnection(url, parse_redis_url(url), [ADD])
        try:
            await connection.call(ADD, [connection.key("test", "n")], [1])
            proxy.cut() if outage == "cut" else private_server.pause()
            started = time.monotonic()
            with pytest.raises(
                BackendError, match=r"script add \(unreachable: (1 try|\d+ tries) in"
            ) as got:
                await connection.call(ADD, [connection.key("test", "n")], [1])
            assert 0.5 < time.monotonic() - started < 0.6 + SLACK
            assert type(got.value) is BackendError
            assert str(got.value).startswith(f"storage 'redis://***@127.0.0.1:{proxy.port}/0?")
            assert_no_secret(got.value)
        finally:
            proxy.restore()
            private_server.resume()
            await connection.close()


async def test_a_wrong_password_is_refused_at_once_without_showing_it(
    private_server: PrivateServer,
) -> None:
    wrong = "not-the-" + PASSWORD
    url = f"redis://:{wrong}@127.0.0.1:{private_server.port}/0?timeout=5"
    connection = RedisConnection(url, parse_redis_url(url), [ADD])
    started = time.monotonic()
    with pytest.raises(BackendError) as got:
        await connection.call(ADD, [connection.key("test", "n")], [1])
    assert time.monotonic() - started < 2  # no retries for an answer that will not change
    for each in causes(got.value):
        assert wrong not in str(each) and wrong not in repr(each)
    await connection.close()


# -- producers -------------------------------------------------------------------------------
async def test_every_producer_gets_a_backend_error_within_the_timeout_and_no_secret(
    private_server: PrivateServer, caplog: pytest.LogCaptureFixture
) -> None:
    """With the server down, a queue send, a record put, a publish and an Event invocation
    each raise BackendError after the URL's timeout (0.6 s) of tries, never a raw redis
    error; PutEvents answers InternalFailure for each entry within one timeout; nothing
    logged names the password; once the server is back, producing works again."""
    caplog.set_level(logging.DEBUG)
    async with Proxy(private_server.port) as proxy:
        mesh = _mesh(proxy.url("?timeout=0.6&poll_interval=0.2"))
        queue, stream, topic, bus = (
            mesh.queue("q"),
            mesh.stream("s"),
            mesh.topic("t"),
            mesh.bus("b"),
        )
        ran: list[Any] = []

        @mesh.function(name="f")
        async def f(event: Any, context: Context) -> None:
            ran.append(event)

        topic.subscribe(queue)
        bus.rule("all", pattern={"source": ["app"]}, targets=[queue])
        entry = {"Source": "app", "DetailType": "d", "Detail": {}}
        producers: dict[str, Callable[[], Any]] = {
            "send": lambda: queue.send("m"),
            "put_record": lambda: stream.put_record({"n": 1}, partition_key="k"),
            "publish": lambda: topic.publish("m"),
            "invoke Event": lambda: mesh.invoke("f", {}, invocation_type="Event"),
        }
        async with mesh:
            for produce in producers.values():
                await produce()
            proxy.cut()
            for name, produce in producers.items():
                started = time.monotonic()
                with pytest.raises(BackendError, match="unreachable") as got:
                    await produce()
                assert time.monotonic() - started < 0.6 + SLACK, name
                assert_no_secret(got.value)
            started = time.monotonic()
            answer = await bus.put_events([entry] * 5)
            assert time.monotonic() - started < 0.6 + SLACK
            assert answer["FailedEntryCount"] == 5
            assert {e["ErrorCode"] for e in answer["Entries"]} == {"InternalFailure"}
            assert "unreachable" in answer["Entries"][0]["ErrorMessage"]
            proxy.restore()
            for produce in producers.values():
                await produce()
            assert (await bus.put_events([entry]))["FailedEntryCount"] == 0
            await eventually(lambda: len(ran) == 2)
    logged = every_line(caplog)
    assert "unreachable" in logged  # the consumers said it
    assert PASSWORD not in logged


# -- consumers -------------------------------------------------------------------------------
def doorbell(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "eventmesh_redis"]


def _decode(record: dict[str, Any]) -> str:
    return base64.b64decode(record["kinesis"]["data"]).decode().strip('"')


@pytest.mark.parametrize("outage", ["cut", "paused"])
async def test_consumers_resume_by_themselves_after_an_outage_and_lose_nothing(
    private_server: PrivateServer, caplog: pytest.LogCaptureFixture, outage: str
) -> None:
    """A queue mapping, a stream mapping, a function's Event queue and a topic's deliveries
    keep running through 2.5 s without the server (cut, or paused) and take everything sent
    before and after it: nothing lost, each shard in order. Each consumer logs the outage
    once, not once per try, and once that it works again."""
    caplog.set_level(logging.WARNING)
    async with Proxy(private_server.port) as proxy:
        mesh = _mesh(proxy.url("?timeout=0.5&poll_interval=0.2"))
        queue = mesh.queue("jobs", visibility_timeout=2)
        stream = mesh.stream("clicks", shards=2)
        topic = mesh.topic("news")
        seen: dict[str, list[str]] = {"queue": [], "stream": [], "event": [], "topic": []}
        shards: dict[str, list[str]] = {}

        @mesh.function(name="jobs", timeout=1)
        async def jobs(event: Any, context: Context) -> None:
            seen["queue"] += [record["body"] for record in event["Records"]]

        @mesh.function(name="clicks")
        async def clicks(event: Any, context: Context) -> None:
            for record in event["Records"]:
                seen["stream"].append(_decode(record))
                shards.setdefault(record["kinesis"]["partitionKey"], []).append(_decode(record))

        @mesh.function(name="events")
        async def events(event: Any, context: Context) -> None:
            seen["event"].append(event["n"])

        @mesh.function(name="news")
        async def news(event: Any, context: Context) -> None:
            seen["topic"].append(event["Records"][0]["Sns"]["Message"])

        queue.subscribe(jobs, batch_size=5)
        stream.subscribe(clicks, starting_position="TRIM_HORIZON", batch_size=5)
        topic.subscribe(news)

        async def produce(tag: str) -> None:
            for n in range(10):
                await queue.send(f"{tag}{n}")
                await stream.put_record(f"{tag}{n}", partition_key=f"k{n % 3}")
                await mesh.invoke("events", {"n": f"{tag}{n}"}, invocation_type="Event")
                await topic.publish(f"{tag}{n}")

        async with mesh:
            await produce("a")
            await eventually(lambda: all(len(got) == 10 for got in seen.values()))
            proxy.cut() if outage == "cut" else private_server.pause()
            await asyncio.sleep(2.5)
            proxy.restore()
            private_server.resume()
            await produce("b")
            await eventually(lambda: all(len(set(got)) == 20 for got in seen.values()))
            if outage == "cut":  # (a paused server keeps the subscription's connection open)
                await eventually(lambda: len(doorbell(caplog)) == 2)

    expected = {f"{tag}{n}" for tag in "ab" for n in range(10)}
    for kind, got in seen.items():
        assert set(got) == expected, kind
    for key, got in shards.items():  # each partition key (so each shard) in order
        assert got == sorted(got, key=lambda x: (x[0], int(x[1:]))), key
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    for consumer in (
        "polling queue jobs",
        "reading stream clicks",
        "polling eventmesh.async.events",
        "polling eventmesh.topic.news",
    ):
        failed = [line for line in lines if line.startswith(f"{consumer} failed; retrying")]
        assert len(failed) <= 1, failed  # once per outage, not per try
    assert any(" failed; retrying in 1 s: storage 'redis://***@" in line for line in lines)
    if outage == "cut":  # the long polls' wake-ups: lost once, back once, whatever the tries
        lost, back = doorbell(caplog)
        assert lost.startswith("the subscription to eventmesh:queue:changed is lost (storage")
        assert "subscribed to eventmesh:queue:changed again after" in back
    assert PASSWORD not in every_line(caplog)


async def test_connections_killed_mid_stream_and_mid_queue_lose_nothing(
    private_server: PrivateServer,
) -> None:
    """``CLIENT KILL TYPE normal`` and ``TYPE pubsub`` every 0.1 s while a stream mapping and
    a queue mapping consume 300 records and 300 messages: every one processed, each partition
    key (so each shard) in order, at least once."""
    mesh = _mesh(private_server.url() + "?timeout=2&poll_interval=0.2")
    queue = mesh.queue("jobs", visibility_timeout=3)
    stream = mesh.stream("clicks", shards=2)
    got_queue: list[str] = []
    got_stream: dict[str, list[int]] = {}

    @mesh.function(name="jobs", timeout=2)
    async def jobs(event: Any, context: Context) -> None:
        await asyncio.sleep(0.05)
        got_queue.extend(record["body"] for record in event["Records"])

    @mesh.function(name="clicks")
    async def clicks(event: Any, context: Context) -> None:
        await asyncio.sleep(0.05)
        for record in event["Records"]:
            key = record["kinesis"]["partitionKey"]
            got_stream.setdefault(key, []).append(int(_decode(record)))

    queue.subscribe(jobs, batch_size=5, max_concurrency=2)  # about 1.5 s of work each
    stream.subscribe(clicks, starting_position="TRIM_HORIZON", batch_size=5)
    count = 300
    kills = 0

    async def killer() -> None:
        nonlocal kills
        while True:
            await asyncio.sleep(0.1)
            kills += await private_server.kill_clients()
            kills += await private_server.kill_subscribers()

    async with mesh:
        killing = asyncio.create_task(killer())  # producers see it too: they try again
        for start in range(0, count, 10):
            await queue.send_batch(
                [{"id": f"e{n}", "body": f"m{n}"} for n in range(start, start + 10)]
            )
            await stream.put_records(
                [{"data": n, "partition_key": f"k{n % 7}"} for n in range(start, start + 10)]
            )
        try:
            await eventually(
                lambda: (
                    len(set(got_queue)) == count
                    and sum(len(set(v)) for v in got_stream.values()) == count
                ),
                within=40,
            )
        finally:
            killing.cancel()
    assert kills > 10
    assert set(got_queue) == {f"m{n}" for n in range(count)}
    for key, numbers in got_stream.items():
        first_seen = list(dict.fromkeys(numbers))
        assert first_seen == sorted(first_seen), key
        assert set(numbers) == {n for n in range(count) if f"k{n % 7}" == key}
    duplicates = len(got_queue) - count + sum(len(v) for v in got_stream.values()) - count
    print(f"{kills} connections killed; {duplicates} duplicate deliveries")


async def test_scripts_flushed_while_a_mesh_runs_are_loaded_again(
    private_server: PrivateServer, caplog: pytest.LogCaptureFixture
) -> None:
    """``SCRIPT FLUSH`` (as after a restart) while a queue mapping consumes: the next
    ``EVALSHA`` answers NOSCRIPT, the script is loaded again, nothing is lost or logged."""
    caplog.set_level(logging.WARNING)
    mesh = _mesh(private_server.url() + "?timeout=2&poll_interval=0.2")
    queue = mesh.queue("jobs")
    got: list[str] = []

    @mesh.function(name="jobs")
    async def jobs(event: Any, context: Context) -> None:
        got.extend(record["body"] for record in event["Records"])

    queue.subscribe(jobs)
    admin = private_server.admin()
    try:
        async with mesh:
            for n in range(20):
                await queue.send(f"a{n}")
            await eventually(lambda: len(got) == 20)
            await admin.script_flush()
            for n in range(20):
                await queue.send(f"b{n}")
            await eventually(lambda: len(set(got)) == 40)
    finally:
        await admin.aclose()
    assert Counter(got) == Counter(f"{t}{n}" for t in "ab" for n in range(20))
    assert [r.getMessage() for r in caplog.records] == []
