"""Lambda's operation handlers called directly (the wire is tested through boto3 elsewhere):
Invoke's answers, function descriptions, versions, aliases and event source mappings."""

from __future__ import annotations

import asyncio
import base64
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest
from process_prefix import hidden_python_environment

from eventmesh import Mesh
from eventmesh._http_messages import HttpRequest
from eventmesh.aws import catalog
from eventmesh.aws.operations import OPERATIONS, AwsCall, AwsError
from eventmesh.aws.services import load_services
from eventmesh.aws.services._log_tail import LogTail
from eventmesh.telemetry import Telemetry

load_services()
ARN = "arn:aws:lambda:us-east-1:123456789012:function:"


def new_mesh(**settings: Any) -> Mesh:
    return Mesh(telemetry=Telemetry(enabled=False), **settings)


@pytest.fixture
async def mesh() -> AsyncIterator[Mesh]:
    mesh = new_mesh()

    @mesh.function(timeout=5, memory=256, environment={"STAGE": "test"})
    async def greet(event: Any, context: Any) -> Any:
        if event.get("fail"):
            raise ValueError("asked to fail")
        return {
            "hello": event.get("name"),
            "custom": getattr(context.client_context, "custom", None),
        }

    async with mesh:
        yield mesh


async def aws(mesh: Mesh, name: str, **params: Any) -> Mapping[str, Any]:
    handler = OPERATIONS.find("lambda", name)
    assert handler is not None, name
    call = AwsCall(
        mesh, "lambda", name, mesh.region, mesh.account_id, HttpRequest("POST", "/"),
        "http://127.0.0.1:4566",
    )  # fmt: skip
    return await handler(call, params)


async def refused(mesh: Mesh, name: str, **params: Any) -> AwsError:
    with pytest.raises(AwsError) as caught:
        await aws(mesh, name, **params)
    return caught.value


