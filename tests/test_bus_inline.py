"""A bus hands an event to a function or a resource of the mesh inline (``put_events`` makes
the first attempt itself) and only a target at its limit waits in the background; the event's
JSON is joined from its detail's, encoded once, and goes to a function as it is. The inline
path and the background path must agree: the same event, the same retries and dead letters,
the same trace; ids are unique and uuid-shaped, times the virtual clock's.

Expected values are written by hand (reference §4.5); time is the VirtualClock
(2026-01-01T00:00:00Z).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import orjson
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from eventmesh import BackendError, Context, Mesh, Telemetry
from eventmesh.resources.bus import Target
from eventmesh.testing import VirtualClock

ACCOUNT = "123456789012"
UUID_V4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
ENVELOPE_ORDER = [
    "version",
    "id",
    "detail-type",
    "source",
    "account",
    "time",
    "region",
    "resources",
    "detail",
]


def entry(detail: Any = None, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "Source": "app.orders",
        "DetailType": "order",
        "Detail": {"id": 1} if detail is None else detail,
    }
    base.update(fields)
    return base


def expected_event(event_id: str, detail: Any, time: str = "2026-01-01T00:00:00Z") -> Any:
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "order",
        "source": "app.orders",
        "account": ACCOUNT,
        "time": time,
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


def event_ids(answer: dict[str, Any]) -> list[str]:
    return [result["EventId"] for result in answer["Entries"]]


async def test_the_events_json_is_compact_and_in_eventbridges_order(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """Whatever shape the detail came in (a mapping, JSON text with spaces, Unicode), the
    text a queue target gets is the envelope's compact JSON, fields in EventBridge's order,
    ``resources`` and a given ``Time`` included."""
    inbox = mesh.queue("inbox")
    bus = mesh.bus()
    bus.rule("all", pattern={}, targets=[inbox])
    async with mesh:
        answer = await bus.put_events(
            [
                entry({"text": 'quote " and \\ and é ✓', "n": [1, 2.5, None]}),
                entry('{ "spaced" : true }', Resources=["arn:x"], Time=1_767_225_661.7),
            ]
        )
        await clock.advance(0)
        messages = await inbox.receive(10)

    first_id, second_id = event_ids(answer)
    bodies = {message.json()["id"]: message.body for message in messages}
    first = bodies[first_id]
    assert (
        first
        == orjson.dumps(
            expected_event(first_id, {"text": 'quote " and \\ and é ✓', "n": [1, 2.5, None]})
        ).decode()
    )
    second = orjson.loads(bodies[second_id])
    assert list(second) == ENVELOPE_ORDER
    assert bodies[second_id] == (
        '{"version":"0","id":"' + second_id + '","detail-type":"order",'
        '"source":"app.orders","account":"' + ACCOUNT + '","time":"2026-01-01T00:01:01Z",'
        '"region":"us-east-1","resources":["arn:x"],"detail":{"spaced":true}}'
    )


async def test_event_ids_are_unique_uuids_and_the_time_is_the_virtual_clocks(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """Each event has an id of its own, shaped as a version 4 UUID; its ``time`` is the
    virtual clock's, in whole seconds, rounded as datetime rounds (0.4 µs before a second
    is that second)."""
    seen: list[dict[str, Any]] = []

    async def callback(event: dict[str, Any]) -> None:
        seen.append(event)

    bus = mesh.bus()
    bus.rule("all", pattern={}, targets=[callback])
    async with mesh:
        await clock.advance(59.9999996)
        await bus.put_events([entry(), entry()])
        await clock.advance(0.5)
        await bus.put_events([entry()])
        await clock.advance(0)

    ids = [event["id"] for event in seen]
    assert len(set(ids)) == 3
    assert all(re.fullmatch(UUID_V4, event_id) for event_id in ids)
    assert [event["time"] for event in seen] == [
        "2026-01-01T00:01:00Z",
        "2026-01-01T00:01:00Z",
        "2026-01-01T00:01:00Z",
    ]


async def test_an_event_reaches_a_function_the_same_inline_or_after_waiting_for_room(
    clock: VirtualClock,
) -> None:
    """The first event goes to the function inline; the second finds it at its limit and
    waits in the background (``put_events`` returns at once), then is delivered when room
    comes. Both arrive as the envelope, fields in EventBridge's order."""
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    release = asyncio.Event()
    got: list[dict[str, Any]] = []

    @mesh.function(name="fn", max_pending=1)
    async def fn(event: dict[str, Any], context: Context) -> None:
        got.append(event)
        await release.wait()

    bus = mesh.bus()
    rule = bus.rule("r", pattern={}, targets=[fn])
    async with mesh:
        first = await bus.put_events([entry({"n": 1})])
        await clock.advance(0)
        second = await bus.put_events([entry({"n": 2})])  # the function is full
        await clock.advance(0)
        assert len(got) == 1
        assert await bus.pending() == 1
        release.set()
        await clock.advance(1)
        await clock.advance(1)

    [first_id], [second_id] = event_ids(first), event_ids(second)
    assert got == [expected_event(first_id, {"n": 1}), expected_event(second_id, {"n": 2})]
    assert all(list(event) == ENVELOPE_ORDER for event in got)
    [target] = rule.targets
    assert (target.attempts, target.delivered, target.failed) == (2, 2, 0)
    assert bus.delivered == 2


