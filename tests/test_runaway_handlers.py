"""A handler cannot kill a worker, the event loop or the process, nor outlast its deadline.

Whatever a handler raises (``BaseException`` included) is a function error, as a Lambda
runtime that exits is ``Runtime.ExitError``; whatever it does with its deadline's cancellation
(or with the event loop), the caller gets ``Sandbox.Timedout`` at the deadline. Expected
values are written from the reference (§2.4, the Runtime API notes); time is a VirtualClock.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest

from eventmesh import Context, Mesh
from eventmesh.testing import RecordingDestination, VirtualClock

EXITS: dict[str, Callable[[], BaseException]] = {
    "KeyboardInterrupt": KeyboardInterrupt,
    "SystemExit": lambda: SystemExit(3),
    "GeneratorExit": GeneratorExit,
    "BaseException": lambda: BaseException("bare"),
}
"""What a handler may raise that is not an Exception: each is a runtime that exited."""

EXIT_MESSAGE = "Process exited before completing request"


def exit_error(request_id: str) -> dict[str, Any]:
    """Lambda's error object for a runtime that exited, without the stack trace."""
    return {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {request_id} {EXIT_MESSAGE}",
    }


def without_trace(payload: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in payload.items() if key != "stackTrace"}


# -- a handler that raises BaseException -----------------------------------------------------
@pytest.mark.parametrize("raised", EXITS.values(), ids=EXITS.keys())
async def test_request_response_a_base_exception_is_an_exit_error_and_resets(
    mesh: Mesh, raised: Callable[[], BaseException]
) -> None:
    inits = 0

    @mesh.function
    async def exits(event: Any, context: Context) -> str:
        if event == "exit":
            raise raised()
        return "fine"

    @exits.init
    async def setup(context: Context) -> None:
        nonlocal inits
        inits += 1

    async with mesh:
        assert (await mesh.invoke("exits", "warm")).payload == "fine"
        result = await mesh.invoke("exits", "exit")
        after = await mesh.invoke("exits", "again")
    assert result.status_code == 200
    assert result.function_error == "Unhandled"
    assert without_trace(result.payload) == exit_error(result.request_id)
    assert after.payload == "fine"
    assert after.cold_start is True
    assert inits == 2


@pytest.mark.parametrize("raised", EXITS.values(), ids=EXITS.keys())
async def test_a_plain_def_handler_raising_a_base_exception_is_an_exit_error(
    mesh: Mesh, raised: Callable[[], BaseException]
) -> None:
    @mesh.function
    def exits(event: Any, context: Context) -> str:
        if event == "exit":
            raise raised()
        return "fine"

    async with mesh:
        result = await mesh.invoke("exits", "exit")
        after = await mesh.invoke("exits", "again")
    assert without_trace(result.payload) == exit_error(result.request_id)
    assert after.payload == "fine"


async def test_an_init_hook_raising_keyboard_interrupt_is_an_exit_error(mesh: Mesh) -> None:
    inits = 0

    @mesh.function
    async def guarded(event: Any, context: Context) -> str:
        return "ran"

    @guarded.init
    async def setup(context: Context) -> None:
        nonlocal inits
        inits += 1
        if inits == 1:
            raise KeyboardInterrupt

    async with mesh:
        failed = await mesh.invoke("guarded")
        after = await mesh.invoke("guarded")
    assert failed.function_error == "Unhandled"
    assert failed.payload["errorType"] == "Runtime.ExitError"
    assert after.payload == "ran"
    assert inits == 2


@pytest.mark.parametrize("raised", EXITS.values(), ids=EXITS.keys())
async def test_an_event_invocation_exit_is_retried_then_recorded_and_the_worker_lives_on(
    mesh: Mesh, clock: VirtualClock, raised: Callable[[], BaseException]
) -> None:
    failures = RecordingDestination()
    handled: list[Any] = []

    @mesh.function(retries=1, on_failure=failures)
    async def worker(event: Any, context: Context) -> None:
        if event == "exit":
            raise raised()
        handled.append(event)

    async with mesh:
        queued = await mesh.invoke("worker", "exit", invocation_type="Event")
        await clock.advance(0)
        await mesh.invoke("worker", "next", invocation_type="Event")
        await clock.advance(0)
        assert handled == ["next"]
        assert failures.messages == []
        await clock.advance(60)  # the one retry, 1 minute later
    (record,) = failures.messages
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"] == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {queued.request_id} {EXIT_MESSAGE}",
        "stackTrace": record["responsePayload"]["stackTrace"],
    }
    assert mesh.functions["worker"].stats.invocations == 3