async def test_invoke_request_response_event_and_dry_run(mesh: Mesh) -> None:
    answer = await aws(mesh, "Invoke", FunctionName="greet", Payload=b'{"name": "ann"}')
    assert answer["StatusCode"] == 200
    assert orjson.loads(answer["Payload"])["hello"] == "ann"
    assert answer["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in answer
    event = await aws(mesh, "Invoke", FunctionName="greet", InvocationType="Event", Payload=b"{}")
    assert (event["StatusCode"], event["Payload"]) == (202, b"")
    dry = await aws(mesh, "Invoke", FunctionName="greet", InvocationType="DryRun")
    assert dry["StatusCode"] == 204
    empty = await aws(mesh, "Invoke", FunctionName=ARN + "greet")
    assert orjson.loads(empty["Payload"])["hello"] is None


async def test_invoke_function_error_is_200_with_unhandled(mesh: Mesh) -> None:
    answer = await aws(mesh, "Invoke", FunctionName="greet", Payload=b'{"fail": true}')
    assert answer["StatusCode"] == 200
    assert answer["FunctionError"] == "Unhandled"
    error = orjson.loads(answer["Payload"])
    assert error["errorType"] == "ValueError" and error["errorMessage"] == "asked to fail"


async def test_invoke_errors(mesh: Mesh) -> None:
    missing = await refused(mesh, "Invoke", FunctionName="nobody")
    assert (missing.code, missing.status) == ("ResourceNotFoundException", 404)
    assert missing.message == f"Function not found: {ARN}nobody"
    big = await refused(mesh, "Invoke", FunctionName="greet", Payload=b'"' + b"x" * 6291456 + b'"')
    assert (big.code, big.status) == ("RequestEntityTooLargeException", 413)
    assert big.message == (
        "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
    )
    big_event = await refused(
        mesh, "Invoke", FunctionName="greet", InvocationType="Event",
        Payload=b'"' + b"x" * 1048576 + b'"',
    )  # fmt: skip
    assert (big_event.code, big_event.status) == ("RequestEntityTooLargeException", 413)
    assert big_event.message == (
        "1048578 byte payload is too large for the Event invocation type (limit 1048576 bytes)"
    )
    bad = await refused(mesh, "Invoke", FunctionName="greet", Payload=b"{nope")
    assert (bad.code, bad.status) == ("InvalidRequestContentException", 400)
    context = await refused(mesh, "Invoke", FunctionName="greet", ClientContext="%%%")
    assert context.code == "InvalidRequestContentException"
    version = await refused(mesh, "Invoke", FunctionName="greet", Qualifier="7")
    assert version.message == f"Function not found: {ARN}greet:7"


async def test_invoke_throttled_is_429() -> None:
    mesh = new_mesh()
    release = asyncio.Event()

    @mesh.function(reserved_concurrency=1)
    async def slow(event: Any, context: Any) -> None:
        await release.wait()

    async with mesh:
        first = asyncio.create_task(aws(mesh, "Invoke", FunctionName="slow"))
        await asyncio.sleep(0.05)
        error = await refused(mesh, "Invoke", FunctionName="slow")
        release.set()
        await first
    assert (error.code, error.status) == ("TooManyRequestsException", 429)
    assert error.fields["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"


async def test_client_context_reaches_the_handler(mesh: Mesh) -> None:
    context = base64.b64encode(orjson.dumps({"custom": {"tenant": "t1"}})).decode()
    answer = await aws(mesh, "Invoke", FunctionName="greet", ClientContext=context)
    assert orjson.loads(answer["Payload"])["custom"] == {"tenant": "t1"}


async def test_log_tail_has_the_invocation_lines(mesh: Mesh) -> None:
    answer = await aws(mesh, "Invoke", FunctionName="greet", LogType="Tail")
    log = base64.b64decode(answer["LogResult"]).decode()
    request_lines = [line for line in log.splitlines() if line]
    assert request_lines[0].startswith("START RequestId: ")
    assert request_lines[-1].startswith("REPORT RequestId: ")
    assert logging.getLogger("eventmesh.invocations").level == logging.NOTSET


def test_log_tail_keeps_the_last_4_kb_and_the_application_level() -> None:
    logger = logging.getLogger("test.tail")
    logger.setLevel(logging.WARNING)
    tail = LogTail(logger)
    with tail.capturing():
        assert logger.isEnabledFor(logging.INFO)
        for n in range(1000):
            logger.info("line %d", n, extra={"request_id": "r1"})
        logger.info("other", extra={"request_id": "r2"})
        taken = tail.take("r1")
    assert logger.level == logging.WARNING
    assert len(taken) == 4096 and taken.endswith(b"line 999\n")  # bytes, as Lambda cuts them
    assert b"other" not in taken


async def test_describe_publish_and_alias(mesh: Mesh) -> None:
    listed = await aws(mesh, "ListFunctions")
    (config,) = listed["Functions"]
    assert config["FunctionName"] == "greet"
    assert config["FunctionArn"] == ARN + "greet"
    assert (config["Timeout"], config["MemorySize"], config["Version"]) == (5, 256, "$LATEST")
    assert config["Environment"] == {"Variables": {"STAGE": "test"}}
    assert config["Handler"].endswith("greet")
    got = await aws(mesh, "GetFunction", FunctionName="greet")
    assert got["Configuration"] == config
    published = await aws(mesh, "PublishVersion", FunctionName="greet", Description="first")
    assert (published["Version"], published["FunctionArn"]) == ("1", ARN + "greet:1")
    assert published["Description"] == "first"
    mesh.get_function("greet").update_configuration(timeout=6)
    assert (await aws(mesh, "PublishVersion", FunctionName="greet"))["Version"] == "2"
    every = await aws(mesh, "ListFunctions", FunctionVersion="ALL")
    assert [f["Version"] for f in every["Functions"]] == ["$LATEST", "1", "2"]
    alias = await aws(
        mesh, "CreateAlias", FunctionName="greet", Name="live", FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.25}},
    )  # fmt: skip
    assert alias["AliasArn"] == ARN + "greet:live"
    assert alias["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.25}}
    assert mesh.get_function("greet").aliases["live"].routing == {"2": 0.25}
    again = await refused(
        mesh, "CreateAlias", FunctionName="greet", Name="live", FunctionVersion="1"
    )
    assert (again.code, again.status) == ("ResourceConflictException", 409)
    updated = await aws(mesh, "UpdateAlias", FunctionName="greet", Name="live", FunctionVersion="2",
                        RoutingConfig={"AdditionalVersionWeights": {}})  # fmt: skip
    assert updated["FunctionVersion"] == "2" and "RoutingConfig" not in updated
    answer = await aws(mesh, "Invoke", FunctionName="greet", Qualifier="live")
    assert answer["ExecutedVersion"] == "2"
    missing = await refused(mesh, "UpdateAlias", FunctionName="greet", Name="dev")
    assert missing.code == "ResourceNotFoundException"
    no_version = await refused(
        mesh, "CreateAlias", FunctionName="greet", Name="x", FunctionVersion="9"
    )
    assert no_version.code == "ResourceNotFoundException"
    assert await catalog.lookup(mesh, "lambda.alias", "greet:live") == {
        "FunctionVersion": "2", "Routing": {}, "Description": "",
    }  # fmt: skip


async def test_event_source_mapping_on_a_queue_delivers(mesh: Mesh) -> None:
    got: list[Any] = []

    @mesh.function
    async def consume(event: Any, context: Any) -> None:
        got.extend(record["body"] for record in event["Records"])

    queue = mesh.queue("jobs")
    answer = await aws(
        mesh, "CreateEventSourceMapping", FunctionName="consume",
        EventSourceArn=queue.arn, BatchSize=5, FunctionResponseTypes=["ReportBatchItemFailures"],
        ScalingConfig={"MaximumConcurrency": 2},
    )  # fmt: skip
    assert answer["State"] == "Creating"
    assert answer["BatchSize"] == 5 and answer["EventSourceArn"] == queue.arn
    assert answer["FunctionArn"] == ARN + "consume"
    assert answer["ScalingConfig"] == {"MaximumConcurrency": 2}
    await queue.send("hi")
    for _ in range(100):
        if got:
            break
        await asyncio.sleep(0.02)
    assert got == ["hi"]
    conflict = await refused(mesh, "CreateEventSourceMapping", FunctionName="consume",
                             EventSourceArn=queue.arn)  # fmt: skip
    assert conflict.code == "ResourceConflictException"
    fetched = await aws(mesh, "GetEventSourceMapping", UUID=answer["UUID"])
    assert fetched["State"] == "Enabled"
    listed = await aws(mesh, "ListEventSourceMappings", FunctionName="consume")
    assert [m["UUID"] for m in listed["EventSourceMappings"]] == [answer["UUID"]]
    assert await catalog.lookup(mesh, "lambda.event_source_mapping", answer["UUID"])


async def test_event_source_mapping_on_a_stream_and_errors(mesh: Mesh) -> None:
    stream = mesh.stream("clicks")
    answer = await aws(
        mesh, "CreateEventSourceMapping", FunctionName="greet", EventSourceArn=stream.arn,
        StartingPosition="TRIM_HORIZON", ParallelizationFactor=2, BisectBatchOnFunctionError=True,
        MaximumRetryAttempts=3, MaximumRecordAgeInSeconds=600,
    )  # fmt: skip
    assert answer["StartingPosition"] == "TRIM_HORIZON"
    assert (answer["ParallelizationFactor"], answer["MaximumRetryAttempts"]) == (2, 3)
    assert answer["BatchSize"] == 100
    other = mesh.stream("views")
    no_position = await refused(mesh, "CreateEventSourceMapping", FunctionName="greet",
                                EventSourceArn=other.arn)  # fmt: skip
    assert no_position.code == "InvalidParameterValueException"
    unknown = await refused(mesh, "CreateEventSourceMapping", FunctionName="greet",
                            EventSourceArn="arn:aws:sqs:us-east-1:123456789012:none")  # fmt: skip
    assert unknown.code == "InvalidParameterValueException"
    no_function = await refused(mesh, "CreateEventSourceMapping", FunctionName="nobody",
                                EventSourceArn=other.arn, StartingPosition="LATEST")  # fmt: skip
    assert no_function.code == "ResourceNotFoundException"
    gone = await refused(mesh, "GetEventSourceMapping", UUID="00000000-0000-0000-0000-000000000000")
    assert gone.code == "ResourceNotFoundException"


async def test_event_source_mapping_tags_and_filter_refusals(mesh: Mesh) -> None:
    queue = mesh.queue("tagged")
    answer = await aws(
        mesh, "CreateEventSourceMapping", FunctionName="greet", EventSourceArn=queue.arn,
        Tags={"team": "orders"},
    )  # fmt: skip
    assert answer["EventSourceArn"] == queue.arn
    other = mesh.queue("filtered")
    for filters in ([{}], [{"Pattern": "{not json"}], [{"Pattern": "[1]"}]):
        bad = await refused(
            mesh, "CreateEventSourceMapping", FunctionName="greet", EventSourceArn=other.arn,
            FilterCriteria={"Filters": filters},
        )  # fmt: skip
        assert bad.code == "InvalidParameterValueException"
        assert bad.message.startswith("Invalid filter pattern definition.")
    assert other.mappings == []


async def test_mappings_come_back_after_a_restart(tmp_path: Any) -> None:
    storage = f"sqlite:///{tmp_path / 'mesh.db'}"
    got: list[Any] = []

    def build() -> Mesh:
        mesh = Mesh(storage=storage, telemetry=Telemetry(enabled=False))

        @mesh.function
        async def consume(event: Any, context: Any) -> None:
            got.extend(record["body"] for record in event["Records"])

        mesh.queue("jobs")
        return mesh

    async with build() as first:
        created = await aws(first, "CreateEventSourceMapping", FunctionName="consume",
                            EventSourceArn=first.queue("jobs").arn, BatchSize=3)  # fmt: skip
    async with build() as second:
        assert ("lambda.event_source_mapping", created["UUID"]) in await catalog.restore(second)
        fetched = await aws(second, "GetEventSourceMapping", UUID=created["UUID"])
        assert fetched["BatchSize"] == 3 and fetched["State"] == "Enabled"
        await second.queue("jobs").send("after restart")
        for _ in range(100):
            if got:
                break
            await asyncio.sleep(0.02)
        assert got == ["after restart"]


async def test_an_event_invoke_on_a_full_queue_is_429_not_a_wait() -> None:
    mesh = new_mesh()
    release = asyncio.Event()

    @mesh.function(max_pending=1, reserved_concurrency=1)
    async def slow(event: Any, context: Any) -> None:
        await release.wait()

    async with mesh:
        errors = []
        for _ in range(3):
            try:
                await asyncio.wait_for(
                    aws(mesh, "Invoke", FunctionName="slow", InvocationType="Event"), 2
                )
            except AwsError as exc:
                errors.append(exc)
        release.set()
    assert errors and (errors[0].code, errors[0].status) == ("TooManyRequestsException", 429)


async def test_a_mapping_another_worker_cannot_make_is_left_out(tmp_path: Any) -> None:
    storage = f"sqlite:///{tmp_path / 'mesh.db'}"
    one = Mesh(storage=storage, telemetry=Telemetry(enabled=False))
    two = Mesh(storage=storage, telemetry=Telemetry(enabled=False))  # no function, no queue

    @one.function
    async def consume(event: Any, context: Any) -> None:
        pass

    one.queue("jobs")
    async with one, two:
        created = await aws(one, "CreateEventSourceMapping", FunctionName="consume",
                            EventSourceArn=one.queue("jobs").arn)  # fmt: skip
        assert (await aws(two, "ListEventSourceMappings"))["EventSourceMappings"] == []
        gone = await refused(two, "GetEventSourceMapping", UUID=created["UUID"])
        assert gone.code == "ResourceNotFoundException"


async def test_a_fractional_timeout_is_described_in_whole_seconds() -> None:
    mesh = new_mesh()

    @mesh.function(timeout=1.4)
    async def quick(event: Any, context: Any) -> None:
        pass

    async with mesh:
        config = await aws(mesh, "GetFunctionConfiguration", FunctionName="quick")
    assert config["Timeout"] == 1 and isinstance(config["Timeout"], int)


@pytest.mark.parametrize("start", ["-1", "x"])
async def test_a_forged_marker_is_invalid_parameter(mesh: Mesh, start: str) -> None:
    marker = base64.urlsafe_b64encode(start.encode()).decode()
    error = await refused(mesh, "ListFunctions", Marker=marker)
    assert (error.code, error.message) == ("InvalidParameterValueException", "Invalid marker")


async def test_a_process_functions_runtime_and_ephemeral_storage_are_described() -> None:
    if hidden_python_environment() is not None:
        pytest.skip(str(hidden_python_environment()))
    code = Path(tempfile.mkdtemp(prefix="eventmesh-aws-", dir="/var/tmp"))
    try:
        (code / "app.py").write_text("def handler(event, context):\n    return 1\n")
        (code / "bootstrap").write_text("#!/bin/sh\nexit 1\n")
        (code / "bootstrap").chmod(0o755)
        mesh = new_mesh()
        mesh.function(
            name="declared", handler="app.handler", code=code, runtime="python3.12",
            ephemeral_storage=4096,
        )  # fmt: skip
        mesh.function(name="detected", handler="app.handler", code=code)
        declared = await aws(mesh, "GetFunctionConfiguration", FunctionName="declared")
        detected = await aws(mesh, "GetFunctionConfiguration", FunctionName="detected")
    finally:
        shutil.rmtree(code, ignore_errors=True)
    assert declared["Runtime"] == "python3.12"  # the declared runtime, bootstrap or not
    assert declared["EphemeralStorage"] == {"Size": 4096}
    assert detected["Runtime"] == "provided.al2023"  # a bootstrap decides when none is named
    assert detected["EphemeralStorage"] == {"Size": 512}


async def test_create_alias_with_a_weight_out_of_range_is_invalid(mesh: Mesh) -> None:
    await aws(mesh, "PublishVersion", FunctionName="greet")
    error = await refused(
        mesh, "CreateAlias", FunctionName="greet", Name="live", FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"1": 1.5}},
    )  # fmt: skip
    assert error.code == "InvalidParameterValueException"
    assert "RoutingConfig.AdditionalVersionWeights.1" in error.message
    assert "a weight must be from 0.0 to 1.0" in error.message
