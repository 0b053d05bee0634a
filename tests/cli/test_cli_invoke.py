"""``eventmesh invoke`` on MODULE:ATTRIBUTE meshes: the response on stdout, the function's log
on stderr, only the invocation asked for runs; and through a worker's AWS endpoint, signed."""

from __future__ import annotations

import io
import itertools
import os
import signal
import time
from pathlib import Path

import orjson
import pytest
from cli_support import Running, environment, eventmesh

from eventmesh.cli import main

APP = """\
from eventmesh import Mesh

mesh = Mesh()
calls = []
orders = mesh.queue("orders")

@mesh.function
async def hello(event, context):
    calls.append(event)
    print("hello from the handler")
    if event.get("fail"):
        raise ValueError("asked to fail")
    if event.get("resend"):
        await orders.send("again")  # a running mapping would deliver it: a second call
    return {"hi": event.get("name", "you")}

orders.subscribe(hello)
mesh.schedule("rate(1 minute)", hello, name="tick")
"""

_names = itertools.count()


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new module each test (imported modules are cached by name)."""
    for name in [name for name in os.environ if name.startswith("EVENTMESH_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    name = f"cli_invoke_app_{next(_names)}"
    (tmp_path / f"{name}.py").write_text(APP)
    return name


def _module(name: str) -> object:
    import sys

    return sys.modules[name]


def test_the_response_goes_to_stdout_and_the_log_with_prints_to_stderr(
    app: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b'{"name": "ann"}')))
    assert main(["invoke", "hello", f"{app}:mesh", "--event", "-"]) == 0
    out, err = capsys.readouterr()
    assert orjson.loads(out) == {"hi": "ann"}
    lines = err.splitlines()
    assert lines[0].startswith("START RequestId: ") and lines[0].endswith(" Version: $LATEST")
    assert lines[1] == "hello from the handler"
    assert lines[2].startswith("END RequestId: ")
    assert lines[3].startswith("REPORT RequestId: ")
    assert len(lines) == 4


def test_only_the_invocation_runs_no_mapping_no_schedule(
    app: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "event.json").write_text('{"resend": true}')
    assert main(["invoke", "hello", f"{app}:mesh", "--event", "event.json"]) == 0
    assert _module(app).calls == [{"resend": True}]  # type: ignore[attr-defined]


def test_a_function_error_prints_the_error_object_and_exits_1(
    app: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "event.json").write_text('{"fail": 1}')
    assert main(["invoke", "hello", f"{app}:mesh", "-e", "event.json"]) == 1
    error = orjson.loads(capsys.readouterr().out)
    assert error["errorMessage"] == "asked to fail"
    assert error["errorType"] == "ValueError"


def test_event_and_dry_run_invocations(app: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["invoke", "hello", f"{app}:mesh", "--invocation-type", "Event"]) == 0
    out, err = capsys.readouterr()
    answer = orjson.loads(out)
    assert answer["StatusCode"] == 202
    assert f"START RequestId: {answer['RequestId']} Version: $LATEST" in err.splitlines()
    assert main(["invoke", "hello", f"{app}:mesh", "--invocation-type", "DryRun"]) == 0
    out, err = capsys.readouterr()
    assert orjson.loads(out) == {"StatusCode": 204}
    assert "START" not in err


def test_an_arn_with_qualifier(app: str, capsys: pytest.CaptureFixture[str]) -> None:
    """An unqualified ARN takes --qualifier, as Invoke's Qualifier parameter takes it (any ARN
    was refused: 'give the qualifier once'); a qualified one refuses a second."""
    arn = "arn:aws:lambda:us-east-1:123456789012:function:hello"
    assert main(["invoke", arn, f"{app}:mesh", "--qualifier", "$LATEST"]) == 0
    assert orjson.loads(capsys.readouterr().out) == {"hi": "you"}
    assert main(["invoke", f"{arn}:1", f"{app}:mesh", "--qualifier", "$LATEST"]) == 2
    assert capsys.readouterr().err == (
        f"eventmesh: --qualifier $LATEST with {arn}:1: give the qualifier once\n"
    )


def test_an_event_invocation_by_arn(app: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A function's ARN names it for every invocation type (Event looked up a function named
    'arn')."""
    arn = "arn:aws:lambda:us-east-1:123456789012:function:hello"
    assert main(["invoke", arn, f"{app}:mesh", "--invocation-type", "Event"]) == 0
    out, err = capsys.readouterr()
    answer = orjson.loads(out)
    assert answer["StatusCode"] == 202
    assert f"START RequestId: {answer['RequestId']} Version: $LATEST" in err.splitlines()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["nope"], "eventmesh: no function 'nope' in {app}:mesh (its functions: hello)"),
        (
            ["hello", "--event", "missing.json"],
            "eventmesh: --event missing.json: No such file or directory",
        ),
        (
            ["hello:live", "--qualifier", "1"],
            "eventmesh: --qualifier 1 with hello:live: give the qualifier once",
        ),
        (["hello:9"], "eventmesh: invoking hello:9: function 'hello' has no version or alias '9'"),
    ],
)
def test_usage_errors_are_one_line(
    app: str, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    name, *rest = arguments
    status = main(["invoke", name, f"{app}:mesh", *rest])
    err = capsys.readouterr().err
    assert err == message.format(app=app) + "\n"
    assert status in (1, 2)


def test_an_unknown_function_by_arn_is_the_usage_error_a_name_is(
    app: str, capsys: pytest.CaptureFixture[str]
) -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:nope"
    assert main(["invoke", arn, f"{app}:mesh"]) == 2
    assert capsys.readouterr().err == (
        f"eventmesh: no function 'nope' in {app}:mesh (its functions: hello)\n"
    )


def test_an_event_that_is_not_json(
    app: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "event.json").write_text("{not json")
    assert main(["invoke", "hello", f"{app}:mesh", "--event", "event.json"]) == 2
    assert capsys.readouterr().err.startswith("eventmesh: --event event.json: not JSON: ")


def test_invoke_through_a_running_workers_aws_endpoint_signed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("botocore")
    (tmp_path / "endpoint_app.py").write_text(APP)
    worker = Running(
        "run", "endpoint_app:mesh", "--aws", "0", cwd=tmp_path,
        env=environment(EVENTMESH_AWS_CREDENTIALS="AKIDEXAMPLE:s3cr3t"),
    )  # fmt: skip
    try:
        line = worker.wait_for("AWS endpoint at ")
        endpoint = line.split("AWS endpoint at ")[1].split()[0]
        event = tmp_path / "event.json"
        event.write_text('{"name": "bo"}')
        signed = ["invoke", "hello", "--endpoint", endpoint, "--event", str(event)]
        assert main([*signed, "--aws-credentials", "AKIDEXAMPLE:s3cr3t"]) == 0
        out, err = capsys.readouterr()
        assert orjson.loads(out) == {"hi": "bo"}
        assert err.splitlines()[0].startswith("START RequestId: ")
        # (an in-process handler's print goes to the worker's own stdout: only a process
        # function's output is part of its invocation's log)
        assert err.splitlines()[1].startswith("END RequestId: ")
        assert err.splitlines()[-1].startswith("REPORT RequestId: ")
        assert main([*signed, "--aws-credentials", "AKIDEXAMPLE:wrong"]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"eventmesh: {endpoint}: 403 ")
        assert "s3cr3t" not in err and "wrong" not in err
        event.write_text('{"fail": true}')
        assert main([*signed, "--aws-credentials", "AKIDEXAMPLE:s3cr3t"]) == 1
        assert orjson.loads(capsys.readouterr().out)["errorMessage"] == "asked to fail"
    finally:
        assert worker.stop() == 0, "\n".join(worker.seen)


def test_an_endpoint_nobody_serves_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["invoke", "hello", "--endpoint", "http://127.0.0.1:9"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("eventmesh: http://127.0.0.1:9: cannot reach the endpoint (")
    assert len(err.splitlines()) == 1


def test_a_blocking_handler_that_times_out_does_not_hang_the_command(tmp_path: Path) -> None:
    """A plain def blocking past its timeout runs on in a thread nobody can stop: the command
    prints the timeout, says it does not wait for the thread, and exits (it hung at exit)."""
    (tmp_path / "stuck.py").write_text(
        "import time\n"
        "from eventmesh import Mesh\n"
        "mesh = Mesh()\n"
        "@mesh.function(timeout=1)\n"
        "def blocking(event, context):\n"
        "    time.sleep(3600)\n"
    )
    done = eventmesh("invoke", "blocking", "stuck:mesh", cwd=tmp_path)
    assert done.returncode == 1
    assert orjson.loads(done.stdout)["errorType"] == "Sandbox.Timedout"
    assert "exiting without waiting for" in done.stderr


@pytest.mark.parametrize("handler", ["async_slow", "sync_slow"])
def test_ctrl_c_stops_an_invocation_at_once(tmp_path: Path, handler: str) -> None:
    """Ctrl-C during the invocation ends the command at once, even while a plain def handler
    runs on in its thread (Python waited for it at exit)."""
    (tmp_path / "slowapp.py").write_text(
        "import asyncio, time\n"
        "from eventmesh import Mesh\n"
        "mesh = Mesh()\n"
        "@mesh.function(timeout=60)\n"
        "async def async_slow(event, context):\n"
        "    await asyncio.sleep(50)\n"
        "@mesh.function(timeout=60)\n"
        "def sync_slow(event, context):\n"
        "    time.sleep(50)\n"
    )
    started = time.monotonic()
    worker = Running("invoke", handler, "slowapp:mesh", cwd=tmp_path)
    worker.wait_for("START RequestId: ")
    status = worker.stop(signal.SIGINT, timeout=20)
    assert status == 130
    assert "eventmesh: interrupted" in worker.seen
    assert not any("Traceback" in line for line in worker.seen)
    assert time.monotonic() - started < 20