@pytest.mark.parametrize("raised", EXITS.values(), ids=EXITS.keys())
async def test_a_queue_mapping_exit_fails_the_batch_and_the_poller_lives_on(
    mesh: Mesh, clock: VirtualClock, raised: Callable[[], BaseException]
) -> None:
    queue = mesh.queue("orders", visibility_timeout=30)
    bodies: list[str] = []

    @mesh.function(reserved_concurrency=1)  # one poller: it must survive
    async def consume(event: dict[str, Any], context: Context) -> None:
        body = event["Records"][0]["body"]
        bodies.append(body)
        if body == "poison" and bodies.count("poison") == 1:
            raise raised()

    queue.subscribe(consume, batch_size=1)
    async with mesh:
        await queue.send("poison")
        await clock.advance(0)
        await queue.send("next")
        await clock.advance(0)
        assert bodies == ["poison", "next"]
        await clock.advance(30)  # the failed message comes back after its visibility timeout
        await clock.advance(0)
        assert bodies == ["poison", "next", "poison"]
        assert (await queue.stats()).total == 0


@pytest.mark.parametrize("raised", EXITS.values(), ids=EXITS.keys())
async def test_a_stream_mapping_exit_is_retried_and_the_shard_moves_on(
    mesh: Mesh, clock: VirtualClock, raised: Callable[[], BaseException]
) -> None:
    stream = mesh.stream("clicks")
    batches: list[list[str]] = []

    @mesh.function
    async def consume(event: dict[str, Any], context: Context) -> None:
        data = [base64.b64decode(r["kinesis"]["data"]).decode() for r in event["Records"]]
        batches.append(data)
        if len(batches) == 1:
            raise raised()

    stream.subscribe(consume, batch_size=10)
    async with mesh:
        await stream.put_record("a", "k")
        await clock.advance(0)
        await stream.put_record("b", "k")
        await clock.advance(1)  # the first retry, 1 s later; then the shard moves on
        await clock.advance(0)
    assert batches == [["a"], ["a"], ["b"]]


def _via_topic(mesh: Mesh) -> Callable[[str], Any]:
    topic = mesh.topic("alerts")
    topic.subscribe("worker")
    return lambda text: topic.publish(text)


def _via_bus(mesh: Mesh) -> Callable[[str], Any]:
    bus = mesh.bus("default")
    bus.rule("all", pattern={"source": ["app"]}, targets=["worker"])
    return lambda text: bus.put_events([{"Source": "app", "DetailType": "t", "Detail": {}}])


SOURCES = {"topic": _via_topic, "bus": _via_bus}


@pytest.mark.parametrize("source", SOURCES.values(), ids=SOURCES.keys())
async def test_a_topic_or_bus_delivery_that_exits_is_recorded_and_the_next_is_handled(
    mesh: Mesh, clock: VirtualClock, source: Callable[[Mesh], Callable[[str], Any]]
) -> None:
    failures = RecordingDestination()
    calls = 0

    @mesh.function(retries=0, on_failure=failures)
    async def worker(event: Any, context: Context) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise KeyboardInterrupt

    produce = source(mesh)
    async with mesh:
        await produce("first")
        await clock.advance(0)
        await produce("second")
        await clock.advance(0)
    assert calls == 2
    (record,) = failures.messages
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["responsePayload"]["errorType"] == "Runtime.ExitError"


async def test_a_scheduled_function_that_exits_is_recorded_and_the_next_tick_fires(
    mesh: Mesh, clock: VirtualClock
) -> None:
    failures = RecordingDestination()
    ticks: list[str] = []

    @mesh.function(retries=0, on_failure=failures)
    async def tick(event: dict[str, Any], context: Context) -> None:
        ticks.append(event["time"])
        if len(ticks) == 1:
            raise GeneratorExit

    mesh.schedule("rate(1 minute)", tick)
    async with mesh:
        await clock.advance(120)
    assert ticks == ["2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z"]
    (record,) = failures.messages
    assert record["responsePayload"]["errorType"] == "Runtime.ExitError"


