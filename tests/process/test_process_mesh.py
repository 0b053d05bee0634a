"""Process functions in a mesh: retries and destinations, payload limits, idle reclaim, stop,
provisioned and concurrent environments, decorated functions, and what is refused at the call."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import os
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from process_helpers import CodeDir, alive, children, eventually

from eventmesh import (
    CallHandler,
    ConfigurationError,
    Context,
    Idempotency,
    Invocation,
    InvocationResult,
    Mesh,
    RequestTooLargeError,
    Telemetry,
)
from eventmesh.process._function import ProcessFunction
from eventmesh.testing import RecordingDestination, VirtualClock

PID_APP = """
    import os, time

    def lambda_handler(event, context):
        if event.get("fail"):
            raise RuntimeError("refused " + str(event["fail"]))
        if event.get("sleep"):
            time.sleep(event["sleep"])
        if event.get("size"):
            return "x" * event["size"]
        return {"pid": os.getpid(), "init": os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"]}
"""


def process_function(mesh: Mesh, name: str) -> ProcessFunction:
    function = mesh.get_function(name)
    assert isinstance(function, ProcessFunction)
    return function


async def test_an_event_invocation_that_fails_is_retried_and_goes_to_on_failure(
    code_dir: CodeDir,
) -> None:
    clock = VirtualClock()
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    failure = RecordingDestination()
    code = code_dir(app=PID_APP)
    function = mesh.function(
        name="charge", handler="app.lambda_handler", code=code, retries=1, on_failure=failure
    )
    async with mesh:
        result = await mesh.invoke("charge", {"fail": 7}, invocation_type="Event")
        assert result.status_code == 202
        await eventually(lambda: function.stats.invocations == 1)
        await clock.advance(59)
        assert function.stats.invocations == 1  # Lambda waits a minute before the retry
        await clock.advance(1)
        await eventually(lambda: len(failure.messages) == 1)
    assert function.stats.invocations == 2
    record = failure.messages[0]
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["requestPayload"] == {"fail": 7}
    assert record["responseContext"]["functionError"] == "Unhandled"
    error = record["responsePayload"]
    assert error["errorType"] == "RuntimeError"
    assert error["errorMessage"] == "refused 7"
    assert error["requestId"] == result.request_id  # awslambdaric's own error object


async def test_a_payload_over_six_mb_is_refused_at_the_call_and_starts_nothing(
    mesh: Mesh, code_dir: CodeDir
) -> None:
    mesh.function(name="f", handler="app.lambda_handler", code=code_dir(app=PID_APP))
    async with mesh:
        with pytest.raises(RequestTooLargeError):
            await mesh.invoke("f", {"data": "x" * (6 * 1024 * 1024)})
        assert process_function(mesh, "f").runtime.environments == {}


async def test_a_response_over_six_mb_is_lambdas_error_and_the_environment_starts_afresh(
    mesh: Mesh, code_dir: CodeDir
) -> None:
    mesh.function(name="big", handler="app.lambda_handler", code=code_dir(app=PID_APP))
    async with mesh:
        before = await mesh.invoke("big", {})
        too_big = await mesh.invoke("big", {"size": 6 * 1024 * 1024 + 10})
        after = await mesh.invoke("big", {})
    assert too_big.function_error == "Unhandled"
    # The JSON string: 6,291,466 characters and two quotes.
    assert too_big.payload == {
        "errorMessage": (
            "Response payload size (6291468 bytes) exceeded maximum allowed payload size "
            "(6291456 bytes)."
        ),
        "errorType": "Function.ResponseSizeTooLarge",
        "stackTrace": [],
    }
    assert after.function_error is None
    assert after.cold_start
    assert after.payload["pid"] != before.payload["pid"]


async def test_an_idle_environment_is_reclaimed_and_its_process_ends(code_dir: CodeDir) -> None:
    clock = VirtualClock()
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), environment_idle_timeout=60)
    mesh.function(name="f", handler="app.lambda_handler", code=code_dir(app=PID_APP))
    async with mesh:
        pid = (await mesh.invoke("f", {})).payload["pid"]
        await clock.advance(59)
        assert alive(pid)
        await clock.advance(2)
        await eventually(lambda: not alive(pid))
        assert process_function(mesh, "f").runtime.environments == {}
        again = await mesh.invoke("f", {})
        assert again.cold_start and again.payload["pid"] != pid


GRANDCHILD_BOOTSTRAP = """\
#!/bin/sh
# Starts a background process of its own, then serves invocations.
sleep 300 &
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
HEADERS="$(mktemp)"
while true; do
  curl -sS -D "$HEADERS" -o /dev/null "$API/invocation/next"
  ID=$(grep -i '^lambda-runtime-aws-request-id:' "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  curl -sS -o /dev/null -X POST -d "{\\"pid\\":$$,\\"child\\":$!}" "$API/invocation/$ID/response"
done
"""


async def test_stopping_the_mesh_leaves_no_process_behind(mesh: Mesh, code_dir: CodeDir) -> None:
    before = children()
    mesh.function(name="py", handler="app.lambda_handler", code=code_dir(app=PID_APP))
    mesh.function(name="sh", handler="x.y", code=code_dir(bootstrap=GRANDCHILD_BOOTSTRAP))
    async with mesh:
        results = await asyncio.gather(*(mesh.invoke("py", {"sleep": 0.5}) for _ in range(3)))
        shell = await mesh.invoke("sh", {})
        pids = {result.payload["pid"] for result in results}
        pids |= {shell.payload["pid"], shell.payload["child"]}  # the bootstrap's own child
        assert len(pids) == 5 and all(alive(pid) for pid in pids)
    assert not any(alive(pid) for pid in pids)
    assert children() - before == set()


async def test_provisioned_concurrency_starts_its_processes_when_the_mesh_starts(
    mesh: Mesh, code_dir: CodeDir
) -> None:
    mesh.function(
        name="warm",
        handler="app.lambda_handler",
        code=code_dir(app=PID_APP),
        provisioned_concurrency=2,
    )
    async with mesh:
        environments = process_function(mesh, "warm").runtime.environments.values()
        assert len([e for e in environments if e.alive]) == 2
        pids = {e.pid for e in environments}
        result = await mesh.invoke("warm", {})
    assert not result.cold_start
    assert result.payload["pid"] in pids
    assert result.payload["init"] == "provisioned-concurrency"


async def test_concurrent_invocations_run_in_as_many_processes_one_at_a_time(
    mesh: Mesh, code_dir: CodeDir
) -> None:
    mesh.function(name="f", handler="app.lambda_handler", code=code_dir(app=PID_APP), timeout=30)
    async with mesh:
        first = await asyncio.gather(*(mesh.invoke("f", {"sleep": 0.5}) for _ in range(4)))
        second = await asyncio.gather(*(mesh.invoke("f", {"sleep": 0.5}) for _ in range(4)))
    first_pids = {result.payload["pid"] for result in first}
    assert len(first_pids) == 4  # each environment runs one invocation at a time
    assert {result.payload["pid"] for result in second} == first_pids  # then reused warm
    assert all(not result.cold_start for result in second)


def register_shop_handler(
    mesh: Mesh, root: Path, monkeypatch: pytest.MonkeyPatch
) -> ProcessFunction:
    """A package ``shop`` with ``handlers.describe``, imported, then decorated."""
    package = root / "shop"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "handlers.py").write_text(
        textwrap.dedent(
            """
            import os

            def describe(event, context):
                return {"pid": os.getpid(), "name": context.function_name,
                        "colour": os.environ["COLOUR"], "event": event}
            """
        )
    )
    monkeypatch.syspath_prepend(str(root))
    handlers = importlib.import_module("shop.handlers")
    function = mesh.function(isolation="process", environment={"COLOUR": "green"})(
        handlers.describe
    )
    assert isinstance(function, ProcessFunction)
    assert function.handler_string == "shop.handlers.describe"
    assert str(function.code) == os.path.realpath(root)
    return function


async def test_a_decorated_plain_def_may_run_in_a_process(
    mesh: Mesh, code_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_shop_handler(mesh, code_root, monkeypatch)
    async with mesh:
        result = await mesh.invoke("describe", {"n": 1})
    assert result.function_error is None, result.payload
    assert result.payload == {
        "pid": result.payload["pid"],
        "name": "describe",
        "colour": "green",
        "event": {"n": 1},
    }
    assert result.payload["pid"] != os.getpid()
    sys.modules.pop("shop.handlers", None)
    sys.modules.pop("shop", None)


# -- refused at the call -------------------------------------------------------------------------
def test_a_handler_string_needs_a_name_and_a_code_directory(mesh: Mesh, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="needs name=, handler="):
        mesh.function(name="f", handler="app.lambda_handler")  # type: ignore[call-overload]
    with pytest.raises(ConfigurationError, match="does not exist"):
        mesh.function(name="f", handler="app.lambda_handler", code=tmp_path / "missing")


@pytest.mark.parametrize("handler", ["", "app", "app.", "my app.handler", "a" * 129 + ".h"])
def test_a_malformed_handler_string_is_refused(mesh: Mesh, code_dir: CodeDir, handler: str) -> None:
    with pytest.raises(ConfigurationError, match="handler"):
        mesh.function(name="f", handler=handler, code=code_dir(app=PID_APP))


def test_a_bootstrap_that_is_not_executable_is_refused(mesh: Mesh, code_root: Path) -> None:
    (code_root / "bootstrap").write_text("#!/bin/sh\n")
    with pytest.raises(ConfigurationError, match="not executable"):
        mesh.function(name="f", handler="x.y", code=code_root)


def test_a_reserved_variable_is_refused_as_lambda_refuses_it(mesh: Mesh, code_dir: CodeDir) -> None:
    with pytest.raises(ConfigurationError, match="Reserved keys used in this request: AWS_REGION"):
        mesh.function(
            name="f",
            handler="app.lambda_handler",
            code=code_dir(app=PID_APP),
            environment={"AWS_REGION": "eu-west-1"},
        )


def test_in_process_isolation_with_a_handler_string_is_refused(
    mesh: Mesh, code_dir: CodeDir
) -> None:
    with pytest.raises(ConfigurationError, match="isolation='process'"):
        mesh.function(
            name="f",
            handler="app.lambda_handler",
            code=code_dir(app=PID_APP),
            isolation="in_process",  # type: ignore[call-overload]
        )
    with pytest.raises(ConfigurationError, match="'in_process' or 'process'"):
        mesh.function(isolation="threads")  # type: ignore[call-overload]


def test_an_async_def_handler_cannot_run_in_a_process(mesh: Mesh) -> None:
    async def handler(event: Any, context: Context) -> None:
        pass

    with pytest.raises(ConfigurationError, match="Lambda's Python runtime calls a plain def"):
        mesh.function(isolation="process")(handler)


def test_a_nested_function_a_lambda_or_one_in_main_cannot_run_in_a_process(mesh: Mesh) -> None:
    def nested(event: Any, context: Context) -> None:
        pass

    with pytest.raises(ConfigurationError, match="top level of a module"):
        mesh.function(isolation="process")(nested)
    with pytest.raises(ConfigurationError, match="top level of a module"):
        mesh.function(name="anonymous", isolation="process")(lambda event, context: None)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec("def main_handler(event, context):\n    return 1\n", namespace)
    with pytest.raises(ConfigurationError, match="defined in __main__"):
        mesh.function(isolation="process")(namespace["main_handler"])


def test_an_init_hook_has_no_meaning_for_a_process_function(mesh: Mesh, code_dir: CodeDir) -> None:
    function = mesh.function(name="f", handler="app.lambda_handler", code=code_dir(app=PID_APP))
    with pytest.raises(ConfigurationError, match="no meaning under Lambda's Python runtime"):
        function.init(lambda context: None)


def test_without_the_process_extra_the_error_says_how_to_install_it(
    mesh: Mesh, code_dir: CodeDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "awslambdaric" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(ConfigurationError, match=r'pip install "eventmesh\[process\]"'):
        mesh.function(name="f", handler="app.lambda_handler", code=code_dir(app=PID_APP))


async def test_new_settings_start_new_processes_and_end_the_idle_old_ones(
    mesh: Mesh, code_dir: CodeDir
) -> None:
    code = code_dir(
        app="""
        import os

        COLOUR = os.environ["COLOUR"]

        def lambda_handler(event, context):
            return {"pid": os.getpid(), "colour": COLOUR}
        """
    )
    function = mesh.function(
        name="f", handler="app.lambda_handler", code=code, environment={"COLOUR": "red"}
    )
    async with mesh:
        before = await mesh.invoke("f", {})
        function.update_configuration(environment={"COLOUR": "blue"})
        after = await mesh.invoke("f", {})
        await eventually(lambda: not alive(before.payload["pid"]))
    assert before.payload["colour"] == "red"
    assert after.payload["colour"] == "blue"
    assert after.cold_start


async def test_a_published_version_runs_in_processes_of_its_own_with_its_number(
    mesh: Mesh, code_dir: CodeDir
) -> None:
    code = code_dir(
        app="""
        import os

        def lambda_handler(event, context):
            return {
                "pid": os.getpid(),
                "variable": os.environ["AWS_LAMBDA_FUNCTION_VERSION"],
                "version": context.function_version,
                "arn": context.invoked_function_arn,
            }
        """
    )
    function = mesh.function(name="f", handler="app.lambda_handler", code=code)
    function.publish_version()
    mesh.alias("f", "live", version="1")
    async with mesh:
        latest = await mesh.invoke("f", {})
        live = await mesh.invoke("f:live", {})
    assert latest.payload["variable"] == latest.payload["version"] == "$LATEST"
    assert live.payload["variable"] == live.payload["version"] == "1"
    assert live.payload["arn"] == "arn:aws:lambda:us-east-1:123456789012:function:f:live"
    assert live.executed_version == "1"
    assert live.payload["pid"] != latest.payload["pid"]  # environments never cross versions


async def test_idempotency_and_middleware_wrap_a_process_function_as_any_other(
    mesh: Mesh, code_dir: CodeDir
) -> None:
    code = code_dir(
        app="""
        RUNS = 0

        def lambda_handler(event, context):
            global RUNS
            RUNS += 1
            return RUNS
        """
    )
    seen: list[str] = []

    def middleware(call_next: CallHandler) -> CallHandler:
        async def call(invocation: Invocation) -> InvocationResult:
            seen.append(invocation.context.function_name)
            return await call_next(invocation)

        return call

    mesh.function(
        name="charge",
        handler="app.lambda_handler",
        code=code,
        idempotency=Idempotency("order_id"),
        middleware=[middleware],
    )
    async with mesh:
        first = await mesh.invoke("charge", {"order_id": 1})
        duplicate = await mesh.invoke("charge", {"order_id": 1})
        other = await mesh.invoke("charge", {"order_id": 2})
    assert (first.payload, duplicate.payload, other.payload) == (1, 1, 2)
    assert seen == ["charge", "charge", "charge"]


async def test_a_mesh_started_again_starts_new_processes(mesh: Mesh, code_dir: CodeDir) -> None:
    mesh.function(name="f", handler="app.lambda_handler", code=code_dir(app=PID_APP))
    async with mesh:
        before = await mesh.invoke("f", {})
    assert not alive(before.payload["pid"])
    async with mesh:
        after = await mesh.invoke("f", {})
    assert after.function_error is None, after.payload
    assert after.payload["pid"] != before.payload["pid"]
    assert not alive(after.payload["pid"])


async def test_a_caller_cancelled_mid_invocation_ends_the_process_and_the_next_call_is_cold(
    mesh: Mesh, code_dir: CodeDir
) -> None:
    before = children()
    mesh.function(name="py", handler="app.lambda_handler", code=code_dir(app=PID_APP), timeout=60)
    async with mesh:
        first = await mesh.invoke("py", {})
        pid = first.payload["pid"]
        call = asyncio.ensure_future(mesh.invoke("py", {"sleep": 60}))
        await asyncio.sleep(0.5)  # the event is in the process, which sleeps in the handler
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        await eventually(lambda: not alive(pid))
        after = await mesh.invoke("py", {})
        assert after.function_error is None, after.payload
        assert after.cold_start and after.payload["pid"] != pid
    assert children() - before == set()


@pytest.mark.parametrize("key", ["A=B", "1ST", "MY-VAR", "X", "_PRIVATE", "NAME WITH SPACE"])
def test_a_variable_name_lambda_would_refuse_is_refused_at_declaration(
    mesh: Mesh, code_dir: CodeDir, key: str
) -> None:
    # Lambda's key pattern is [a-zA-Z]([a-zA-Z0-9_])+; such a name failed only at the cold
    # start, as a function error carrying the mesh's own stack trace.
    code = code_dir(app=PID_APP)
    with pytest.raises(ConfigurationError, match=r"\[a-zA-Z\]\(\[a-zA-Z0-9_\]\)\+"):
        mesh.function(name="f", handler="app.lambda_handler", code=code, environment={key: "1"})


def test_a_variable_value_with_a_nul_character_is_refused_at_declaration(
    mesh: Mesh, code_dir: CodeDir
) -> None:
    code = code_dir(app=PID_APP)
    with pytest.raises(ConfigurationError, match="NUL"):
        mesh.function(
            name="f", handler="app.lambda_handler", code=code, environment={"COLOUR": "a\x00b"}
        )
    function = mesh.function(name="g", handler="app.lambda_handler", code=code)
    with pytest.raises(ConfigurationError, match="NUL"):
        function.update_configuration(environment={"COLOUR": "a\x00b"})


TRACE_APP = """
    import os

    def lambda_handler(event, context):
        return os.environ.get("_X_AMZN_TRACE_ID")
"""

X_RAY_HEADER = re.compile(r"Root=1-([0-9a-f]{8})-([0-9a-f]{24});Parent=([0-9a-f]{16});Sampled=0")


async def test_each_invocation_gets_an_unsampled_x_ray_trace_header(
    mesh: Mesh, code_dir: CodeDir
) -> None:
    """Lambda's runtime client sets _X_AMZN_TRACE_ID from Lambda-Runtime-Trace-Id at every
    invocation; without it the X-Ray SDK (Powertools' Tracer, Tracing: Active) warns at every
    subsegment. Sampled=0: nothing is recorded, since no X-Ray daemon runs."""
    mesh.function(name="traced", handler="app.lambda_handler", code=code_dir(app=TRACE_APP))
    async with mesh:
        first = (await mesh.invoke("traced", {})).payload
        second = (await mesh.invoke("traced", {})).payload
    assert X_RAY_HEADER.fullmatch(first) and X_RAY_HEADER.fullmatch(second)
    assert first != second


async def test_the_x_ray_header_carries_the_invocation_spans_trace(code_dir: CodeDir) -> None:
    """While the mesh traces, the header's root is the invocation span's trace id (X-Ray's
    form of a W3C trace id: cut after its first 8 hex digits) and its parent the span's id."""
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    mesh = Mesh(telemetry=Telemetry(provider), drain_timeout=2.0)
    mesh.function(name="traced", handler="app.lambda_handler", code=code_dir(app=TRACE_APP))
    async with mesh:
        header = (await mesh.invoke("traced", {})).payload
    found = X_RAY_HEADER.fullmatch(header)
    assert found is not None
    trace_id, span_id = int(found[1] + found[2], 16), int(found[3], 16)
    [span] = [span for span in spans.get_finished_spans() if span.context.span_id == span_id]
    assert span.context.trace_id == trace_id
