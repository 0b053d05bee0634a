"""``eventmesh run template.yaml`` and ``eventmesh invoke`` on a SAM application whose function
runs in a process: real commands, real processes, the AWS endpoint driven by boto3."""

from __future__ import annotations

import re
import shutil
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from cli_support import Running, environment, eventmesh
from process_prefix import skip_if_hidden

pytestmark = skip_if_hidden

TEMPLATE = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Parameters:
  Greeting:
    Type: String
    Default: hello
Globals:
  Function:
    Timeout: 10
    Runtime: python3.12
    CodeUri: src/
Resources:
  Orders:
    Type: AWS::SQS::Queue
  GreetFunction:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: greet
      Handler: app.handler
      Environment:
        Variables:
          GREETING: !Ref Greeting
          ORDERS_URL: !Ref Orders
      Events:
        FromQueue:
          Type: SQS
          Properties:
            Queue: !GetAtt Orders.Arn
  Table:
    Type: AWS::DynamoDB::Table
Outputs:
  GreetArn:
    Value: !GetAtt GreetFunction.Arn
  Greeting:
    Value: !Ref Greeting
"""

HANDLER = """\
import os

def handler(event, context):
    if "Records" in event:
        print("from the queue:", event["Records"][0]["body"])
        return None
    print("got", event)
    if event.get("send"):  # through boto3, as on Lambda: the mesh's queue gets it
        import boto3
        sqs = boto3.client("sqs")
        sqs.send_message(QueueUrl=os.environ["ORDERS_URL"], MessageBody=event["send"])
        attributes = sqs.get_queue_attributes(
            QueueUrl=os.environ["ORDERS_URL"], AttributeNames=["ApproximateNumberOfMessages"]
        )
        return {"queued": attributes["Attributes"]["ApproximateNumberOfMessages"]}
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"greeting": os.environ["GREETING"], "event": event}
"""


@pytest.fixture(scope="module")
def app() -> Iterator[Path]:
    """The application's folder, outside /tmp (a process environment's /tmp is private)."""
    root = Path(tempfile.mkdtemp(prefix="eventmesh-cli-", dir="/var/tmp"))
    (root / "src").mkdir()
    (root / "template.yaml").write_text(TEMPLATE)
    (root / "src" / "app.py").write_text(textwrap.dedent(HANDLER))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_invoke_runs_the_function_by_logical_id_and_prints_response_and_log(app: Path) -> None:
    done = eventmesh("invoke", "GreetFunction", "--event", "-", cwd=app, stdin='{"name":"ann"}')
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout) == {"greeting": "hello", "event": {"name": "ann"}}
    assert done.stderr.splitlines()[0].startswith("START RequestId: ")
    assert "got {'name': 'ann'}" in done.stderr.splitlines()
    assert done.stderr.splitlines()[-1].startswith("REPORT RequestId: ")
    assert "Init Duration" in done.stderr.splitlines()[-1]  # a cold start


def test_invoke_by_name_with_overrides_and_a_failure_exits_1(app: Path, tmp_path: Path) -> None:
    (tmp_path / "event.json").write_text('{"fail": true}')
    done = eventmesh(
        "invoke",
        "greet",
        "--template",
        str(app / "template.yaml"),
        "--event",
        str(tmp_path / "event.json"),
        "--parameter-overrides",
        "Greeting=hi",
        cwd=tmp_path,
    )
    assert done.returncode == 1
    error = orjson.loads(done.stdout)
    assert error["errorMessage"] == "asked to fail"
    assert error["errorType"] == "ValueError"
    assert "got {'fail': True}" in done.stderr


def test_invoke_in_process_gives_the_handlers_sdk_the_mesh(app: Path) -> None:
    """A handler's boto3 call reaches the mesh's queue (not AWS), as the README says: what the
    invocation causes still happens; the queue's mapping does not run, so the message waits."""
    pytest.importorskip("boto3")
    done = eventmesh("invoke", "greet", "--event", "-", cwd=app, stdin='{"send": "tea"}')
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout) == {"queued": "1"}
    assert "from the queue" not in done.stderr


def test_invoke_of_an_unknown_function_lists_the_functions(app: Path) -> None:
    done = eventmesh("invoke", "Nope", cwd=app)
    assert done.returncode == 2
    assert done.stderr == "eventmesh: no function 'Nope' in template.yaml (its functions: greet)\n"


