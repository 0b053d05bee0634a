"""Process environments, with real processes running AWS's runtime interface client: a
handler written for Lambda runs unchanged; cold and warm starts; timeouts, crashes, kills and
init errors as Lambda reports them; the environment's variables."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

import pytest
from process_helpers import CodeDir, alive, eventually

from eventmesh import Mesh

CONTEXT_APP = """
    import os

    STREAM = os.environ["STREAM_NAME"]  # read at import time, as many handlers do

    def lambda_handler(event, context):
        return {
            "event": event,
            "pid": os.getpid(),
            "stream": STREAM,
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "aws_request_id": context.aws_request_id,
            "remaining": context.get_remaining_time_in_millis(),
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "cwd": os.getcwd(),
            "environ": dict(os.environ),
        }
"""


async def test_a_lambda_handler_runs_unchanged_and_sees_lambdas_context(
    mesh: Mesh, code_dir: CodeDir
) -> None:
    code = code_dir(app=CONTEXT_APP)
    mesh.function(
        name="charge",
        handler="app.lambda_handler",
        code=code,
        memory=256,
        timeout=30,
        environment={"STREAM_NAME": "orders"},
    )
    async with mesh:
        result = await mesh.invoke("charge", {"order": 7})
    assert result.function_error is None, result.payload
    out = result.payload
    assert out["event"] == {"order": 7}
    assert out["pid"] != os.getpid()
    assert out["stream"] == "orders"
    assert out["function_name"] == "charge"
    assert out["function_version"] == "$LATEST"
    assert out["invoked_function_arn"] == "arn:aws:lambda:us-east-1:123456789012:function:charge"
    assert out["aws_request_id"] == result.request_id
    assert 20_000 < out["remaining"] <= 30_000
    assert out["memory_limit_in_mb"] == "256"  # awslambdaric's context gives the string
    assert out["log_group_name"] == "/aws/lambda/charge"
    assert out["log_stream_name"].startswith("[$LATEST]")
    assert out["cwd"] == str(code.resolve())


async def test_the_process_gets_lambdas_reserved_variables_and_not_the_meshs_environment(
    mesh: Mesh, code_dir: CodeDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTMESH_TEST_SECRET", "not for handlers")
    code = code_dir(app=CONTEXT_APP)
    mesh.function(
        name="charge",
        handler="app.lambda_handler",
        code=code,
        memory=512,
        environment={"STREAM_NAME": "orders", "TZ": "Europe/Paris"},
    )
    async with mesh:
        result = await mesh.invoke("charge", {})
    environ = result.payload["environ"]
    assert environ["_HANDLER"] == "app.lambda_handler"
    assert environ["AWS_REGION"] == "us-east-1"
    assert environ["AWS_DEFAULT_REGION"] == "us-east-1"
    assert environ["AWS_EXECUTION_ENV"].startswith("AWS_Lambda_python3.")
    assert environ["AWS_LAMBDA_FUNCTION_NAME"] == "charge"
    assert environ["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "512"
    assert environ["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert environ["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/charge"
    assert environ["AWS_LAMBDA_LOG_STREAM_NAME"] == result.payload["log_stream_name"]
    host, port = environ["AWS_LAMBDA_RUNTIME_API"].split(":")
    assert host == "127.0.0.1" and int(port) > 0
    assert environ["LAMBDA_TASK_ROOT"] == str(code.resolve())
    assert environ["LAMBDA_RUNTIME_DIR"]
    assert environ["TZ"] == "Europe/Paris"  # TZ is not reserved: the function may set it
    assert environ["LANG"] == "en_US.UTF-8"
    assert environ["AWS_ACCESS_KEY_ID"] == "testing"
    assert environ["AWS_SECRET_ACCESS_KEY"] == "testing"
    assert environ["AWS_SESSION_TOKEN"] == "testing"
    assert "AWS_ENDPOINT_URL" not in environ
    assert "EVENTMESH_TEST_SECRET" not in environ


async def test_tz_defaults_to_utc(mesh: Mesh, code_dir: CodeDir) -> None:
    code = code_dir(app=CONTEXT_APP)
    mesh.function(
        name="f", handler="app.lambda_handler", code=code, environment={"STREAM_NAME": "s"}
    )
    async with mesh:
        result = await mesh.invoke("f", {})
    assert result.payload["environ"]["TZ"] == ":UTC"


async def test_cold_then_warm_in_the_same_process_init_duration_only_first(
    mesh: Mesh, code_dir: CodeDir, caplog: pytest.LogCaptureFixture
) -> None:
    code = code_dir(app=CONTEXT_APP)
    mesh.function(
        name="f", handler="app.lambda_handler", code=code, environment={"STREAM_NAME": "s"}
    )
    caplog.set_level(logging.INFO, logger="eventmesh.invocations")
    async with mesh:
        first = await mesh.invoke("f", {"n": 1})
        second = await mesh.invoke("f", {"n": 2})
    assert first.cold_start and first.init_duration_ms is not None
    assert first.init_duration_ms > 0
    assert not second.cold_start and second.init_duration_ms is None
    assert first.payload["pid"] == second.payload["pid"]
    reports = [r.getMessage() for r in caplog.records if r.getMessage().startswith("REPORT")]
    assert len(reports) == 2
    assert "Init Duration" in reports[0]
    assert "Init Duration" not in reports[1]


TIMEOUT_APP = """
    import os, time

    def lambda_handler(event, context):
        if event.get("sleep"):
            time.sleep(event["sleep"])
        return os.getpid()
