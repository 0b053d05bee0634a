"""RequestResponse and DryRun invocations: results, errors, timeouts, limits, payloads."""

from __future__ import annotations

import asyncio
import re
import threading
from typing import Any

import pytest

from eventmesh import (
    Context,
    EventMeshError,
    InvocationError,
    Mesh,
    PayloadError,
    RequestTooLargeError,
    ResourceNotFoundError,
    Telemetry,
)
from eventmesh.testing import VirtualClock

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


async def test_request_response_returns_the_handler_result(mesh: Mesh) -> None:
    @mesh.function
    async def double(event: dict[str, int], context: Context) -> dict[str, int]:
        return {"value": event["value"] * 2}

    async with mesh:
        result = await mesh.invoke("double", {"value": 21})

    assert result.status_code == 200
    assert result.payload == {"value": 42}
    assert result.function_error is None
    assert result.executed_version == "$LATEST"
    assert UUID.match(result.request_id)


async def test_a_handler_without_return_value_gives_null(mesh: Mesh) -> None:
    @mesh.function
    async def nothing(event: Any, context: Context) -> None:
        return None

    async with mesh:
        result = await mesh.invoke("nothing")
    assert result.status_code == 200
    assert result.payload is None


async def test_request_ids_are_unique(mesh: Mesh) -> None:
    @mesh.function
    async def echo(event: Any, context: Context) -> str:
        return context.aws_request_id

    async with mesh:
        results = [await mesh.invoke("echo") for _ in range(50)]
    assert len({r.request_id for r in results}) == 50
    assert all(r.payload == r.request_id for r in results)


async def test_the_handler_gets_its_own_copy_of_the_payload(mesh: Mesh) -> None:
    seen: list[Any] = []

    @mesh.function
    async def mutate(event: dict[str, Any], context: Context) -> None:
        seen.append(event)
        event["items"].append("added by the handler")

    payload = {"items": ["original"]}
    async with mesh:
        await mesh.invoke("mutate", payload)
    assert payload == {"items": ["original"]}
    assert seen[0] is not payload


async def test_the_result_is_returned_through_json(mesh: Mesh) -> None:
    @mesh.function
    async def tuple_back(event: Any, context: Context) -> Any:
        return {"pair": (1, 2)}

    async with mesh:
        result = await mesh.invoke("tuple_back")
    assert result.payload == {"pair": [1, 2]}


async def test_a_handler_exception_becomes_lambdas_error_object(mesh: Mesh) -> None:
    calls = 0

    @mesh.function
    async def broken(event: Any, context: Context) -> None:
        nonlocal calls
        calls += 1
        raise KeyError("order_id")

    async with mesh:
        result = await mesh.invoke("broken", {})

    assert result.status_code == 200
    assert result.function_error == "Unhandled"
    assert result.payload["errorType"] == "KeyError"
    assert result.payload["errorMessage"] == "'order_id'"
    trace = "".join(result.payload["stackTrace"])
    assert "in broken" in trace and "test_invoke.py" in trace
    assert "eventmesh/_invoker.py" not in trace
    assert calls == 1, "a RequestResponse invocation is never retried"


async def test_context_carries_lambdas_fields(mesh: Mesh, clock: VirtualClock) -> None:
    seen: list[Context] = []

    @mesh.function(name="ctx-fn", timeout=10, memory=512, environment={"TABLE": "orders"})
    async def handler(event: Any, context: Context) -> None:
        seen.append(context)

    async with mesh:
        result = await mesh.invoke("ctx-fn", client_context={"custom": {"k": "v"}})
    context = seen[0]
    assert context.aws_request_id == result.request_id
    assert context.function_name == "ctx-fn"
    assert context.function_version == "$LATEST"
    assert context.invoked_function_arn == "arn:aws:lambda:us-east-1:123456789012:function:ctx-fn"
    assert context.memory_limit_in_mb == 512
    assert context.log_group_name == "/aws/lambda/ctx-fn"
    assert context.log_stream_name.startswith("[$LATEST]")
    assert context.environment == {"TABLE": "orders"}
    assert context.client_context is not None and context.client_context.custom == {"k": "v"}
    assert context.cold_start is True
    assert context.invocation_type == "RequestResponse"


async def test_remaining_time_follows_the_clock(mesh: Mesh, clock: VirtualClock) -> None:
    readings: list[int] = []

    @mesh.function(timeout=10)
    async def slow(event: Any, context: Context) -> None:
        readings.append(context.get_remaining_time_in_millis())
        await clock.sleep(4)
        readings.append(context.get_remaining_time_in_millis())

    async with mesh:
        task = asyncio.create_task(mesh.invoke("slow"))
        await clock.advance(4)
        await task
    assert readings == [10_000, 6_000]


