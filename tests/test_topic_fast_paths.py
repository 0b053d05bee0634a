"""The publisher's fast paths agree with the general one.

``publish`` invokes a function subscriber itself (the Lambda event's JSON joined from the
publication's shared text, straight to the mesh's ``invoke_async``), and a callable's
background delivery calls it itself; every other delivery, and any subscription whose
``function`` or ``call`` is None, goes through ``Subscription.attempt`` and its target. Each
test runs a story both ways (``fast`` or ``general``: the fast paths turned off once the mesh
resolved the subscriptions) and expects the same events, counters and logs: a plain
delivery, a subject and attributes, a function at its limit (the delivery waits in the
background), a server-side failure (retried from the store), a client-side one (not
retried), a recursion stopped, tracing on, a callable that fails or exits, a delivery
cancelled before or while it runs. Then: each distinct filter policy is evaluated once per
publication, and a body policy reads the message as the policy itself would. Time is a
VirtualClock.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from eventmesh import BackendError, Context, Mesh, Telemetry
from eventmesh.patterns import FilterPolicy
from eventmesh.resources.topic import Subscription, Topic
from eventmesh.testing import VirtualClock

PATHS = ("fast", "general")


@pytest.fixture(params=PATHS)
def path(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def choose(topic: Topic, path: str) -> None:
    """Once the mesh runs (the subscriptions resolved): check the fast paths are there for
    the subscribers that take them, and turn them off for the general path."""
    for subscription in topic.subscriptions:
        fast = subscription.function if subscription.protocol == "lambda" else subscription.call
        assert fast is not None, subscription
        if path == "general":
            subscription.function = None
            subscription.call = None


def normalised(event: dict[str, Any]) -> dict[str, Any]:
    """An event with its MessageId and Timestamp (the only parts that differ from one
    publication to the next) replaced."""
    record = event["Records"][0] if "Records" in event else None
    sns = dict(record["Sns"] if record is not None else event)
    sns["MessageId"] = "id"
    sns["Timestamp"] = "t"
    sns.pop("Signature")  # a digest of the two above
    if record is None:
        return sns
    return {"Records": [{**record, "Sns": sns}]}


def counters(topic: Topic) -> tuple[Any, ...]:
    subscriptions = tuple(
        (s.attempts, s.delivered, s.failed, s.filtered_out) for s in topic.subscriptions
    )
    return (topic.published, topic.delivered, topic.delivery_failures, subscriptions)


async def story_plain(clock: VirtualClock, path: str) -> tuple[Any, ...]:
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    got: list[dict[str, Any]] = []

    @mesh.function(name="worker")
    async def worker(event: dict[str, Any], context: Context) -> None:
        got.append(event)

    async def callback(envelope: dict[str, Any]) -> None:
        got.append(envelope)

    topic = mesh.topic("alerts")
    topic.subscribe(worker)
    topic.subscribe(callback)
    async with mesh:
        choose(topic, path)
        await topic.publish("m")
        await topic.publish({"a": [1, 2]}, subject="S", attributes={"k": "v", "n": 1.5})
        await clock.advance(0)
        await clock.advance(0)
    return [normalised(event) for event in got], counters(topic)


async def test_both_paths_deliver_the_same_events(clock: VirtualClock) -> None:
    fast = await story_plain(clock, "fast")
    general = await story_plain(clock, "general")
    assert fast == general
    events, (published, delivered, failures, _) = fast
    assert (published, delivered, failures) == (2, 4, 0)
    assert [e["Records"][0]["Sns"]["Message"] for e in events if "Records" in e] == [
        "m",
        '{"a":[1,2]}',
    ]
    assert [e["Message"] for e in events if "Records" not in e] == ["m", '{"a":[1,2]}']


async def test_a_filter_policy_is_applied_on_both_paths(clock: VirtualClock, path: str) -> None:
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    got: list[str] = []

    @mesh.function(name="worker")
    async def worker(event: dict[str, Any], context: Context) -> None:
        got.append("function:" + event["Records"][0]["Sns"]["Message"])

    async def callback(envelope: dict[str, Any]) -> None:
        got.append("callable:" + envelope["Message"])

    topic = mesh.topic("alerts")
    topic.subscribe(worker, filter_policy={"colour": ["red"]})
    topic.subscribe(callback, filter_policy={"size": [{"numeric": [">", 1]}]})
    async with mesh:
        choose(topic, path)
        await topic.publish("red", attributes={"colour": "red"})
        await topic.publish("big", attributes={"size": 2})
        await topic.publish("none")
        await clock.advance(0)
        await clock.advance(0)
    assert sorted(got) == ["callable:big", "function:red"]
    assert counters(topic) == (3, 2, 0, ((1, 1, 0, 2), (1, 1, 0, 2)))


async def test_a_function_at_its_limit_is_waited_for_in_the_background(
    clock: VirtualClock, path: str
) -> None:
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    release = asyncio.Event()
    seen: list[str] = []

    @mesh.function(name="worker", max_pending=1)
    async def worker(event: dict[str, Any], context: Context) -> None:
        seen.append(event["Records"][0]["Sns"]["Message"])
        await release.wait()

    topic = mesh.topic("alerts")
    subscription = topic.subscribe(worker)
    async with mesh:
        choose(topic, path)
        await topic.publish("one")
        await clock.advance(0)
        await topic.publish("two")  # the function's queue is full: not waited for here
        assert (seen, subscription.delivered, await topic.pending()) == (["one"], 1, 1)
        release.set()
        await clock.advance(1)
        await clock.advance(1)
    assert seen == ["one", "two"]
    assert counters(topic) == (2, 2, 0, ((2, 2, 0, 0),))


async def test_a_server_error_is_retried_and_a_client_error_is_not(
    clock: VirtualClock, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    mesh = Mesh(clock=clock, max_event_payload=2000, drain_timeout=2.0)
    got: list[str] = []

    @mesh.function(name="worker")
    async def worker(event: dict[str, Any], context: Context) -> None:
        got.append(event["Records"][0]["Sns"]["Message"])

    topic = mesh.topic("alerts")
    topic.subscribe(worker)
    with caplog.at_level(logging.WARNING, logger="eventmesh.topics"):
        async with mesh:
            choose(topic, path)
            context = mesh.context
            real = context.invoke_async
            failures = iter([BackendError("store down")])

            async def failing_once(*args: Any, **kwargs: Any) -> str:
                for error in failures:
                    raise error
                return await real(*args, **kwargs)

            context.invoke_async = failing_once  # type: ignore[method-assign]
            try:
                await topic.publish("retried")
                await clock.advance(0)
                await clock.advance(0)
            finally:
                context.invoke_async = real  # type: ignore[method-assign]
            message_id = await topic.publish("x" * 3000)  # over the payload limit
            await clock.advance(60)
    assert got == ["retried"]
    assert counters(topic) == (2, 1, 1, ((3, 1, 1, 0),))
    [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert record.getMessage().startswith(
        f"topic alerts: delivery of {message_id} to "
        "arn:aws:lambda:us-east-1:123456789012:function:worker failed after 1 attempt(s): "
        "request payload is "
    )


async def test_a_function_publishing_to_its_own_topic_is_stopped_on_both_paths(
    clock: VirtualClock, path: str
) -> None:
    """Lambda's recursive loop detection follows the chain through the inline hand-off."""
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=0)
    calls = 0
    topic = mesh.topic("loop")

    @mesh.function(name="echo")
    async def echo(event: dict[str, Any], context: Context) -> None:
        nonlocal calls
        calls += 1
        if calls <= 20:  # a loop that is not stopped ends the test, not the process
            await topic.publish("again")

    topic.subscribe(echo)
    async with mesh:
        choose(topic, path)
        await topic.publish("go")
        for _ in range(60):
            await clock.advance(1)
    assert calls == 16
    assert counters(topic) == (17, 16, 1, ((17, 16, 1, 0),))