"""


async def test_a_timeout_kills_the_process_and_the_next_call_gets_a_new_one(
    mesh: Mesh, code_dir: CodeDir
) -> None:
    code = code_dir(app=TIMEOUT_APP)
    mesh.function(name="slow", handler="app.lambda_handler", code=code, timeout=1)
    async with mesh:
        first = await mesh.invoke("slow", {})
        timed_out = await mesh.invoke("slow", {"sleep": 30})
        assert timed_out.function_error == "Unhandled"
        assert timed_out.payload == {
            "errorMessage": (
                f"RequestId: {timed_out.request_id} Error: Task timed out after 1.00 seconds"
            ),
            "errorType": "Sandbox.Timedout",
            "stackTrace": [],
        }
        await eventually(lambda: not alive(first.payload))
        after = await mesh.invoke("slow", {})
    assert after.cold_start
    assert after.payload != first.payload


CRASH_APP = """
    import os, sys

    def lambda_handler(event, context):
        if event.get("exit") is not None:
            sys.exit(event["exit"])
        if event.get("hard_exit") is not None:
            os._exit(event["hard_exit"])
        return os.getpid()
"""


@pytest.mark.parametrize(
    ("event", "description"),
    [
        ({"exit": 3}, "exit status 3"),
        ({"hard_exit": 7}, "exit status 7"),
    ],
)
async def test_a_runtime_that_exits_is_a_runtime_exit_error_and_the_next_call_is_cold(
    mesh: Mesh, code_dir: CodeDir, event: dict[str, int], description: str
) -> None:
    code = code_dir(app=CRASH_APP)
    mesh.function(name="crash", handler="app.lambda_handler", code=code, timeout=30)
    async with mesh:
        before = await mesh.invoke("crash", {})
        crashed = await mesh.invoke("crash", event)
        after = await mesh.invoke("crash", {})
    assert crashed.function_error == "Unhandled"
    assert crashed.payload == {
        "errorMessage": (
            f"RequestId: {crashed.request_id} Error: Runtime exited with error: {description}"
        ),
        "errorType": "Runtime.ExitError",
    }
    assert after.function_error is None
    assert after.cold_start
    assert after.payload != before.payload


KILLED_APP = """
    import os, time

    def lambda_handler(event, context):
        with open(event["pid_file"], "w") as out:
            out.write(str(os.getpid()))
        time.sleep(60)