# -- a handler that keeps running past its deadline ------------------------------------------
@pytest.mark.parametrize("warm", [True, False], ids=["warm", "cold"])
async def test_a_handler_that_lingers_after_its_cancellation_times_out_at_the_deadline(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture, warm: bool
) -> None:
    finished: list[float] = []

    @mesh.function(timeout=1)
    async def lingers(event: Any, context: Context) -> str:
        if event == "warm-up":
            return "ok"
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await clock.sleep(7)  # cleans up for 7 s instead of stopping
            finished.append(clock.now())
        return "late"

    with caplog.at_level(logging.INFO, logger="eventmesh.invocations"):
        async with mesh:
            if warm:
                await mesh.invoke("lingers", "warm-up")
            task = asyncio.create_task(mesh.invoke("lingers"))
            await clock.advance(1)
            assert task.done(), "the caller gets its answer at the deadline"
            result = task.result()
            assert mesh._invoker.in_flight == 0
            await clock.advance(7)
    assert result.function_error == "Unhandled"
    assert result.payload["errorType"] == "Sandbox.Timedout"
    assert result.payload["errorMessage"].endswith("Task timed out after 1.00 seconds")
    assert finished == [8.0], "the abandoned work ran on in the background"
    assert mesh.functions["lingers"].stats.runaways == 1
    assert (
        f"function lingers RequestId: {result.request_id} still runs after its timeout of "
        "1.00 s (it caught the cancellation, or awaits in its cleanup): abandoned to the "
        "background, its concurrency released"
    ) in caplog.messages
    assert (
        f"function lingers RequestId: {result.request_id}: abandoned work returned 7.00 s after "
        "its deadline; its result is discarded"
    ) in caplog.messages