async def test_a_traced_publication_reaches_every_subscriber_in_its_trace(
    clock: VirtualClock, path: str
) -> None:
    provider = TracerProvider()
    mesh = Mesh(clock=clock, telemetry=Telemetry(provider), drain_timeout=2.0)
    seen: list[int] = []

    @mesh.function(name="worker")
    async def worker(event: dict[str, Any], context: Context) -> None:
        seen.append(trace.get_current_span().get_span_context().trace_id)

    async def callback(envelope: dict[str, Any]) -> None:
        seen.append(trace.get_current_span().get_span_context().trace_id)

    topic = mesh.topic("alerts")
    topic.subscribe(worker)
    topic.subscribe(callback)
    async with mesh:
        choose(topic, path)
        with provider.get_tracer("test").start_as_current_span("publisher") as span:
            await topic.publish("m")
        await clock.advance(0)
        await clock.advance(0)
    assert seen == [span.get_span_context().trace_id] * 2


class Exit(BaseException):
    """Not an Exception: a callable trying to end the loop."""


@pytest.mark.parametrize("raised", [ValueError("no"), Exit(), SystemExit(3)])
async def test_a_callable_that_fails_or_exits_is_retried_on_both_paths(
    clock: VirtualClock, path: str, raised: BaseException
) -> None:
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    calls: list[float] = []

    async def failing(envelope: dict[str, Any]) -> None:
        calls.append(clock.now())
        if len(calls) < 3:
            raise raised

    topic = mesh.topic("alerts")
    topic.subscribe(failing)
    async with mesh:
        choose(topic, path)
        await topic.publish("m")
        await clock.advance(40)
        await clock.advance(0)
    assert calls == [0, 20, 40]  # SNS's HTTP/S policy: 20 s apart
    assert counters(topic) == (1, 1, 0, ((3, 1, 0, 0),))