"""


async def test_an_environment_killed_mid_invocation_is_a_crash(
    mesh: Mesh, code_dir: CodeDir
) -> None:
    code = code_dir(app=KILLED_APP)
    mesh.function(name="victim", handler="app.lambda_handler", code=code, timeout=60)
    pid_file = code / "pid"  # not under /tmp: the process has a private one
    async with mesh:
        call = asyncio.create_task(mesh.invoke("victim", {"pid_file": str(pid_file)}))
        await eventually(lambda: pid_file.exists() and pid_file.read_text() != "")
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
        result = await asyncio.wait_for(call, 30)
    assert result.payload == {
        "errorMessage": (
            f"RequestId: {result.request_id} Error: Runtime exited with error: signal: killed"
        ),
        "errorType": "Runtime.ExitError",
    }


async def test_an_import_error_is_lambdas_init_error_and_init_runs_again(
    mesh: Mesh, code_dir: CodeDir
) -> None:
    code = code_dir(app="import not_installed_anywhere\n")
    function = mesh.function(name="broken", handler="app.lambda_handler", code=code)
    async with mesh:
        first = await mesh.invoke("broken", {})
        second = await mesh.invoke("broken", {})
    expected = {
        "errorMessage": ("Unable to import module 'app': No module named 'not_installed_anywhere'"),
        "errorType": "Runtime.ImportModuleError",
        "requestId": "",
        "stackTrace": [],
    }
    assert first.function_error == "Unhandled"
    assert first.payload == expected
    assert second.payload == expected
    assert first.cold_start and second.cold_start  # the environment was not kept
    assert function.stats.cold_starts == 2


async def test_a_missing_handler_is_lambdas_handler_not_found(
    mesh: Mesh, code_dir: CodeDir
) -> None:
    code = code_dir(app="def other(event, context):\n    return 1\n")
    mesh.function(name="broken", handler="app.lambda_handler", code=code)
    async with mesh:
        result = await mesh.invoke("broken", {})
    assert result.payload == {
        "errorMessage": "Handler 'lambda_handler' missing on module 'app'",
        "errorType": "Runtime.HandlerNotFound",
        "requestId": "",
        "stackTrace": [],
    }


async def test_a_handler_exception_is_the_runtimes_error_object_verbatim(
    mesh: Mesh, code_dir: CodeDir
) -> None:
    code = code_dir(
        app="""
        import os

        def lambda_handler(event, context):
            if event.get("fail"):
                raise ValueError("card declined")
            return os.getpid()
        """
    )
    mesh.function(name="charge", handler="app.lambda_handler", code=code)
    async with mesh:
        before = await mesh.invoke("charge", {})
        failed = await mesh.invoke("charge", {"fail": True})
        after = await mesh.invoke("charge", {})
    assert failed.function_error == "Unhandled"
    error = failed.payload
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "card declined"
    assert error["requestId"] == failed.request_id  # awslambdaric's field, kept
    assert len(error["stackTrace"]) == 1
    assert 'app.py", line 5, in lambda_handler' in error["stackTrace"][0]
    assert after.payload == before.payload  # an exception keeps the environment warm
    assert not after.cold_start


async def test_the_process_output_goes_to_the_log_with_the_request_id(
    mesh: Mesh, code_dir: CodeDir, caplog: pytest.LogCaptureFixture
) -> None:
    code = code_dir(
        app="""
        import os, sys

        print("loaded")

        def lambda_handler(event, context):
            print("handling", event["n"])
            if event.get("exit"):
                sys.stdout.write("no newline at the end")
                sys.stdout.flush()
                os._exit(1)
        """
    )
    mesh.function(name="talk", handler="app.lambda_handler", code=code)
    caplog.set_level(logging.INFO, logger="eventmesh.invocations")
    async with mesh:
        result = await mesh.invoke("talk", {"n": 1})
        crashed = await mesh.invoke("talk", {"n": 2, "exit": True})

    def lines() -> list[tuple[str, str | None]]:
        return [
            (record.getMessage(), getattr(record, "request_id", None))
            for record in caplog.records
            if getattr(record, "phase", None) == "OUTPUT"
        ]

    await eventually(lambda: ("no newline at the end", crashed.request_id) in lines())
    assert ("loaded", None) in lines()
    assert ("handling 1", result.request_id) in lines()
    assert ("handling 2", crashed.request_id) in lines()
    assert all(
        getattr(r, "function_name", None) == "talk"
        for r in caplog.records
        if getattr(r, "phase", None) == "OUTPUT"
    )


async def test_an_init_past_ten_seconds_is_stopped_and_its_process_killed(
    mesh: Mesh, code_dir: CodeDir
) -> None:
    code = code_dir(
        app="""
        import os, time

        with open(os.path.join(os.path.dirname(__file__), "pid"), "w") as out:
            out.write(str(os.getpid()))
        time.sleep(300)  # an import that never ends

        def lambda_handler(event, context):
            return 1
        """
    )
    mesh.function(name="stuck", handler="app.lambda_handler", code=code, timeout=60)
    async with mesh:
        result = await mesh.invoke("stuck", {})
        pid = int((code / "pid").read_text())
        await eventually(lambda: not alive(pid))
    assert result.function_error == "Unhandled"
    assert result.payload["errorType"] == "Sandbox.Timedout"
    assert result.payload["errorMessage"].endswith("Task timed out after 10.00 seconds")
    assert result.init_duration_ms is not None and result.init_duration_ms >= 10_000