async def test_a_timeout_cancels_the_handler_and_reports_lambdas_error(
    mesh: Mesh, clock: VirtualClock
) -> None:
    cancelled = asyncio.Event()

    @mesh.function(timeout=3)
    async def hangs(event: Any, context: Context) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with mesh:
        task = asyncio.create_task(mesh.invoke("hangs"))
        await clock.advance(2.999)
        assert not task.done()
        await clock.advance(0.001)
        result = await task
    assert cancelled.is_set()
    assert result.function_error == "Unhandled"
    assert result.payload["errorType"] == "Sandbox.Timedout"
    assert result.payload["errorMessage"].endswith("Task timed out after 3.00 seconds")
    assert result.request_id in result.payload["errorMessage"]


async def test_a_handler_that_swallows_the_cancellation_still_times_out(
    mesh: Mesh, clock: VirtualClock
) -> None:
    @mesh.function(timeout=1)
    async def stubborn(event: Any, context: Context) -> str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            return "ignored the deadline"
        return "unreachable"

    async with mesh:
        task = asyncio.create_task(mesh.invoke("stubborn"))
        await clock.advance(1)
        result = await task
        assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]
    assert result.payload["errorType"] == "Sandbox.Timedout"


async def test_the_invoking_task_is_not_left_cancelled_after_a_timeout(
    mesh: Mesh, clock: VirtualClock
) -> None:
    @mesh.function(timeout=1)
    async def hangs(event: Any, context: Context) -> None:
        await asyncio.Event().wait()

    async def caller() -> str:
        await mesh.invoke("hangs")
        await asyncio.sleep(0)  # would raise CancelledError if the cancel had leaked
        return "carried on"

    async with mesh:
        task = asyncio.create_task(caller())
        await clock.advance(1)
        assert await task == "carried on"