async def test_a_handler_that_never_stops_releases_its_slot_and_is_cancelled_at_stop(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    cancellations = 0

    @mesh.function(timeout=1, reserved_concurrency=1)
    async def stubborn(event: Any, context: Context) -> str:
        nonlocal cancellations
        if event == "quick":
            return "quick"
        while True:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancellations += 1
                if cancellations > 1:
                    raise  # the mesh's stop: gives up now

    with caplog.at_level(logging.INFO, logger="eventmesh.invocations"):
        async with mesh:
            await mesh.invoke("stubborn", "quick")
            task = asyncio.create_task(mesh.invoke("stubborn"))
            await clock.advance(1)
            result = await task
            # The one unit of reserved concurrency is free again.
            assert (await mesh.invoke("stubborn", "quick")).payload == "quick"
            await clock.advance(60)
            assert mesh._invoker.abandoned.running == 1
            assert cancellations == 1
    assert result.payload["errorType"] == "Sandbox.Timedout"
    assert cancellations == 2, "the deadline's, then the mesh's stop"
    assert mesh._invoker.abandoned.running == 0
    assert mesh.functions["stubborn"].stats.runaways == 1
    assert (
        f"function stubborn RequestId: {result.request_id}: abandoned work was cancelled 60.00 "
        "s after its deadline; its result is discarded"
    ) in caplog.messages


async def test_a_caller_cancelled_with_the_deadline_still_gets_its_cancellation(
    mesh: Mesh, clock: VirtualClock
) -> None:
    gate = asyncio.Event()

    @mesh.function(timeout=1)
    async def stubborn(event: Any, context: Context) -> None:
        while not gate.is_set():
            with contextlib.suppress(asyncio.CancelledError):  # refuses to stop
                await gate.wait()

    async with mesh:
        task = asyncio.create_task(mesh.invoke("stubborn"))
        await clock.advance(0)
        environment = next(iter(mesh._invoker.watcher._lanes[1]))
        environment.on_deadline()  # type: ignore[attr-defined]
        task.cancel()  # the caller's own cancellation lands with the deadline's
        with pytest.raises(asyncio.CancelledError):
            await task
        assert mesh._invoker.in_flight == 0
        gate.set()


async def test_an_event_handler_that_never_stops_frees_the_worker_for_the_next_event(
    mesh: Mesh, clock: VirtualClock
) -> None:
    failures = RecordingDestination()
    gate = asyncio.Event()
    handled: list[str] = []

    @mesh.function(timeout=2, retries=0, reserved_concurrency=1, on_failure=failures)
    async def stubborn(event: str, context: Context) -> None:
        handled.append(event)
        while event == "stuck" and not gate.is_set():
            with contextlib.suppress(asyncio.CancelledError):  # refuses to stop
                await gate.wait()

    async with mesh:
        await mesh.invoke("stubborn", "stuck", invocation_type="Event")
        await mesh.invoke("stubborn", "next", invocation_type="Event")
        await clock.advance(0)
        assert handled == ["stuck"]
        await clock.advance(2)
        await clock.advance(0)
        assert handled == ["stuck", "next"]
        gate.set()
    (record,) = failures.messages
    assert record["responsePayload"]["errorType"] == "Sandbox.Timedout"


async def test_a_plain_def_handler_past_its_deadline_releases_its_slot(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    release = threading.Event()
    clock.thread_wait = 0.05  # the blocked thread is not waited for long

    @mesh.function(timeout=2, reserved_concurrency=1)
    def blocking(event: Any, context: Context) -> str:
        if event == "block":
            release.wait(5)
        return "done"

    with caplog.at_level(logging.WARNING, logger="eventmesh.invocations"):
        async with mesh:
            task = asyncio.create_task(mesh.invoke("blocking", "block"))
            await clock.advance(2)  # the deadline
            result = await task
            # The thread still runs, but the slot is free: a second invocation runs.
            after = await mesh.invoke("blocking", "fast")
            assert mesh._invoker.threads_held == 1
            release.set()
            # The thread ends in real time, and its end reaches the loop through the
            # executor's callback, not a future the clock could wait for: poll, bounded.
            for _ in range(5000):
                if not mesh._invoker.threads_held:
                    break
                await asyncio.sleep(0.001)
            assert mesh._invoker.threads_held == 0
    assert result.payload["errorType"] == "Sandbox.Timedout"
    assert after.payload == "done"
    assert mesh.functions["blocking"].stats.runaways == 1
    assert (
        f"function blocking RequestId: {result.request_id}: its thread still runs after the "
        "timeout of 2.00 s (a thread cannot be stopped); its environment is discarded, its "
        "concurrency released; 1 of the mesh's 64 handler threads are held by timed-out handlers"
    ) in caplog.messages


# -- a handler that blocks the event loop ----------------------------------------------------
STALL_HINT = (
    "an async def handler must not block (time.sleep, blocking I/O); await instead, or make "
    "it a plain def handler, which runs in a thread"
)


@pytest.mark.parametrize("warm", [True, False], ids=["warm", "cold"])
async def test_an_async_handler_that_blocks_the_loop_past_its_timeout_times_out(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture, warm: bool
) -> None:
    inits = 0

    @mesh.function(timeout=3)
    async def blocks(event: Any, context: Context) -> str:
        if event == "block":
            clock.stall(5)  # what time.sleep(5) does to the clock
        return "returned"

    @blocks.init
    async def setup(context: Context) -> None:
        nonlocal inits
        inits += 1

    with caplog.at_level(logging.WARNING, logger="eventmesh.invocations"):
        async with mesh:
            if warm:
                await mesh.invoke("blocks", "warm-up")
            result = await mesh.invoke("blocks", "block")
            after = await mesh.invoke("blocks", "fine")
    assert result.function_error == "Unhandled"
    assert result.payload["errorType"] == "Sandbox.Timedout"
    assert result.payload["errorMessage"].endswith("Task timed out after 3.00 seconds")
    assert after.payload == "returned"
    assert after.cold_start is True, "the environment was reset"
    assert inits == 2
    assert mesh.functions["blocks"].stats.loop_stalls == 1
    assert (
        f"function blocks RequestId: {result.request_id} blocked the event loop for 5.00 s and "
        f"ran past its timeout of 3.00 s: {STALL_HINT}"
    ) in caplog.messages


async def test_what_a_blocking_handler_had_left_to_do_is_cancelled(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    steps: list[str] = []

    @mesh.function(timeout=3)
    async def blocks(event: Any, context: Context) -> None:
        await clock.sleep(1)
        clock.stall(4)  # blocks from 1 s to 5 s, past the deadline at 3 s
        try:
            await clock.sleep(1)
            steps.append("carried on")
        except asyncio.CancelledError:
            steps.append("cancelled")
            raise

    with caplog.at_level(logging.WARNING, logger="eventmesh.invocations"):
        async with mesh:
            task = asyncio.create_task(mesh.invoke("blocks"))
            await clock.advance(1)
            assert task.done()
            result = task.result()
            await clock.advance(5)
    assert result.payload["errorType"] == "Sandbox.Timedout"
    assert steps == ["cancelled"]
    assert any("blocked the event loop for 4.00 s" in message for message in caplog.messages)


async def test_a_last_step_that_blocks_the_loop_is_timed_from_its_own_start(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    @mesh.function(timeout=3)
    async def blocks(event: Any, context: Context) -> str:
        await clock.sleep(1)
        clock.stall(2.5)  # from 1 s to 3.5 s, then returns
        return "returned"

    with caplog.at_level(logging.WARNING, logger="eventmesh.invocations"):
        async with mesh:
            task = asyncio.create_task(mesh.invoke("blocks"))
            await clock.advance(1)
            result = await task
    assert result.payload["errorType"] == "Sandbox.Timedout"
    assert any("blocked the event loop for 2.50 s" in message for message in caplog.messages)


async def test_an_event_handler_that_blocks_the_loop_is_retried(
    mesh: Mesh, clock: VirtualClock
) -> None:
    failures = RecordingDestination()
    runs = 0

    @mesh.function(timeout=3, retries=1, on_failure=failures)
    async def blocks(event: Any, context: Context) -> None:
        nonlocal runs
        runs += 1
        clock.stall(4)

    async with mesh:
        await mesh.invoke("blocks", invocation_type="Event")
        await clock.advance(0)
        assert runs == 1
        await clock.advance(60)
    assert runs == 2
    (record,) = failures.messages
    assert record["responsePayload"]["errorType"] == "Sandbox.Timedout"


async def test_a_short_step_that_crosses_the_deadline_is_a_timeout_not_a_stall(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    @mesh.function(timeout=3)
    async def busy(event: Any, context: Context) -> str:
        await clock.sleep(2.99)
        clock.stall(0.02)  # 20 ms of work that happens to cross the deadline
        return "done"

    with caplog.at_level(logging.WARNING, logger="eventmesh.invocations"):
        async with mesh:
            task = asyncio.create_task(mesh.invoke("busy"))
            await clock.advance(2.99)
            result = await task
    assert result.payload["errorType"] == "Sandbox.Timedout"
    assert mesh.functions["busy"].stats.loop_stalls == 0
    assert not any("blocked the event loop" in message for message in caplog.messages)


# -- a callable target (not a function) that raises BaseException ----------------------------
class Flaky:
    """An async callable target whose first call raises ``raised``; keeps what it is sent."""

    def __init__(self, raised: Callable[[], BaseException]) -> None:
        self.raised = raised
        self.received: list[Any] = []

    async def __call__(self, payload: Any) -> None:
        self.received.append(payload)
        if len(self.received) == 1:
            raise self.raised()


CALLBACK_RAISES: dict[str, Callable[[], BaseException]] = {
    **EXITS,
    "CancelledError": asyncio.CancelledError,
}
"""What a callable target may raise that is not an Exception. A CancelledError it raises
while its task was not cancelled (it awaited something someone else cancelled) is one too."""


@pytest.mark.parametrize("raised", CALLBACK_RAISES.values(), ids=CALLBACK_RAISES.keys())
async def test_a_topic_callable_that_exits_is_a_failed_delivery_retried(
    mesh: Mesh, clock: VirtualClock, raised: Callable[[], BaseException]
) -> None:
    target = Flaky(raised)
    topic = mesh.topic("alerts")
    subscription = topic.subscribe(target)
    async with mesh:
        await topic.publish("first")
        await clock.advance(0)
        await clock.advance(20)  # a callable's first retry, 20 s later
        await topic.publish("second")
        await clock.advance(0)
    assert [envelope["Message"] for envelope in target.received] == ["first", "first", "second"]
    assert (subscription.attempts, subscription.delivered, subscription.failed) == (3, 2, 0)


@pytest.mark.parametrize("raised", CALLBACK_RAISES.values(), ids=CALLBACK_RAISES.keys())
async def test_a_bus_callable_that_exits_is_a_failed_delivery_retried(
    mesh: Mesh, clock: VirtualClock, raised: Callable[[], BaseException]
) -> None:
    target = Flaky(raised)
    bus = mesh.bus("default")
    bus.rule("all", pattern={"source": ["app"]}, targets=[target])
    entry = {"Source": "app", "DetailType": "t", "Detail": {}}
    async with mesh:
        await bus.put_events([entry])
        await clock.advance(0)
        await clock.advance(1)  # the first retry: 0.5 to 1 s later (backoff with jitter)
        await bus.put_events([entry])
        await clock.advance(0)
    assert len(target.received) == 3


@pytest.mark.parametrize("raised", CALLBACK_RAISES.values(), ids=CALLBACK_RAISES.keys())
async def test_a_schedule_callable_that_exits_is_a_failure_and_the_next_tick_fires(
    mesh: Mesh,
    clock: VirtualClock,
    caplog: pytest.LogCaptureFixture,
    raised: Callable[[], BaseException],
) -> None:
    target = Flaky(raised)
    rule = mesh.schedule("rate(1 minute)", target, retries=0)  # no retry within a tick
    with caplog.at_level(logging.ERROR, logger="eventmesh"):
        async with mesh:
            await clock.advance(120)
    expected = {
        KeyboardInterrupt: "the callable raised KeyboardInterrupt\n",
        SystemExit: "the callable raised SystemExit: 3\n",
        GeneratorExit: "the callable raised GeneratorExit\n",
        BaseException: "the callable raised BaseException: bare\n",
        asyncio.CancelledError: "the callable raised CancelledError while its task was not "
        "cancelled\n",
    }[type(raised())]
    assert f"CallbackExited: {expected}" in caplog.text
    assert [payload["time"] for payload in target.received] == [
        "2026-01-01T00:01:00Z",
        "2026-01-01T00:02:00Z",
    ]
    assert (rule.fired, rule.failures) == (2, 1)


# -- a handler that raises CancelledError itself ---------------------------------------------
async def test_a_cancelled_error_raised_by_the_handler_is_a_function_error(mesh: Mesh) -> None:
    @mesh.function
    async def awaits_a_cancelled_task(event: Any, context: Context) -> str:
        if event == "cancelled":
            other = asyncio.get_running_loop().create_future()
            other.cancel()
            await other  # raises CancelledError, though nobody cancelled the caller
        return "fine"

    async with mesh:
        result = await mesh.invoke("awaits_a_cancelled_task", "cancelled")
        after = await mesh.invoke("awaits_a_cancelled_task", "again")
    assert result.function_error == "Unhandled"
    assert result.payload["errorType"] == "CancelledError"
    assert after.payload == "fine"


async def test_an_event_handler_raising_cancelled_error_is_retried_and_the_worker_lives_on(
    mesh: Mesh, clock: VirtualClock
) -> None:
    failures = RecordingDestination()
    handled: list[str] = []

    @mesh.function(retries=1, reserved_concurrency=1, on_failure=failures)
    async def worker(event: str, context: Context) -> None:
        handled.append(event)
        if event == "cancelled":
            raise asyncio.CancelledError

    async with mesh:
        await mesh.invoke("worker", "cancelled", invocation_type="Event")
        await clock.advance(0)
        await mesh.invoke("worker", "next", invocation_type="Event")
        await clock.advance(0)
        assert handled == ["cancelled", "next"]
        await clock.advance(60)
    assert handled == ["cancelled", "next", "cancelled"]
    (record,) = failures.messages
    assert record["responsePayload"]["errorType"] == "CancelledError"


class ExitingDestination:
    """A destination object (anything with ``send``) whose send raises KeyboardInterrupt."""

    def __init__(self) -> None:
        self.calls = 0

    async def send(self, message: Any, attributes: Any = None) -> None:
        self.calls += 1
        raise KeyboardInterrupt


async def test_a_destination_object_that_exits_is_a_destination_failure_and_the_worker_lives_on(
    mesh: Mesh, clock: VirtualClock
) -> None:
    destination = ExitingDestination()
    handled: list[str] = []

    @mesh.function(retries=0, reserved_concurrency=1, on_failure=destination)
    async def worker(event: str, context: Context) -> None:
        handled.append(event)
        if event == "fails":
            raise ValueError(event)

    async with mesh:
        await mesh.invoke("worker", "fails", invocation_type="Event")
        await clock.advance(0)
        await mesh.invoke("worker", "next", invocation_type="Event")
        await clock.advance(0)
    assert handled == ["fails", "next"]
    assert destination.calls == 1
    assert mesh.functions["worker"].stats.destination_failures == 1


async def test_a_stream_on_failure_object_that_exits_does_not_stop_the_shard(
    mesh: Mesh, clock: VirtualClock
) -> None:
    destination = ExitingDestination()
    stream = mesh.stream("clicks")
    batches: list[list[str]] = []

    @mesh.function
    async def consume(event: dict[str, Any], context: Context) -> None:
        data = [base64.b64decode(r["kinesis"]["data"]).decode() for r in event["Records"]]
        batches.append(data)
        if "bad" in data:
            raise ValueError("bad record")

    stream.subscribe(consume, batch_size=10, max_retries=0, on_failure=destination)
    async with mesh:
        await stream.put_record("bad", "k")
        await clock.advance(0)
        await stream.put_record("good", "k")
        await clock.advance(0)
    assert batches == [["bad"], ["good"]]
    assert destination.calls == 1


async def test_work_that_swallows_every_cancellation_is_closed_at_stop_not_left_running(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    cleaned: list[str] = []

    @mesh.function(timeout=1)
    async def stubborn(event: Any, context: Context) -> None:
        try:
            while True:
                with contextlib.suppress(asyncio.CancelledError):  # refuses every cancellation
                    await asyncio.Event().wait()
        finally:
            cleaned.append("closed")

    mesh._invoker.abandoned.grace = 0.01  # real seconds: stop does not wait long in a test
    with caplog.at_level(logging.WARNING, logger="eventmesh.invocations"):
        async with mesh:
            task = asyncio.create_task(mesh.invoke("stubborn"))
            await clock.advance(1)
            result = await task
            assert mesh._invoker.abandoned.running == 1
    assert result.payload["errorType"] == "Sandbox.Timedout"
    # Nothing is left that would hold up the loop's own shutdown (asyncio.run waits for
    # every task it cancels): the coroutine was closed, its finally ran.
    assert mesh._invoker.abandoned.running == 0
    assert cleaned == ["closed"]
    assert (
        "1 abandoned invocations still ran 0.01 s after being cancelled at stop; they were "
        f"closed (no longer run): function stubborn RequestId: {result.request_id}"
    ) in caplog.messages


async def test_a_task_group_cleaning_up_at_the_deadline_is_not_said_to_catch_it(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A TaskGroup awaits its children's end when the deadline's cancellation reaches it: the
    handler awaits in its cleanup, it did not catch anything. The caller still gets the
    timeout at the deadline, and the cleanup ends in the background."""
    children: list[str] = []

    async def child() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            children.append("cancelled")
            raise

    @mesh.function(timeout=1)
    async def grouped(event: Any, context: Context) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(child())
            await asyncio.Event().wait()

    with caplog.at_level(logging.INFO, logger="eventmesh.invocations"):
        async with mesh:
            task = asyncio.create_task(mesh.invoke("grouped"))
            await clock.advance(1)
            assert task.done(), "the caller gets its answer at the deadline"
            result = task.result()
            await clock.advance(0)
            assert mesh._invoker.abandoned.running == 0
    assert result.payload["errorType"] == "Sandbox.Timedout"
    assert children == ["cancelled"]
    assert (
        f"function grouped RequestId: {result.request_id} still runs after its timeout of 1.00 s "
        "(it caught the cancellation, or awaits in its cleanup): abandoned to the background, "
        "its concurrency released"
    ) in caplog.messages
    assert (
        f"function grouped RequestId: {result.request_id}: abandoned work was cancelled 0.00 s "
        "after its deadline; its result is discarded"
    ) in caplog.messages


@pytest.mark.parametrize("raised", [ValueError, KeyboardInterrupt], ids=["ValueError", "exit"])
async def test_a_deadline_turned_into_another_exception_is_a_timeout_and_taken_back(
    mesh: Mesh, clock: VirtualClock, raised: type[BaseException]
) -> None:
    """A handler (or a library it awaits) that raises its own error for the deadline's
    cancellation: Lambda stops it at the deadline, so it is a timeout; and the cancellation
    does not stay pending on the caller's task (where the next asyncio.timeout or TaskGroup
    of the caller would take it for its own)."""

    @mesh.function(timeout=1)
    async def converts(event: Any, context: Context) -> None:
        try:
            await clock.sleep(10)
        except asyncio.CancelledError:
            raise raised("cancelled") from None

    async def caller() -> tuple[Any, int]:
        result = await mesh.invoke("converts")
        task = asyncio.current_task()
        assert task is not None
        return result.payload, task.cancelling()

    async with mesh:
        task = asyncio.create_task(caller())
        await clock.advance(1)
        payload, cancelling = await task
    assert payload["errorType"] == "Sandbox.Timedout"
    assert payload["errorMessage"].endswith("Task timed out after 1.00 seconds")
    assert cancelling == 0
