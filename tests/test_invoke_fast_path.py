"""mesh.invoke's hot path: a name invoked before goes straight to the invoker, its
resolution cached until a version, an alias or a configuration changes; a handler that
finishes without waiting is never put under the deadline watcher. Each test invokes a name
at least twice, so that the later calls take the hot path, and checks they behave as the
first (general) one does."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from eventmesh import (
    Context,
    EventMeshError,
    Mesh,
    PayloadError,
    RequestTooLargeError,
    Telemetry,
    TooManyRequestsError,
)
from eventmesh.testing import VirtualClock


async def test_a_moved_alias_is_followed_by_the_next_call(mesh: Mesh) -> None:
    @mesh.function
    async def versioned(event: Any, context: Context) -> str:
        return "one"

    versioned.publish_version()
    versioned.update_code(lambda_two)
    versioned.publish_version()
    mesh.alias(versioned, "live", "1")
    async with mesh:
        first = await mesh.invoke("versioned:live")
        again = await mesh.invoke("versioned:live")
        mesh.alias(versioned, "live", "2")
        moved = await mesh.invoke("versioned:live")
        mesh.alias(versioned, "live", "1", routing={"2": 1.0})
        routed = await mesh.invoke("versioned:live")
    assert (first.payload, first.executed_version) == ("one", "1")
    assert (again.payload, again.executed_version) == ("one", "1")
    assert (moved.payload, moved.executed_version) == ("two", "2")
    assert (routed.payload, routed.executed_version) == ("two", "2")


async def lambda_two(event: Any, context: Context) -> str:
    return "two"


async def test_new_code_and_configuration_apply_from_the_next_call(mesh: Mesh) -> None:
    @mesh.function(environment={"STAGE": "a"})
    async def configured(event: Any, context: Context) -> str:
        return context.environment["STAGE"]

    async with mesh:
        before = [(await mesh.invoke("configured")).payload for _ in range(2)]
        configured.update_configuration(environment={"STAGE": "b"})
        after = (await mesh.invoke("configured")).payload
        configured.update_code(lambda_two)
        code = (await mesh.invoke("configured")).payload
        configured.update_configuration(reserved_concurrency=0)
        with pytest.raises(TooManyRequestsError):
            await mesh.invoke("configured")
    assert before == ["a", "a"]
    assert after == "b"
    assert code == "two"
    assert configured.stats.throttles == 1


async def test_a_throttle_on_the_hot_path(mesh: Mesh, clock: VirtualClock) -> None:
    release = asyncio.Event()

    @mesh.function(reserved_concurrency=1, timeout=60)
    async def single(event: Any, context: Context) -> str:
        if event == "wait":
            await release.wait()
        return "done"

    async with mesh:
        assert (await mesh.invoke("single")).payload == "done"
        waiting = asyncio.create_task(mesh.invoke("single", "wait"))
        await clock.advance(1)
        with pytest.raises(TooManyRequestsError) as throttled:
            await mesh.invoke("single")
        release.set()
        assert (await waiting).payload == "done"
        assert (await mesh.invoke("single")).payload == "done"
    assert throttled.value.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert single.stats.throttles == 1
    assert single.stats.invocations == 3


async def test_timeouts_and_errors_on_the_hot_path(mesh: Mesh, clock: VirtualClock) -> None:
    @mesh.function(timeout=2)
    async def moody(event: Any, context: Context) -> Any:
        if event == "hang":
            await asyncio.Event().wait()
        if event == "fail":
            raise ValueError("broken")
        if event == "late":  # finishes without waiting, but past its deadline
            clock.stall(3)  # what time.sleep(3) does to the clock
        return event

    async with mesh:
        assert (await mesh.invoke("moody", "warm")).payload == "warm"
        hung = asyncio.create_task(mesh.invoke("moody", "hang"))
        await clock.advance(2)
        timed_out = await hung
        failed = await mesh.invoke("moody", "fail")  # a cold start: the timeout reset it
        failed_again = await mesh.invoke("moody", "fail")  # warm: the hot path
        fine = await mesh.invoke("moody", {"n": 1})
        late = await mesh.invoke("moody", "late")
    assert late.payload["errorType"] == "Sandbox.Timedout"
    assert late.payload["errorMessage"].endswith("Task timed out after 2.00 seconds")
    assert timed_out.payload["errorType"] == "Sandbox.Timedout"
    assert timed_out.payload["errorMessage"].endswith("Task timed out after 2.00 seconds")
    for result in (failed, failed_again):
        assert result.function_error == "Unhandled"
        assert result.payload["errorType"] == "ValueError"
        assert result.payload["errorMessage"] == "broken"
    assert fine.payload == {"n": 1}
    assert moody.stats.errors == 4
    assert moody.stats.invocations == 6


async def test_the_handler_gets_its_own_copy_and_payloads_are_checked(mesh: Mesh) -> None:
    @mesh.function
    async def mutates(event: Any, context: Context) -> Any:
        event["seen"] = True
        return event

    async with mesh:
        for _ in range(2):
            sent = {"a": [1, 2]}
            result = await mesh.invoke("mutates", sent)
            assert sent == {"a": [1, 2]}
            assert result.payload == {"a": [1, 2], "seen": True}
        with pytest.raises(PayloadError):
            await mesh.invoke("mutates", {"x": float("nan")})
        with pytest.raises(PayloadError):
            await mesh.invoke("mutates", {"x": object()})
        with pytest.raises(PayloadError):
            await mesh.invoke("mutates", {1: "a non-str key"})
        with pytest.raises(RequestTooLargeError):
            await mesh.invoke("mutates", {"x": "y" * (6 * 1024 * 1024)})
        assert (await mesh.invoke("mutates", {"x": None})).payload == {"x": None, "seen": True}
    assert mutates.stats.invocations == 3


async def test_a_call_does_nothing_until_awaited_and_not_after_a_stop(mesh: Mesh) -> None:
    calls = []

    @mesh.function
    async def counted(event: Any, context: Context) -> None:
        calls.append(event)

    async with mesh:
        await mesh.invoke("counted", 1)
        pending = mesh.invoke("counted", 2)
        assert calls == [1]
    with pytest.raises(EventMeshError, match="not running"):
        await pending
    assert calls == [1]


async def test_middleware_added_between_runs_sees_the_hot_path_calls(clock: VirtualClock) -> None:
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False))
    seen: list[str] = []

    @mesh.function
    async def wrapped(event: Any, context: Context) -> str:
        return "ran"

    async with mesh:
        await mesh.invoke("wrapped")
        await mesh.invoke("wrapped")

    def spy(call: Any) -> Any:
        async def spying(invocation: Any) -> Any:
            seen.append(invocation.context.aws_request_id)
            return await call(invocation)

        return spying

    mesh.add_middleware(spy)
    async with mesh:
        first = await mesh.invoke("wrapped")
        second = await mesh.invoke("wrapped")
    assert seen == [first.request_id, second.request_id]
    assert (first.payload, second.payload) == ("ran", "ran")


async def test_logging_turned_on_or_off_between_warm_calls_applies_at_the_next_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The hot path trusts logging's own per-level cache only when it says "off": turning
    the level on, or disabling the logger, applies from the very next warm call."""
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    logger = logging.getLogger("eventmesh.invocations")

    @mesh.function
    async def chatty(event: Any, context: Context) -> None:
        return None

    def lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "eventmesh.invocations"]

    async with mesh:
        with caplog.at_level(logging.WARNING, logger="eventmesh.invocations"):
            await mesh.invoke("chatty")
            await mesh.invoke("chatty")  # warm, with INFO cached as off
            assert lines() == []
        with caplog.at_level(logging.INFO, logger="eventmesh.invocations"):
            heard = await mesh.invoke("chatty")
            assert lines()[0] == f"START RequestId: {heard.request_id} Version: $LATEST"
            assert lines()[1] == f"END RequestId: {heard.request_id}"
            caplog.clear()
            logger.disabled = True  # as logging.config does to existing loggers
            try:
                await mesh.invoke("chatty")
            finally:
                logger.disabled = False
            assert lines() == []
            again = await mesh.invoke("chatty")
            assert lines()[0] == f"START RequestId: {again.request_id} Version: $LATEST"
