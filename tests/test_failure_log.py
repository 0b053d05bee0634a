"""Every function error on an asynchronous path writes one ``[ERROR]`` line, as Lambda's
Python runtime does, with the function, request id, attempt, errorType and errorMessage.

Attempt numbers and delays are written by hand from the reference: Event invocations retry
after 60 s then 120 s (§1.4); a queue message's attempt is its receive count; a stream
batch is retried 1 s, then 2 s later (the mapping's documented schedule). Time is a
VirtualClock; nothing sleeps in real time.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from eventmesh import Context, Mesh
from eventmesh.resources.stream import create_stream
from eventmesh.testing import VirtualClock, settle


async def declined(event: Any, context: Context) -> None:
    raise ValueError("card declined")


def error_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.name == "eventmesh.invocations" and record.levelno == logging.ERROR
    ]


def fields(record: logging.LogRecord) -> tuple[Any, ...]:
    return (
        record.function_name,  # type: ignore[attr-defined]
        record.attempt,  # type: ignore[attr-defined]
        record.error_type,  # type: ignore[attr-defined]
        record.error_message,  # type: ignore[attr-defined]
        record.source,  # type: ignore[attr-defined]
    )


async def test_an_event_invocation_failing_three_times_logs_three_error_lines(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    mesh.function(name="charge")(declined)
    async with mesh:
        result = await mesh.invoke("charge", {"id": 1}, invocation_type="Event")
        await clock.advance(0)
        await clock.advance(60)
        await clock.advance(120)
        await settle()

    records = error_lines(caplog)
    assert [fields(r) for r in records] == [
        ("charge", 1, "ValueError", "card declined", "Event"),
        ("charge", 2, "ValueError", "card declined", "Event"),
        ("charge", 3, "ValueError", "card declined", "Event"),
    ]
    assert {r.request_id for r in records} == {result.request_id}  # type: ignore[attr-defined]
    first = records[0].getMessage().splitlines()
    assert first[0] == (
        f"[ERROR] ValueError: card declined RequestId: {result.request_id} Function: charge "
        "Attempt: 1 Source: Event"
    )
    assert first[1] == "Traceback (most recent call last):"
    assert any("in declined" in line for line in first[2:])


async def test_a_queue_batch_failing_three_times_logs_each_receive(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    mesh.function(name="charge")(declined)
    queue = mesh.queue("orders", visibility_timeout=30)
    queue.subscribe("charge")
    async with mesh:
        await queue.send({"id": 1})
        await clock.advance(0)
        await clock.advance(30)
        await clock.advance(30)
        await settle()

    records = error_lines(caplog)
    assert [fields(r) for r in records] == [
        ("charge", 1, "ValueError", "card declined", "queue orders"),
        ("charge", 2, "ValueError", "card declined", "queue orders"),
        ("charge", 3, "ValueError", "card declined", "queue orders"),
    ]
    assert len({r.request_id for r in records}) == 3  # type: ignore[attr-defined]


async def test_a_stream_batch_failing_logs_each_attempt(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    mesh.function(name="charge")(declined)
    stream = create_stream(mesh.context, "payments", shards=1)
    stream.subscribe("charge", max_retries=2)
    async with mesh:
        await clock.advance(0)
        await stream.put_record({"id": 1}, "k")
        await settle()
        await clock.advance(1)
        await clock.advance(2)
        await settle()

    assert [fields(r) for r in error_lines(caplog)] == [
        ("charge", 1, "ValueError", "card declined", "stream payments"),
        ("charge", 2, "ValueError", "card declined", "stream payments"),
        ("charge", 3, "ValueError", "card declined", "stream payments"),
    ]


async def test_topic_bus_and_schedule_deliveries_to_a_function_log_their_errors(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    mesh.function(name="charge", retries=0)(declined)
    topic = mesh.topic("alerts")
    topic.subscribe("charge")
    bus = mesh.bus("default")
    bus.rule("all", pattern={"source": ["shop"]}, targets=["charge"])
    mesh.schedule("rate(1 minute)", "charge")
    async with mesh:
        await topic.publish("hello")
        await bus.put_events([{"Source": "shop", "DetailType": "order", "Detail": "{}"}])
        await clock.advance(0)
        assert len(error_lines(caplog)) == 2
        await clock.advance(60)
        await settle()

    assert [fields(r) for r in error_lines(caplog)] == [
        ("charge", 1, "ValueError", "card declined", "Event"),
    ] * 3


async def test_a_success_logs_no_error_line(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    @mesh.function(name="fine")
    async def fine(event: Any, context: Context) -> None:
        return None

    async with mesh:
        await mesh.invoke("fine", {}, invocation_type="Event")
        await clock.advance(0)
        await settle()
    assert error_lines(caplog) == []