async def test_a_cancellation_the_callable_did_not_ask_for_is_a_failure(
    clock: VirtualClock, path: str
) -> None:
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    calls = 0

    async def awaits_a_cancelled_task(envelope: dict[str, Any]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            other = asyncio.ensure_future(asyncio.sleep(3600))
            other.cancel()
            await other

    topic = mesh.topic("alerts")
    topic.subscribe(awaits_a_cancelled_task)
    async with mesh:
        choose(topic, path)
        await topic.publish("m")
        await clock.advance(20)
        await clock.advance(0)
    assert counters(topic) == (1, 1, 0, ((2, 1, 0, 0),))


async def test_unsubscribing_cancels_a_callables_delivery_under_way(
    clock: VirtualClock, path: str
) -> None:
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    started = asyncio.Event()

    async def slow(envelope: dict[str, Any]) -> None:
        started.set()
        await asyncio.sleep(3600)

    topic = mesh.topic("alerts")
    subscription = topic.subscribe(slow)
    async with mesh:
        choose(topic, path)
        await topic.publish("m")
        await started.wait()
        assert await topic.pending() == 1
        await topic.unsubscribe(subscription)
        assert await topic.pending() == 0
    assert (subscription.attempts, subscription.delivered) == (0, 0)


async def test_a_delivery_cancelled_before_it_started_gives_its_place_back(
    clock: VirtualClock, path: str
) -> None:
    """Unsubscribing while a callable's delivery has not run yet cancels it before it
    starts: it leaves the topic's pending work and gives back its place under max_pending."""
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    calls = 0

    async def callback(envelope: dict[str, Any]) -> None:
        nonlocal calls
        calls += 1

    topic = mesh.topic("alerts", max_pending=2)
    subscription = topic.subscribe(callback)
    async with mesh:
        choose(topic, path)
        await topic.publish("m")
        assert (await topic.pending(), topic.limit.pending) == (1, 1)
        await topic.unsubscribe(subscription)  # before the loop ran the delivery
        assert (await topic.pending(), topic.limit.pending) == (0, 0)
        topic.subscribe(callback)
        for _ in range(3):
            await topic.publish("m", timeout=0)  # room for all: none was lost
            await clock.advance(0)
        assert (await topic.pending(), topic.limit.pending) == (0, 0)
    assert calls == 3


# -- which callables take the fast path ------------------------------------------------------
async def plain(envelope: dict[str, Any]) -> None:
    return None


class Handler:
    async def method(self, envelope: dict[str, Any]) -> None:
        return None

    async def __call__(self, envelope: dict[str, Any]) -> None:
        return None


def subscriber_kinds() -> Iterator[tuple[str, Any, bool]]:
    yield "an async def function", plain, True
    yield "a bound async method", Handler().method, True
    yield "an object whose __call__ is async", Handler(), True
    yield "a partial of an async function", functools.partial(plain), False


@pytest.mark.parametrize(
    ("kind", "target", "fast"), list(subscriber_kinds()), ids=[k for k, _, _ in subscriber_kinds()]
)
async def test_only_a_callable_whose_call_just_makes_a_coroutine_is_called_directly(
    clock: VirtualClock, kind: str, target: Any, fast: bool
) -> None:
    got: list[dict[str, Any]] = []

    async def record(envelope: dict[str, Any]) -> None:
        got.append(envelope)

    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    topic = mesh.topic("alerts")
    subscription: Subscription = topic.subscribe(target)
    topic.subscribe(record)
    async with mesh:
        assert (subscription.call is not None) is fast
        await topic.publish("m")
        await clock.advance(0)
    assert (subscription.delivered, len(got)) == (1, 1)


# -- filter policies: each distinct one evaluated once per publication -----------------------
async def test_each_distinct_filter_policy_is_evaluated_once_per_publication(
    clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three subscriptions share one policy (written in two key orders), a fourth has its
    own: a publication evaluates two policies, and each subscription still gets what its
    policy accepts."""
    evaluated: list[str] = []
    real = FilterPolicy.matches

    def counting(policy: FilterPolicy, message: Any) -> bool:
        evaluated.append(policy.scope)
        return real(policy, message)

    monkeypatch.setattr(FilterPolicy, "matches", counting)
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    got: dict[str, list[str]] = {"a": [], "b": [], "c": [], "d": []}

    def recorder(name: str) -> Any:
        async def record(envelope: dict[str, Any]) -> None:
            got[name].append(envelope["Message"])

        return record

    topic = mesh.topic("alerts")
    shared = {"colour": ["red"], "size": [{"numeric": [">", 1]}]}
    reordered = {"size": [{"numeric": [">", 1]}], "colour": ["red"]}
    topic.subscribe(recorder("a"), filter_policy=shared)
    topic.subscribe(recorder("b"), filter_policy=reordered)
    topic.subscribe(recorder("c"), filter_policy=FilterPolicy(shared))
    topic.subscribe(
        recorder("d"), filter_policy={"colour": ["red"]}, filter_policy_scope="MessageBody"
    )
    async with mesh:
        await topic.publish('{"colour": "red"}', attributes={"colour": "red", "size": 2})
        assert sorted(evaluated) == ["MessageAttributes", "MessageBody"]
        await topic.publish('{"colour": "blue"}', attributes={"colour": "red", "size": 1})
        await clock.advance(0)
    assert got == {
        "a": ['{"colour": "red"}'],
        "b": ['{"colour": "red"}'],
        "c": ['{"colour": "red"}'],
        "d": ['{"colour": "red"}'],
    }
    assert len(evaluated) == 4
    assert [s.filtered_out for s in topic.subscriptions] == [1, 1, 1, 1]


@pytest.mark.parametrize(
    ("message", "accepted"),
    [
        ('{"n": 5}', True),
        ('{"n": 1}', False),
        ("[1, 2]", False),  # JSON, not an object
        ('"n"', False),
        ("not json", False),
        ("[" * 100_000, False),  # nested past what json reads
        ('{"n": 5, "n": 1}', False),  # json keeps the last of two equal keys
    ],
)
async def test_a_body_policy_reads_the_message_parsed_once_as_a_policy_would(
    clock: VirtualClock, message: str, accepted: bool
) -> None:
    policy = FilterPolicy({"n": [{"numeric": [">", 2]}]}, "MessageBody")
    assert policy.matches(message) is accepted  # the policy reading the text itself
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    got: list[str] = []

    async def record(envelope: dict[str, Any]) -> None:
        got.append(envelope["Message"])

    topic = mesh.topic("alerts")
    topic.subscribe(record, filter_policy=policy)
    async with mesh:
        await topic.publish(message)
        await clock.advance(0)
    assert got == ([message] if accepted else [])
