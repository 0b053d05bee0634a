"""AWS::Lambda::Version, Alias and EventInvokeConfig from templates, run: SAM's
AutoPublishAlias (a version, an alias, provisioned concurrency on it, event invoke settings
for it), weighted routing reproducible with the mesh's seed, a plain CloudFormation template's
versions and its function destination. One running mesh for the module."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from process_prefix import skip_if_hidden

from eventmesh import Mesh, Queue, Telemetry
from eventmesh.sam import Application, build_application, load_template
from tests.sam.lambda_support import template_folder

pytestmark = [skip_if_hidden, pytest.mark.asyncio(loop_scope="module")]

SEED = 20261207
ARN = "arn:aws:lambda:us-east-1:123456789012:function:"

SAM_TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Api:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      CodeUri: api/
      AutoPublishAlias: live
      ProvisionedConcurrencyConfig: {ProvisionedConcurrentExecutions: 1}
      EventInvokeConfig:
        MaximumRetryAttempts: 0
        MaximumEventAgeInSeconds: 120
        DestinationConfig:
          OnSuccess:
            Type: SQS
            Destination: arn:aws:sqs:us-east-1:123456789012:versions-ok
Outputs:
  AliasArn: {Value: !Ref Api.Alias}
  VersionArn: {Value: !Ref Api.Version}
"""

API_APP = """\
import os

def handler(event, context):
    return {"version": context.function_version, "tag": os.environ.get("TAG", "one")}
"""

PLAIN_TEMPLATE = {
    "Resources": {
        "Worker": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "FunctionName": "plain-worker",
                "Runtime": "python3.12",
                "Handler": "app.handler",
                "Code": "worker/",
            },
        },
        "Audit": {
            "Type": "AWS::Lambda::Function",
            "Properties": {"Runtime": "python3.12", "Handler": "app.handler", "Code": "audit/"},
        },
        "WorkerVersion": {
            "Type": "AWS::Lambda::Version",
            "Properties": {"FunctionName": {"Ref": "Worker"}, "Description": "first"},
        },
        "WorkerAlias": {
            "Type": "AWS::Lambda::Alias",
            "Properties": {
                "FunctionName": {"Fn::GetAtt": ["Worker", "Arn"]},
                "FunctionVersion": {"Fn::GetAtt": ["WorkerVersion", "Version"]},
                "Name": "prod",
            },
        },
        "WorkerInvokeConfig": {
            "Type": "AWS::Lambda::EventInvokeConfig",
            "Properties": {
                "FunctionName": {"Ref": "Worker"},
                "Qualifier": "$LATEST",
                "MaximumRetryAttempts": 0,
                "DestinationConfig": {
                    "OnFailure": {"Destination": {"Fn::GetAtt": ["Audit", "Arn"]}}
                },
            },
        },
    },
    "Outputs": {
        "VersionRef": {"Value": {"Ref": "WorkerVersion"}},
        "Version": {"Value": {"Fn::GetAtt": ["WorkerVersion", "Version"]}},
        "FunctionArn": {"Value": {"Fn::GetAtt": ["WorkerVersion", "FunctionArn"]}},
        "AliasRef": {"Value": {"Ref": "WorkerAlias"}},
    },
}

FILES = {
    "template.yaml": SAM_TEMPLATE,
    "api/app.py": API_APP,
    "worker/app.py": "def handler(event, context):\n    raise RuntimeError('worker failed')\n",
    "audit/app.py": "def handler(event, context):\n    return None\n",
}


class App:
    def __init__(self, mesh: Mesh, sam: Application, plain: Application, folder: Path) -> None:
        self.mesh = mesh
        self.sam = sam
        self.plain = plain
        self.folder = folder


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with template_folder(FILES) as root:
        yield root


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def app(folder: Path) -> AsyncIterator[App]:
    mesh = Mesh(telemetry=Telemetry(enabled=False), drain_timeout=2.0, seed=SEED)
    mesh.queue("versions-ok")
    sam = load_template(folder / "template.yaml", mesh=mesh)
    plain = build_application(PLAIN_TEMPLATE, mesh=mesh, template_dir=folder)
    async with mesh:
        yield App(mesh, sam, plain, folder)