async def test_cancelling_the_caller_cancels_the_invocation(
    mesh: Mesh, clock: VirtualClock
) -> None:
    @mesh.function(timeout=60, reserved_concurrency=1)
    async def hangs(event: Any, context: Context) -> None:
        await asyncio.Event().wait()

    async with mesh:
        task = asyncio.create_task(mesh.invoke("hangs"))
        await clock.advance(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The unit of concurrency came back: another invocation may run.
        second = asyncio.create_task(mesh.invoke("hangs"))
        await clock.advance(61)
        assert (await second).payload["errorType"] == "Sandbox.Timedout"


async def test_a_plain_def_handler_runs_in_a_worker_thread() -> None:
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    loop_thread = threading.get_ident()

    @mesh.function
    def lambda_style(event: dict[str, int], context: Context) -> dict[str, Any]:
        return {"thread": threading.get_ident(), "sum": event["a"] + event["b"]}

    async with mesh:
        result = await mesh.invoke("lambda_style", {"a": 1, "b": 2})
    assert result.payload["sum"] == 3
    assert result.payload["thread"] != loop_thread


async def test_a_plain_def_handler_that_times_out_loses_its_environment(
    mesh: Mesh, clock: VirtualClock
) -> None:
    release = threading.Event()
    inits = 0
    clock.thread_wait = 0.05  # the blocked thread is not waited for long

    @mesh.function(timeout=2)
    def blocking(event: Any, context: Context) -> str:
        if event == "block":
            release.wait(5)
        return "done"

    @blocking.init
    def setup(context: Context) -> None:
        nonlocal inits
        inits += 1

    async with mesh:
        assert (await mesh.invoke("blocking", "fast")).payload == "done"
        task = asyncio.create_task(mesh.invoke("blocking", "block"))
        await clock.advance(2)  # the deadline
        result = await task
        release.set()
        after = await mesh.invoke("blocking", "fast")
    assert result.payload["errorType"] == "Sandbox.Timedout"
    assert after.cold_start is True, "the environment whose thread still runs is not reused"
    assert inits == 2


async def test_system_exit_is_a_crash_that_resets_the_environment(mesh: Mesh) -> None:
    inits = 0

    @mesh.function
    async def exits(event: Any, context: Context) -> None:
        if event == "exit":
            raise SystemExit(1)

    @exits.init
    async def setup(context: Context) -> None:
        nonlocal inits
        inits += 1

    async with mesh:
        result = await mesh.invoke("exits", "exit")
        await mesh.invoke("exits", "fine")
    assert result.payload["errorType"] == "Runtime.ExitError"
    assert inits == 2


async def test_an_unserialisable_result_is_a_marshal_error(mesh: Mesh) -> None:
    @mesh.function
    async def weird(event: Any, context: Context) -> Any:
        return {"value": object()}

    async with mesh:
        result = await mesh.invoke("weird")
    assert result.function_error == "Unhandled"
    assert result.payload["errorType"] == "Runtime.MarshalError"


async def test_a_response_over_the_limit_is_an_error(clock: VirtualClock) -> None:
    mesh = Mesh(clock=clock, max_sync_payload=1000, telemetry=Telemetry(enabled=False))

    @mesh.function
    async def big(event: Any, context: Context) -> str:
        return "x" * 2000

    async with mesh:
        result = await mesh.invoke("big")
    assert result.payload["errorType"] == "Function.ResponseSizeTooLarge"


async def test_a_payload_over_the_limit_is_refused_before_running(clock: VirtualClock) -> None:
    mesh = Mesh(clock=clock, max_sync_payload=100, telemetry=Telemetry(enabled=False))
    calls = 0

    @mesh.function
    async def handler(event: Any, context: Context) -> None:
        nonlocal calls
        calls += 1

    async with mesh:
        with pytest.raises(RequestTooLargeError, match="limit"):
            await mesh.invoke("handler", {"data": "x" * 200})
    assert calls == 0


@pytest.mark.parametrize("payload", [{"when": object()}, {1: "non-string key"}, {"n": 2**70}])
async def test_a_payload_that_is_not_json_is_a_payload_error(mesh: Mesh, payload: Any) -> None:
    @mesh.function
    async def handler(event: Any, context: Context) -> None:
        raise AssertionError("must not run")

    async with mesh:
        with pytest.raises(PayloadError, match="not JSON-serialisable"):
            await mesh.invoke("handler", payload)


async def test_bytes_are_taken_as_a_json_document(mesh: Mesh) -> None:
    @mesh.function
    async def echo(event: Any, context: Context) -> Any:
        return event

    async with mesh:
        assert (await mesh.invoke("echo", b'{"a": [1, 2]}')).payload == {"a": [1, 2]}
        with pytest.raises(PayloadError, match="not a JSON document"):
            await mesh.invoke("echo", b"{not json")


async def test_dry_run_validates_without_running(mesh: Mesh) -> None:
    calls = 0

    @mesh.function
    async def handler(event: Any, context: Context) -> None:
        nonlocal calls
        calls += 1

    async with mesh:
        result = await mesh.invoke("handler", {"ok": True}, invocation_type="DryRun")
        assert result.status_code == 204
        with pytest.raises(ResourceNotFoundError):
            await mesh.invoke("missing", {}, invocation_type="DryRun")
        with pytest.raises(ResourceNotFoundError):
            await mesh.invoke("handler:7", {}, invocation_type="DryRun")
        with pytest.raises(PayloadError):
            await mesh.invoke("handler", {"x": object()}, invocation_type="DryRun")
    assert calls == 0


async def test_unknown_functions_and_qualifiers_are_not_found(mesh: Mesh) -> None:
    @mesh.function
    async def known(event: Any, context: Context) -> None:
        return None

    async with mesh:
        with pytest.raises(ResourceNotFoundError, match="no function named 'unknown'"):
            await mesh.invoke("unknown")
        with pytest.raises(ResourceNotFoundError, match="no version or alias 'beta'"):
            await mesh.invoke("known:beta")


async def test_an_unknown_invocation_type_is_refused(mesh: Mesh) -> None:
    @mesh.function
    async def known(event: Any, context: Context) -> None:
        return None

    async with mesh:
        with pytest.raises(InvocationError, match="invocation_type"):
            await mesh.invoke("known", None, invocation_type="Sometimes")  # type: ignore[arg-type]


async def test_invoking_a_mesh_that_is_not_running_is_a_clear_error(mesh: Mesh) -> None:
    @mesh.function
    async def known(event: Any, context: Context) -> None:
        return None

    with pytest.raises(EventMeshError, match="not running"):
        await mesh.invoke("known")


async def test_calling_the_function_object_calls_the_handler(mesh: Mesh) -> None:
    @mesh.function
    async def add(event: dict[str, int], context: Any) -> int:
        return event["a"] + event["b"]

    assert await add({"a": 2, "b": 3}, None) == 5