def test_run_says_what_runs_delivers_from_the_queue_and_answers_invoke_endpoint(
    app: Path,
) -> None:
    boto3 = pytest.importorskip("boto3")
    worker = Running("run", "--http", "0", "--aws", "0", cwd=app)
    try:
        worker.wait_for("output Greeting: hello")
        lines = [line.split(": ", 1)[1] for line in worker.seen if ": " in line]
        assert (
            lines.count("template.yaml: not emulated, left out: Table (AWS::DynamoDB::Table)") == 1
        )
        assert f"function greet: app.handler in {app / 'src'}" in lines
        assert "queue Orders -> greet" in lines  # its SQS event: a mapping
        assert "output GreetArn: arn:aws:lambda:us-east-1:123456789012:function:greet" in lines
        endpoint = next(
            line.split("AWS endpoint at ")[1].split()[0]
            for line in worker.seen
            if "AWS endpoint at " in line
        )
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", endpoint)
        sqs = boto3.client(
            "sqs",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        url = sqs.get_queue_url(QueueName="Orders")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="order 42")
        worker.wait_for("from the queue: order 42")
        done = eventmesh(
            "invoke",
            "greet",
            "--endpoint",
            endpoint,
            "--event",
            "-",
            cwd=app,
            stdin='{"name":"ann"}',
        )
        assert done.returncode == 0, done.stderr
        assert orjson.loads(done.stdout) == {"greeting": "hello", "event": {"name": "ann"}}
        log = done.stderr.splitlines()  # Lambda's LogResult, decoded
        assert log[0].startswith("START RequestId: ")
        assert "got {'name': 'ann'}" in log
        assert log[-1].startswith("REPORT RequestId: ")
        # By logical id, beside template.yaml (not named): the template maps it to greet, as
        # it does for an invocation in process.
        done = eventmesh("invoke", "GreetFunction", "--endpoint", endpoint, cwd=app)
        assert done.returncode == 0, done.stderr
        assert orjson.loads(done.stdout) == {"greeting": "hello", "event": {}}
    finally:
        status = worker.stop()
    assert status == 0
    assert worker.seen[-1].endswith("stopped")


def test_run_with_workers_gives_each_worker_the_template_and_its_options(app: Path) -> None:
    worker = Running(
        "run",
        "template.yaml",
        "--workers",
        "2",
        "--storage",
        f"sqlite:///{app / 'workers.db'}",
        "--parameter-overrides",
        "Greeting=hey",
        "--log-format",
        "json",
        cwd=app,
    )
    try:
        worker.wait_for("output Greeting: hey")
        worker.wait_for("output Greeting: hey")
    finally:
        status = worker.stop()
    assert status == 0
    records = [orjson.loads(line) for line in worker.seen]  # every line is JSON, workers' too
    assert (
        sum(
            record["message"].startswith("worker ") and "started" in record["message"]
            for record in records
        )
        == 2
    )
    outputs = [r for r in records if r["message"] == "output Greeting: hey"]
    assert len(outputs) == 2
    assert {r["logger"] for r in outputs} == {"eventmesh"} and outputs[0]["level"] == "INFO"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", outputs[0]["time"])


def test_workers_get_parameter_values_and_storage_through_their_environment(app: Path) -> None:
    """A worker's command line is readable by every user of the machine (ps): parameter values
    (NoEcho passwords) and the storage URL (a Redis password) reach the workers through the
    environment, which only their owner reads, not through their arguments."""
    storage = f"sqlite:///{app / 'private.db'}"
    worker = Running(
        "run",
        "template.yaml",
        "--workers",
        "2",
        cwd=app,
        env=environment(
            EVENTMESH_PARAMETER_OVERRIDES="Greeting=s3cret-value", EVENTMESH_STORAGE=storage
        ),
    )
    try:
        started = [worker.wait_for("worker 1 started"), worker.wait_for("worker 2 started")]
        worker.wait_for("output Greeting: s3cret-value")
        worker.wait_for("output Greeting: s3cret-value")
        pids = [int(re.search(r"pid (\d+)", line).group(1)) for line in started]  # type: ignore[union-attr]
        command_lines = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in pids]
    finally:
        status = worker.stop()
    assert status == 0
    for command_line in command_lines:
        assert b"template.yaml" in command_line
        assert b"s3cret-value" not in command_line and b"private.db" not in command_line