async def test_an_inline_attempt_that_fails_is_retried_from_the_store(
    clock: VirtualClock,
) -> None:
    """A first attempt made inline that fails with a server-side error (the store behind
    the function's Event invocations is down) is retried with backoff from the store, and
    the function then gets the very event; the attempts count both."""
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    got: list[dict[str, Any]] = []

    @mesh.function(name="fn")
    async def fn(event: dict[str, Any], context: Context) -> None:
        got.append(event)

    bus = mesh.bus()
    rule = bus.rule("r", pattern={}, targets=[fn])
    async with mesh:
        context = mesh.context
        real = context.invoke_async
        calls = 0

        async def failing_once(*args: Any, **kwargs: Any) -> str:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise BackendError("store down")
            return await real(*args, **kwargs)

        context.invoke_async = failing_once  # type: ignore[method-assign]
        try:
            answer = await bus.put_events([entry()])
            await clock.advance(0)
            assert (calls, got, bus.limit.pending) == (1, [], 1)  # the retry keeps its place
            await clock.advance(1)  # retry 0 waits 2**0 s times a factor in (0.5, 1]
            await clock.advance(0)
        finally:
            context.invoke_async = real  # type: ignore[method-assign]

    [event_id] = event_ids(answer)
    assert got == [expected_event(event_id, {"id": 1})]
    [target] = rule.targets
    assert (target.attempts, target.delivered, target.failed) == (2, 1, 0)


async def test_an_event_too_large_for_a_function_goes_to_the_dead_letters_at_once(
    clock: VirtualClock,
) -> None:
    """A bus event may be 1 MB, a function's Event invocation here 256 KB: the inline
    attempt fails as a client error (INVALID_PARAMETER), not retried, and the event itself
    goes to the target's dead-letter queue; a second target of the rule still gets it."""
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), max_event_payload=256 * 1024)
    dead = mesh.queue("dlq")
    inbox = mesh.queue("inbox")

    @mesh.function(name="fn")
    async def fn(event: dict[str, Any], context: Context) -> None:
        return None

    bus = mesh.bus()
    rule = bus.rule("r", pattern={}, targets=[Target(fn, dead_letter=dead), inbox])
    big = {"pad": "x" * (300 * 1024)}
    async with mesh:
        answer = await bus.put_events([entry(big)])
        await clock.advance(0)
        [message] = await dead.receive(10)
        [delivered] = await inbox.receive(10)

    [event_id] = event_ids(answer)
    assert message.json() == expected_event(event_id, big)
    assert message.message_attributes["ERROR_CODE"]["StringValue"] == "INVALID_PARAMETER"
    assert "EXHAUSTED_RETRY_CONDITION" not in message.message_attributes
    assert delivered.json()["id"] == event_id
    function_target, queue_target = rule.targets
    assert (function_target.attempts, function_target.dead_lettered) == (1, 1)
    assert queue_target.delivered == 1


async def test_an_inline_delivery_runs_in_the_publishers_trace(clock: VirtualClock) -> None:
    """With tracing on, a function target reached inline runs in the trace of the caller of
    ``put_events``, as a delivery from the background does."""
    provider = TracerProvider()
    mesh = Mesh(clock=clock, telemetry=Telemetry(provider), drain_timeout=2.0)
    seen: list[int] = []

    @mesh.function(name="fn")
    async def fn(event: dict[str, Any], context: Context) -> None:
        seen.append(trace.get_current_span().get_span_context().trace_id)

    async def callback(event: dict[str, Any]) -> None:
        seen.append(trace.get_current_span().get_span_context().trace_id)

    bus = mesh.bus()
    bus.rule("r", pattern={}, targets=[fn, callback])
    async with mesh:
        with provider.get_tracer("test").start_as_current_span("publisher") as span:
            await bus.put_events([entry()])
        await clock.advance(0)

    trace_id = span.get_span_context().trace_id
    assert seen == [trace_id, trace_id]


async def test_a_transformed_input_reaches_a_function_as_json_and_as_text(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """A transformer's JSON output goes to a function parsed; a text template's output is a
    JSON string event; the ingestion time is the virtual clock's, in milliseconds."""
    got: list[Any] = []

    @mesh.function(name="fn")
    async def fn(event: Any, context: Context) -> None:
        got.append(event)

    bus = mesh.bus()
    paths = {"n": "$.detail.id"}
    bus.rule(
        "r",
        pattern={},
        targets=[
            Target(
                fn, input_transformer={"input_paths_map": paths, "input_template": '{"n": <n>}'}
            ),
            Target(
                fn,
                input_transformer={
                    "input_paths_map": {},
                    "input_template": "at <aws.events.event.ingestion-time>",
                },
            ),
        ],
    )
    async with mesh:
        await clock.advance(2.25)
        await bus.put_events([entry()])
        await clock.advance(0)

    assert sorted(got, key=str) == sorted([{"n": 1}, "at 2026-01-01T00:00:02.250Z"], key=str)
