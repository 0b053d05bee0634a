"""AWS::Lambda::Function from a SAM template, run: every property honoured, seen from inside
the function (one running application for the module: each cold start is a real process)."""

from __future__ import annotations

import asyncio
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from process_prefix import skip_if_hidden

from eventmesh import Mesh, Queue, Telemetry, TooManyRequestsError
from eventmesh.process.sandbox import detect_mechanisms
from eventmesh.sam import Application, load_template
from tests.sam.lambda_support import template_folder

pytestmark = [skip_if_hidden, pytest.mark.asyncio(loop_scope="module")]

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String, Default: prod}
Globals:
  Function:
    Runtime: python3.12
    Environment:
      Variables:
        STAGE: !Ref Stage
Resources:
  Helpers:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layer/
  Source:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: source_layer/
    Metadata:
      BuildMethod: python3.12
  Env:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: env-reader
      Handler: app.handler
      CodeUri: env/
      MemorySize: 256
      EphemeralStorage: {Size: 1024}
      Layers: [!Ref Helpers, !Ref Source]
      Architectures: [arm64]
      Tracing: Active
      Tags: {team: orders}
      Environment:
        Variables:
          COUNT: 5
          FLAG: true
          RATIO: 1.5
  Slow:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      CodeUri: slow/
      Timeout: 1
      ReservedConcurrentExecutions: 1
  Failing:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      CodeUri: failing/
      DeadLetterQueue:
        Type: SQS
        TargetArn: arn:aws:sqs:us-east-1:123456789012:kind-function-dlq
      EventInvokeConfig:
        MaximumRetryAttempts: 0
        DestinationConfig:
          OnSuccess:
            Type: SQS
            Destination: arn:aws:sqs:us-east-1:123456789012:kind-function-ok
          OnFailure:
            Type: SQS
            Destination: arn:aws:sqs:us-east-1:123456789012:kind-function-failed
  Inline:
    Type: AWS::Serverless::Function
    Properties:
      Handler: index.handler
      InlineCode: |
        import os
        def handler(event, context):
            return {"inline": event["n"] * 2, "cwd": os.getcwd()}
  Custom:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: provided.al2023
      Handler: my.handler
      CodeUri: custom/
      Layers: [!Ref Helpers]
  Zipped:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      CodeUri: zipped.zip
  Node:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: nodejs20.x
      Handler: index.handler
      CodeUri: env/
Outputs:
  EnvName: {Value: !Ref Env}
  EnvArn: {Value: !GetAtt Env.Arn}
  LayerArn: {Value: !Ref Helpers}
"""

ENV_APP = """\
import os
import helper
import srclib

def handler(event, context):
    stat = os.statvfs("/tmp")
    return {
        "variables": {k: os.environ.get(k) for k in ("STAGE", "COUNT", "FLAG", "RATIO")},
        "memory": context.memory_limit_in_mb,
        "memory_variable": os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"],
        "name": context.function_name,
        "helper": helper.WHO,
        "srclib": srclib.WHO,
        "tmp_mb": stat.f_blocks * stat.f_frsize // (1024 * 1024),
    }
