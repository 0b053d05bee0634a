"""Lambda through boto3 against the endpoint: Invoke's documented answers (status codes,
X-Amz-Function-Error, X-Amz-Log-Result, X-Amz-Executed-Version, 429 and 413), function
descriptions, versions, aliases with routing, event source mappings, and a chain of
functions invoking each other through boto3."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from process_prefix import hidden_python_environment

from eventmesh import Mesh, Telemetry
from eventmesh._aws_credentials import AwsCredentials
from tests.aws.conftest import KEY, SECRET, AsyncClient, AwsEndpoint

Client = Callable[..., AsyncClient]
_HIDDEN = hidden_python_environment()


@pytest.fixture
def aws_client(aws_endpoint: AwsEndpoint) -> Iterator[Client]:
    """The endpoint's clients, closed after the test (their pooled connections with them)."""
    made: list[AsyncClient] = []

    def make(service: str, **options: Any) -> AsyncClient:
        made.append(aws_endpoint.client(service, **options))
        return made[-1]

    yield make
    for client in made:
        client.sync.close()


@pytest.fixture
def code_root() -> Iterator[Path]:
    """A code directory outside /tmp (each process environment has a private /tmp)."""
    if _HIDDEN is not None:
        pytest.skip(_HIDDEN)
    root = Path(tempfile.mkdtemp(prefix="eventmesh-code-", dir="/var/tmp"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


ARN = "arn:aws:lambda:us-east-1:123456789012:function:"

CHAIN = textwrap.dedent(
    """
    import json
    import boto3

    client = boto3.client("lambda")  # AWS_ENDPOINT_URL and the credentials from the mesh

    def lambda_handler(event, context):
        print("forwarding", event["n"])
        answer = client.invoke(FunctionName="double", Payload=json.dumps({"n": event["n"]}))
        return {"doubled": json.loads(answer["Payload"].read()), "by": answer["ExecutedVersion"]}
    """
)


@pytest.fixture
def aws_mesh(code_root: Path) -> Mesh:
    mesh = Mesh(
        telemetry=Telemetry(enabled=False),
        drain_timeout=2.0,
        aws_credentials=AwsCredentials(KEY, SECRET),
    )

    @mesh.function(timeout=5, memory=512, environment={"STAGE": "test"})
    async def double(event: Any, context: Any) -> Any:
        if event.get("fail"):
            raise ValueError("cannot double that")
        if context.client_context is not None:
            return context.client_context.custom
        return event.get("n", 0) * 2

    (code_root / "app.py").write_text(CHAIN)
    mesh.function(name="forward", handler="app.lambda_handler", code=code_root, timeout=30)
    return mesh


def code(err: ClientError) -> str:
    return str(err.response["Error"]["Code"])


def status(answer: Any) -> int:
    return int(answer["ResponseMetadata"]["HTTPStatusCode"])


def header(answer: Any, name: str) -> str | None:
    value = answer["ResponseMetadata"]["HTTPHeaders"].get(name)
    return None if value is None else str(value)


async def test_invoke_answers(aws_client: Client) -> None:
    client = aws_client("lambda")
    answer = await client.invoke(FunctionName="double", Payload=b'{"n": 21}')
    assert answer["StatusCode"] == 200
    assert json.loads(answer["Payload"].read()) == 42
    assert answer["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in answer
    event = await client.invoke(FunctionName="double", InvocationType="Event", Payload=b"{}")
    assert event["StatusCode"] == 202 and event["Payload"].read() == b""
    dry = await client.invoke(FunctionName=ARN + "double", InvocationType="DryRun")
    assert dry["StatusCode"] == 204 and dry["Payload"].read() == b""
    failed = await client.invoke(FunctionName="double", Payload=b'{"fail": true}')
    assert failed["StatusCode"] == 200
    assert failed["FunctionError"] == "Unhandled"
    assert header(failed, "x-amz-function-error") == "Unhandled"
    error = json.loads(failed["Payload"].read())
    assert (error["errorType"], error["errorMessage"]) == ("ValueError", "cannot double that")
    context = base64.b64encode(json.dumps({"custom": {"tenant": "t1"}}).encode()).decode()
    custom = await client.invoke(FunctionName="double", ClientContext=context)
    assert json.loads(custom["Payload"].read()) == {"tenant": "t1"}


async def test_invoke_errors(aws_client: Client) -> None:
    client = aws_client("lambda")
    with pytest.raises(ClientError) as caught:
        await client.invoke(FunctionName="nobody")
    assert code(caught.value) == "ResourceNotFoundException"
    assert status(caught.value.response) == 404
    assert caught.value.response["Error"]["Message"] == f"Function not found: {ARN}nobody"
    with pytest.raises(ClientError) as caught:
        await client.invoke(FunctionName="double", Payload=b'"' + b"x" * 6 * 1024 * 1024 + b'"')
    assert code(caught.value) == "RequestEntityTooLargeException"  # what code tests for
    assert status(caught.value.response) == 413
    with pytest.raises(ClientError) as caught:
        await client.invoke(FunctionName="double", Payload=b"{not json")
    assert code(caught.value) == "InvalidRequestContentException"
    with pytest.raises(ClientError) as caught:
        await client.invoke(FunctionName="double", Qualifier="9")
    assert code(caught.value) == "ResourceNotFoundException"


async def test_throttled_invoke_is_429(aws_endpoint: AwsEndpoint, aws_client: Client) -> None:
    release = asyncio.Event()

    @aws_endpoint.mesh.function(reserved_concurrency=1)
    async def single(event: Any, context: Any) -> None:
        await release.wait()

    client = aws_client("lambda")
    first = asyncio.create_task(client.invoke(FunctionName="single"))
    for _ in range(100):
        if aws_endpoint.mesh.get_function("single").in_flight:
            break
        await asyncio.sleep(0.02)
    with pytest.raises(ClientError) as caught:
        await client.invoke(FunctionName="single")
    release.set()
    done = await first
    assert done["StatusCode"] == 200 and done["Payload"].read() == b"null"
    assert code(caught.value) == "TooManyRequestsException"
    assert status(caught.value.response) == 429
    assert caught.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"


async def test_a_function_invokes_another_through_boto3_and_tails_its_log(
    aws_client: Client,
) -> None:
    client = aws_client("lambda")
    answer = await client.invoke(FunctionName="forward", Payload=b'{"n": 4}', LogType="Tail")
    assert json.loads(answer["Payload"].read()) == {"doubled": 8, "by": "$LATEST"}
    log = base64.b64decode(answer["LogResult"]).decode()
    assert len(base64.b64decode(answer["LogResult"])) <= 4096
    assert log.startswith("START RequestId: ")
    assert "forwarding 4" in log
    assert "REPORT RequestId: " in log


async def test_functions_versions_and_aliases(aws_client: Client) -> None:
    client = aws_client("lambda")
    listed = await client.list_functions()
    names = sorted(f["FunctionName"] for f in listed["Functions"])
    assert names == ["double", "forward"]
    got = await client.get_function(FunctionName="double")
    config = got["Configuration"]
    assert config["FunctionArn"] == ARN + "double"
    assert (config["Timeout"], config["MemorySize"], config["Version"]) == (5, 512, "$LATEST")
    assert config["Environment"] == {"Variables": {"STAGE": "test"}}
    assert config["State"] == "Active"
    forward = (await client.get_function(FunctionName="forward"))["Configuration"]
    assert forward["Handler"] == "app.lambda_handler"
    assert forward["Runtime"].startswith("python3.")
    with pytest.raises(ClientError) as caught:
        await client.get_function(FunctionName="nobody")
    assert code(caught.value) == "ResourceNotFoundException"
    one = await client.publish_version(FunctionName="double", Description="first")
    assert status(one) == 201
    assert (one["Version"], one["FunctionArn"]) == ("1", ARN + "double:1")
    again = await client.publish_version(FunctionName="double")
    assert again["Version"] == "1"  # nothing changed since: Lambda returns the same version
    alias = await client.create_alias(FunctionName="double", Name="live", FunctionVersion="1")
    assert status(alias) == 201
    assert alias["AliasArn"] == ARN + "double:live"
    with pytest.raises(ClientError) as caught:
        await client.create_alias(FunctionName="double", Name="live", FunctionVersion="1")
    assert code(caught.value) == "ResourceConflictException"
    assert status(caught.value.response) == 409
    invoked = await client.invoke(FunctionName="double", Qualifier="live", Payload=b'{"n": 1}')
    assert invoked["ExecutedVersion"] == "1" and invoked["Payload"].read() == b"2"
    with pytest.raises(ClientError) as caught:
        await client.update_alias(
            FunctionName="double",
            Name="live",
            RoutingConfig={"AdditionalVersionWeights": {"7": 0.5}},
        )
    assert code(caught.value) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as caught:
        await client.update_alias(FunctionName="double", Name="nope", FunctionVersion="1")
    assert code(caught.value) == "ResourceNotFoundException"


async def test_weighted_alias_routing(aws_endpoint: AwsEndpoint, aws_client: Client) -> None:
    client = aws_client("lambda")
    function = aws_endpoint.mesh.get_function("double")
    await client.publish_version(FunctionName="double")
    function.update_configuration(timeout=6)
    two = await client.publish_version(FunctionName="double")
    assert two["Version"] == "2" and two["Timeout"] == 6
    created = await client.create_alias(
        FunctionName="double",
        Name="canary",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}},
    )
    assert created["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.5}}
    seen = set()
    for _ in range(40):
        answer = await client.invoke(FunctionName="double:canary", Payload=b'{"n": 1}')
        seen.add(answer["ExecutedVersion"])
        answer["Payload"].read()  # the connection goes back to the pool once read
    assert seen == {"1", "2"}
    updated = await client.update_alias(
        FunctionName="double", Name="canary", RoutingConfig={"AdditionalVersionWeights": {}}
    )
    assert "RoutingConfig" not in updated or not updated["RoutingConfig"].get(
        "AdditionalVersionWeights"
    )
    answer = await client.invoke(FunctionName="double:canary", Payload=b'{"n": 1}')
    assert answer["ExecutedVersion"] == "1" and answer["Payload"].read() == b"2"


async def test_event_source_mappings(aws_endpoint: AwsEndpoint, aws_client: Client) -> None:
    mesh = aws_endpoint.mesh
    got: list[Any] = []

    @mesh.function
    async def consume(event: Any, context: Any) -> Any:
        got.extend(record["body"] for record in event["Records"])
        return {"batchItemFailures": []}

    queue = mesh.queue("jobs")
    stream = mesh.stream("clicks")
    client = aws_client("lambda")
    mapping = await client.create_event_source_mapping(
        EventSourceArn=queue.arn,
        FunctionName="consume",
        BatchSize=5,
        MaximumBatchingWindowInSeconds=1,
        FunctionResponseTypes=["ReportBatchItemFailures"],
        ScalingConfig={"MaximumConcurrency": 2},
        FilterCriteria={"Filters": [{"Pattern": '{"body": ["keep"]}'}]},
    )
    assert status(mapping) == 202
    assert mapping["State"] == "Creating"
    assert len(mapping["UUID"]) == 36
    assert mapping["EventSourceArn"] == queue.arn
    assert mapping["FunctionArn"] == ARN + "consume"
    assert mapping["BatchSize"] == 5
    await queue.send("drop")
    await queue.send("keep")
    for _ in range(200):
        if got:
            break
        await asyncio.sleep(0.02)
    assert got == ["keep"]
    with pytest.raises(ClientError) as caught:
        await client.create_event_source_mapping(EventSourceArn=queue.arn, FunctionName="consume")
    assert code(caught.value) == "ResourceConflictException"
    fetched = await client.get_event_source_mapping(UUID=mapping["UUID"])
    assert fetched["State"] == "Enabled"
    on_stream = await client.create_event_source_mapping(
        EventSourceArn=stream.arn,
        FunctionName="consume",
        StartingPosition="TRIM_HORIZON",
        ParallelizationFactor=2,
        BisectBatchOnFunctionError=True,
        MaximumRetryAttempts=2,
        MaximumRecordAgeInSeconds=3600,
        DestinationConfig={"OnFailure": {"Destination": queue.arn}},
    )
    assert on_stream["StartingPosition"] == "TRIM_HORIZON"
    assert on_stream["ParallelizationFactor"] == 2
    assert on_stream["DestinationConfig"]["OnFailure"]["Destination"] == queue.arn
    listed = await client.list_event_source_mappings(FunctionName="consume")
    assert sorted(m["UUID"] for m in listed["EventSourceMappings"]) == sorted(
        [mapping["UUID"], on_stream["UUID"]]
    )
    with pytest.raises(ClientError) as caught:
        await client.create_event_source_mapping(EventSourceArn=stream.arn, FunctionName="double")
    assert code(caught.value) == "InvalidParameterValueException"
    with pytest.raises(ClientError) as caught:
        await client.create_event_source_mapping(
            EventSourceArn="arn:aws:sqs:us-east-1:123456789012:missing", FunctionName="double"
        )
    assert code(caught.value) == "InvalidParameterValueException"