async def eventually(check: Any, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, f"not true after {timeout} s"
        await asyncio.sleep(0.02)


async def test_auto_publish_alias_is_a_version_and_an_alias(app: App) -> None:
    assert app.sam.outputs == {
        "AliasArn": ARN + "Api:live",
        "VersionArn": ARN + "Api:1",
    }
    api = app.mesh.get_function("Api")
    assert list(api.versions) == ["1"]
    assert api.aliases["live"].version == "1"


async def test_provisioned_concurrency_on_the_alias_is_warm_at_start(app: App) -> None:
    result = await app.mesh.invoke("Api:live", {})
    assert result.payload == {"version": "1", "tag": "one"}
    assert result.cold_start is False  # initialised when the mesh started


async def test_event_invoke_config_applies_to_the_alias(app: App) -> None:
    api = app.mesh.get_function("Api")
    assert api.latest.config.retries == 2  # the unqualified name keeps Lambda's defaults
    assert api.latest.config.on_success is None
    await app.mesh.invoke("Api:live", {"n": 1}, "Event")
    queue = app.mesh.context.find_resource("versions-ok")
    assert isinstance(queue, Queue)
    messages = await queue.receive(wait=10)
    record = messages[0].json()
    assert record["requestContext"]["functionArn"] == ARN + "Api:live"
    assert record["requestContext"]["condition"] == "Success"
    assert record["responseContext"]["executedVersion"] == "1"


async def test_weighted_routing_is_reproducible_with_the_meshs_seed(app: App) -> None:
    api = app.mesh.get_function("Api")
    api.update_configuration(environment={"TAG": "two"})
    assert api.publish_version().version == "2"
    canary = {
        "Resources": {
            "Canary": {
                "Type": "AWS::Lambda::Alias",
                "Properties": {
                    "FunctionName": "Api",
                    "FunctionVersion": "1",
                    "Name": "canary",
                    "RoutingConfig": {
                        "AdditionalVersionWeights": [
                            {"FunctionVersion": "2", "FunctionWeight": 0.25}
                        ]
                    },
                },
            }
        },
        "Outputs": {"Arn": {"Value": {"Ref": "Canary"}}},
    }
    built = build_application(canary, mesh=app.mesh, stack_name="canary")
    assert built.outputs == {"Arn": ARN + "Api:canary"}
    ran = []
    for _ in range(40):
        result = await app.mesh.invoke("Api:canary", {})
        assert result.payload["tag"] == {"1": "one", "2": "two"}[result.executed_version]
        ran.append(result.executed_version)
    # The alias's choice is the mesh's random.Random(seed): only the aliases draw from it
    # here, so the sequence is the seed's.
    draws = random.Random(SEED)
    assert ran == ["2" if draws.random() < 0.25 else "1" for _ in range(40)]
    assert 4 <= ran.count("2") <= 18


async def test_a_plain_templates_version_alias_and_outputs(app: App) -> None:
    assert app.plain.outputs == {
        "VersionRef": ARN + "plain-worker:1",
        "Version": "1",
        "FunctionArn": ARN + "plain-worker",
        "AliasRef": ARN + "plain-worker:prod",
    }


async def test_latest_event_invoke_config_sends_failures_to_a_function(app: App) -> None:
    worker = app.mesh.get_function("plain-worker")
    assert worker.latest.config.retries == 0
    assert worker.versions["1"].config.retries == 2  # published before the config, as on AWS
    audit = app.mesh.get_function("Audit")
    await app.mesh.invoke("plain-worker", {"job": 1}, "Event")
    await eventually(lambda: audit.stats.invocations == 1)
    assert worker.stats.invocations == 1  # MaximumRetryAttempts 0