"""

# A shell custom runtime (the loop of Lambda's tutorial) that answers with what the layer's
# bin/ tool prints: a layer's own folders reach a provided runtime as /opt/bin does on Lambda.
BOOTSTRAP = """\
#!/bin/sh
set -eu
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
HEADERS="$(mktemp)"
while true; do
  EVENT=$(curl -sS -D "$HEADERS" "$API/invocation/next")
  ID=$(grep -i '^lambda-runtime-aws-request-id:' "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  TOOL=$(layer-tool)
  curl -sS -o /dev/null -X POST \\
    -d "{\\"handler\\":\\"$_HANDLER\\",\\"tool\\":\\"$TOOL\\",\\"event\\":$EVENT}" \\
    "$API/invocation/$ID/response"
done
"""

FILES = {
    "template.yaml": TEMPLATE,
    "layer/python/helper.py": 'WHO = "the layer"\n',
    "layer/bin/layer-tool": "#!/bin/sh\necho layer-tool-ran\n",
    # A layer of Python source, as sam build builds it (BuildMethod): laid out as python/.
    "source_layer/srclib.py": 'WHO = "the source layer"\n',
    "source_layer/requirements.txt": "",
    "env/app.py": ENV_APP,
    # A bootstrap beside a python3.x function's code: the Runtime decides, Python runs.
    "env/bootstrap": "#!/bin/sh\nexit 3\n",
    "slow/app.py": "import time\n\ndef handler(event, context):\n    time.sleep(event)\n"
    "    return 'done'\n",
    "failing/app.py": "def handler(event, context):\n    if event.get('fail'):\n"
    "        raise ValueError('asked to fail')\n    return {'ok': event}\n",
    "custom/bootstrap": BOOTSTRAP,
}


class App:
    def __init__(self, application: Application, folder: Path) -> None:
        self.application = application
        self.mesh = application.mesh
        self.folder = folder

    def queue(self, name: str) -> Queue:
        found = self.mesh.context.find_resource(name)
        assert isinstance(found, Queue)
        return found


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with template_folder(FILES) as root:
        with zipfile.ZipFile(root / "zipped.zip", "w") as archive:
            archive.writestr("app.py", "def handler(event, context):\n    return 'zipped'\n")
        yield root


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def app(folder: Path) -> AsyncIterator[App]:
    mesh = Mesh(telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    for name in ("kind-function-dlq", "kind-function-ok", "kind-function-failed"):
        mesh.queue(name)
    application = load_template(folder / "template.yaml", mesh=mesh)
    async with mesh:
        yield App(application, folder)


async def receive_one(queue: Queue, timeout: float = 10.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        messages = await queue.receive(max_messages=1, wait=0.2)
        if messages:
            await queue.delete(messages[0].receipt_handle)
            return messages[0].json()
    raise AssertionError(f"nothing reached {queue.name} in {timeout} s")


async def test_environment_memory_layer_and_storage_seen_by_the_handler(app: App) -> None:
    result = await app.mesh.invoke("env-reader", {})
    assert result.function_error is None, result.payload
    payload = result.payload
    # Numbers and booleans become strings, as CloudFormation passes them; Globals merged.
    assert payload["variables"] == {"STAGE": "prod", "COUNT": "5", "FLAG": "true", "RATIO": "1.5"}
    assert payload["memory"] == "256"
    assert payload["memory_variable"] == "256"
    assert payload["name"] == "env-reader"
    assert payload["helper"] == "the layer"
    assert payload["srclib"] == "the source layer"
    if detect_mechanisms().tmp != "tmpdir":  # a /tmp of the ephemeral storage's size
        assert 900 <= payload["tmp_mb"] <= 1024


async def test_ref_and_getatt_of_a_function_and_a_layer(app: App) -> None:
    outputs = app.application.outputs
    assert outputs["EnvName"] == "env-reader"
    assert outputs["EnvArn"] == "arn:aws:lambda:us-east-1:123456789012:function:env-reader"
    assert outputs["LayerArn"] == "arn:aws:lambda:us-east-1:123456789012:layer:Helpers:1"


async def test_defaults_timeout_3_and_memory_128(app: App) -> None:
    config = app.mesh.get_function("Failing").config
    assert (config.timeout, config.memory, config.ephemeral_storage) == (3, 128, 512)


async def test_a_timeout_kills_and_reserved_concurrency_throttles(app: App) -> None:
    slow = asyncio.create_task(app.mesh.invoke("Slow", 3))
    await asyncio.sleep(0.05)
    with pytest.raises(TooManyRequestsError) as throttled:
        await app.mesh.invoke("Slow", 0)
    assert throttled.value.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
    result = await slow
    assert result.function_error == "Unhandled"
    assert "Task timed out after 1.00 seconds" in result.payload["errorMessage"]


async def test_inline_code_runs_from_the_templates_folder(app: App) -> None:
    result = await app.mesh.invoke("Inline", {"n": 21})
    assert result.payload == {
        "inline": 42,
        "cwd": str(app.folder.resolve() / ".eventmesh" / "inline" / "Inline"),
    }


async def test_a_zip_deployment_package_runs_extracted(app: App) -> None:
    result = await app.mesh.invoke("Zipped", {})
    assert result.payload == "zipped"


async def test_a_provided_runtime_runs_its_bootstrap_with_the_layers_bin_on_path(
    app: App,
) -> None:
    result = await app.mesh.invoke("Custom", {"k": 1})
    assert result.payload == {"handler": "my.handler", "tool": "layer-tool-ran", "event": {"k": 1}}


async def test_a_failed_event_reaches_the_dead_letter_queue_and_on_failure(app: App) -> None:
    await app.mesh.invoke("Failing", {"fail": True}, "Event")
    dead = await receive_one(app.queue("kind-function-dlq"))
    assert dead == {"fail": True}
    record = await receive_one(app.queue("kind-function-failed"))
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 1  # MaximumRetryAttempts 0
    assert record["responsePayload"]["errorMessage"] == "asked to fail"


async def test_a_successful_event_reaches_on_success(app: App) -> None:
    await app.mesh.invoke("Failing", {"fail": False}, "Event")
    record = await receive_one(app.queue("kind-function-ok"))
    assert record["requestContext"]["condition"] == "Success"
    assert record["responsePayload"] == {"ok": {"fail": False}}


async def test_a_runtime_that_does_not_run_locally_is_a_stand_in_with_a_warning(
    app: App,
) -> None:
    assert any(
        "Resources.Node" in line and "nodejs20.x does not run locally" in line
        for line in app.application.warnings
    )
    result = await app.mesh.invoke("Node", {})
    assert result.function_error == "Unhandled"
    assert result.payload["errorType"] == "RuntimeUnavailable"
    assert "nodejs20.x" in result.payload["errorMessage"]


async def test_metadata_properties_are_ignored_quietly(app: App) -> None:
    assert not any("Resources.Env " in line for line in app.application.warnings)
