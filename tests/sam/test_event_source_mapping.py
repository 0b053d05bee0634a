"""AWS::Lambda::EventSourceMapping in a template: SQS and Kinesis sources mapped onto
functions declared in code (by name, ARN or alias ARN), Lambda's settings, the sources the
mesh does not emulate, and SAM's SNS-to-SQS subscription chain."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from eventmesh import Context, Mesh
from eventmesh.mappings.queue_mapping import QueueMapping
from eventmesh.mappings.stream_mapping import StreamMapping
from eventmesh.resources.queue import Queue
from eventmesh.resources.stream import Stream
from eventmesh.resources.topic import Topic
from eventmesh.sam import TemplateError, build_application
from eventmesh.testing import VirtualClock

ACCOUNT = "123456789012"
FUNCTION_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:worker"
QUEUE_ARN = {"Fn::GetAtt": ["Orders", "Arn"]}
STREAM_ARN = {"Fn::GetAtt": ["Clicks", "Arn"]}


def recorder(mesh: Mesh, name: str = "worker") -> list[dict[str, Any]]:
    """A function declared in code that keeps every event; a record whose body or data is
    "fail" is reported as a batch item failure."""
    events: list[dict[str, Any]] = []

    @mesh.function(name=name, timeout=3)
    async def handler(event: dict[str, Any], context: Context) -> Any:
        events.append(event)
        failures = [
            {"itemIdentifier": record.get("messageId")
             or record.get("kinesis", {}).get("sequenceNumber")}
            for record in event["Records"]
            if record.get("body") == "fail"
            or base64.b64decode(record.get("kinesis", {}).get("data", "")) == b'"fail"'
        ]  # fmt: skip
        return {"batchItemFailures": failures}

    return events


def build(
    mesh: Mesh, mapping: dict[str, Any], *, strict: bool = False, **extra: Any
) -> tuple[Any, Any]:
    resources = {
        "Orders": {"Type": "AWS::SQS::Queue"},
        "Clicks": {"Type": "AWS::Kinesis::Stream", "Properties": {"ShardCount": 1}},
        "Mapping": {"Type": "AWS::Lambda::EventSourceMapping", "Properties": mapping},
        **extra,
    }
    app = build_application(
        {"Resources": resources, "Outputs": {"Id": {"Value": {"Ref": "Mapping"}}}},
        mesh=mesh,
        strict=strict,
    )
    return app, app.outputs.get("Id")


def queue_mapping(mesh: Mesh) -> QueueMapping:
    queue = mesh.context.find_resource("Orders")
    assert isinstance(queue, Queue)
    (mapping,) = queue.mappings
    return mapping


def stream_mapping(mesh: Mesh) -> StreamMapping:
    stream = mesh.context.find_resource("Clicks")
    assert isinstance(stream, Stream)
    (mapping,) = stream.mappings
    return mapping


async def test_an_sqs_mapping_delivers_batches_and_keeps_reported_failures(
    mesh: Mesh, clock: VirtualClock
) -> None:
    events = recorder(mesh)
    build(
        mesh,
        {"EventSourceArn": QUEUE_ARN, "FunctionName": "worker", "BatchSize": "5",
         "MaximumBatchingWindowInSeconds": 0,
         "FunctionResponseTypes": ["ReportBatchItemFailures"],
         "ScalingConfig": {"MaximumConcurrency": 2}},
    )  # fmt: skip
    mapping = queue_mapping(mesh)
    assert (mapping.batch_size, mapping.max_concurrency) == (5, 2)
    assert mapping.report_batch_item_failures is True
    orders = mesh.context.find_resource("Orders")
    assert isinstance(orders, Queue)
    async with mesh:
        await orders.send("ok")
        await orders.send("fail")
        await clock.advance(0)
        first = [record["body"] for event in events for record in event["Records"]]
        await clock.advance(30)  # the failed one comes back after the visibility timeout
    assert sorted(first) == ["fail", "ok"]
    again = [record["body"] for event in events[1:] for record in event["Records"]]
    assert "fail" in again and "ok" not in again


async def test_a_kinesis_mapping_delivers_records(mesh: Mesh, clock: VirtualClock) -> None:
    events = recorder(mesh)
    build(
        mesh,
        {"EventSourceArn": STREAM_ARN, "FunctionName": FUNCTION_ARN,
         "StartingPosition": "TRIM_HORIZON", "BatchSize": 10, "ParallelizationFactor": 2,
         "BisectBatchOnFunctionError": True, "MaximumRetryAttempts": 3,
         "MaximumRecordAgeInSeconds": 3600,
         "DestinationConfig": {"OnFailure": {"Destination": QUEUE_ARN}}},
    )  # fmt: skip
    mapping = stream_mapping(mesh)
    assert (mapping.batch_size, mapping.parallelization_factor) == (10, 2)
    assert (mapping.bisect_on_error, mapping.max_retries, mapping.max_record_age) == (
        True, 3, 3600,
    )  # fmt: skip
    assert mapping.on_failure == f"arn:aws:sqs:us-east-1:{ACCOUNT}:Orders"
    clicks = mesh.context.find_resource("Clicks")
    assert isinstance(clicks, Stream)
    async with mesh:
        await clicks.put_record({"page": "/"}, "user-1")
        for _ in range(5):
            await clock.advance(1)
    (record,) = events[0]["Records"]
    assert json.loads(base64.b64decode(record["kinesis"]["data"])) == {"page": "/"}
    assert record["eventSourceARN"] == f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/Clicks"


def test_an_alias_arn_maps_the_alias(mesh: Mesh) -> None:
    recorder(mesh)
    worker = mesh.get_function("worker")
    worker.publish_version()
    mesh.alias(worker, "live", version="1")
    build(mesh, {"EventSourceArn": QUEUE_ARN, "FunctionName": f"{FUNCTION_ARN}:live"})
    assert queue_mapping(mesh).function == "worker:live"


def test_disabled_mappings_and_filters(mesh: Mesh) -> None:
    recorder(mesh)
    build(
        mesh,
        {"EventSourceArn": QUEUE_ARN, "FunctionName": "worker", "Enabled": False,
         "FilterCriteria": {"Filters": [{"Pattern": '{"body": {"kind": ["order"]}}'}]}},
    )  # fmt: skip
    mapping = queue_mapping(mesh)
    assert mapping.enabled is False
    assert len(mapping.filters) == 1


def test_booleans_written_as_text_in_any_case_are_read(mesh: Mesh) -> None:
    """CloudFormation's Boolean: true/false or their text, in any case (as Fn::If reads it)."""
    recorder(mesh)
    build(
        mesh,
        {"EventSourceArn": STREAM_ARN, "FunctionName": "worker", "StartingPosition": "LATEST",
         "Enabled": "False", "BisectBatchOnFunctionError": "TRUE"},
    )  # fmt: skip
    mapping = stream_mapping(mesh)
    assert (mapping.enabled, mapping.bisect_on_error) == (False, True)


def test_ref_is_a_uuid_that_stays_the_same_for_the_logical_id(mesh: Mesh) -> None:
    recorder(mesh)
    _, first = build(mesh, {"EventSourceArn": QUEUE_ARN, "FunctionName": "worker"})
    other = Mesh()
    recorder(other)
    _, second = build(other, {"EventSourceArn": QUEUE_ARN, "FunctionName": "worker"})
    assert first == second
    assert len(first) == 36 and first.count("-") == 4


@pytest.mark.parametrize(
    ("source", "what"),
    [
        ({"EventSourceArn": f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/t/stream/2024-01-01"},
         f"a DynamoDB stream (arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/t/stream/2024-01-01)"),
        ({"EventSourceArn": f"arn:aws:kafka:us-east-1:{ACCOUNT}:cluster/c/1", "Topics": ["t"]},
         f"an Amazon MSK cluster (arn:aws:kafka:us-east-1:{ACCOUNT}:cluster/c/1)"),
        ({"EventSourceArn": f"arn:aws:mq:us-east-1:{ACCOUNT}:broker:b:1", "Queues": ["q"]},
         f"an Amazon MQ broker (arn:aws:mq:us-east-1:{ACCOUNT}:broker:b:1)"),
        ({"SelfManagedEventSource": {"Endpoints": {"KafkaBootstrapServers": ["k:9092"]}},
          "Topics": ["t"]}, "a self-managed Kafka cluster"),
        ({"EventSourceArn": {"Fn::GetAtt": ["Table", "StreamArn"]}}, "Table, a resource left out"),
        ({"EventSourceArn": {"Fn::GetAtt": ["Cluster", "Arn"]}, "Topics": ["t"]},
         "Cluster, a resource left out"),
        ({"EventSourceArn": {"Ref": "Table"}}, "Table, a resource left out"),
        ({"EventSourceArn": "StreamARNNotPassed", "Topics": ["orders"]},
         "a Kafka topic's cluster (StreamARNNotPassed)"),
        ({"EventSourceArn": "BrokerArn", "Queues": ["orders"]},
         "an Amazon MQ broker (BrokerArn)"),
        ({"EventSourceArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:nowhere"},
         f"the queue arn:aws:sqs:us-east-1:{ACCOUNT}:nowhere, neither in the template nor in "
         "the mesh (another stack's)"),
    ],
    ids=["dynamodb", "msk", "mq", "kafka", "left-out-table", "left-out-cluster", "left-out-ref",
         "msk-placeholder", "mq-placeholder", "queue-elsewhere"],
)  # fmt: skip
def test_sources_the_mesh_does_not_emulate_are_warned_about_and_left_out(
    mesh: Mesh, source: dict[str, Any], what: str
) -> None:
    recorder(mesh)
    table = {"Table": {"Type": "AWS::DynamoDB::Table"}, "Cluster": {"Type": "AWS::MSK::Cluster"}}
    mapping = {"FunctionName": "worker", "StartingPosition": "LATEST", **source}
    if "arn:aws:sqs" in str(source.get("EventSourceArn")):
        del mapping["StartingPosition"]
    app, mapping_id = build(mesh, mapping, **table)
    assert (
        f"Resources.Mapping (AWS::Lambda::EventSourceMapping): not emulated, left out: its "
        f"event source is {what}"
    ) in app.warnings
    assert len(mapping_id) == 36
    with pytest.raises(TemplateError, match="--strict"):
        other = Mesh()
        recorder(other)
        build(other, mapping, strict=True, **table)


@pytest.mark.parametrize(
    ("mapping", "member", "message"),
    [
        ({"EventSourceArn": STREAM_ARN, "StartingPosition": "LATEST",
          "TumblingWindowInSeconds": 60}, "TumblingWindowInSeconds",
         "tumbling windows are not emulated: the mesh's stream mappings keep no window state "
         "(the handler's returned 'state' would be dropped and no 'isFinalInvokeForWindow' "
         "sent); remove it to map without windows"),
        ({"EventSourceArn": QUEUE_ARN, "StartingPosition": "LATEST"}, "StartingPosition",
         "Unsupported StartingPosition for an SQS event source"),
        ({"EventSourceArn": STREAM_ARN}, "StartingPosition",
         "StartingPosition is required for a Kinesis event source"),
        ({"EventSourceArn": STREAM_ARN, "StartingPosition": "LATEST",
          "ScalingConfig": {"MaximumConcurrency": 2}}, "ScalingConfig",
         "ScalingConfig is for SQS event sources"),
        ({"EventSourceArn": QUEUE_ARN, "FunctionResponseTypes": ["Everything"]},
         "FunctionResponseTypes", "FunctionResponseTypes takes only ReportBatchItemFailures"),
        ({"EventSourceArn": "arn:aws:s3:::bucket"}, "EventSourceArn",
         "Unrecognized event source, must be an SQS queue or a Kinesis stream: "
         "arn:aws:s3:::bucket"),
        ({"EventSourceArn": QUEUE_ARN, "FilterCriteria": [{"Pattern": "{}"}]}, "FilterCriteria",
         "FilterCriteria must be an object with Filters, a list of {Pattern}"),
        ({"EventSourceArn": QUEUE_ARN, "FilterCriteria": {"Filters": '{"body": {}}'}},
         "FilterCriteria.Filters", "FilterCriteria must be an object with Filters, a list of "
         "{Pattern}"),
        ({"EventSourceArn": QUEUE_ARN, "FilterCriteria": {"Filters": [{}]}},
         "FilterCriteria.Filters[0].Pattern", "Invalid filter pattern definition."),
        ({"EventSourceArn": QUEUE_ARN,
          "FilterCriteria": {"Filters": [{"Pattern": '{"body": {"a": ["b"]}}'},
                                         {"Pattern": "[1]"}]}},
         "FilterCriteria.Filters[1].Pattern", "Invalid filter pattern definition. (event "
         "pattern must be a JSON object, got list)"),
        ({"EventSourceArn": QUEUE_ARN, "ScalingConfig": [2]}, "ScalingConfig",
         "ScalingConfig must be an object"),
        ({"EventSourceArn": STREAM_ARN, "StartingPosition": "LATEST", "DestinationConfig": [1]},
         "DestinationConfig", "DestinationConfig must be an object"),
        ({"EventSourceArn": STREAM_ARN, "StartingPosition": "LATEST",
          "DestinationConfig": {"OnFailure": "arn:aws:sqs:us-east-1:123456789012:dlq"}},
         "DestinationConfig.OnFailure", "DestinationConfig.OnFailure must be an object"),
        ({"EventSourceArn": STREAM_ARN, "StartingPosition": "LATEST",
          "DestinationConfig": {"OnFailure": {"Destination": "nowhere"}}},
         "DestinationConfig.OnFailure.Destination",
         "no queue, topic or function nowhere in this mesh"),
        ({"EventSourceArn": QUEUE_ARN, "Enabled": "no"}, "Enabled",
         "Enabled must be true or false"),
        ({"EventSourceArn": STREAM_ARN, "StartingPosition": "LATEST",
          "BisectBatchOnFunctionError": "yes"}, "BisectBatchOnFunctionError",
         "BisectBatchOnFunctionError must be true or false"),
    ],
    ids=["tumbling", "sqs-position", "no-position", "kinesis-scaling", "response-types",
         "s3", "filters-not-object", "filters-not-list", "filter-no-pattern",
         "filter-bad-pattern", "scaling-not-object", "destination-not-object",
         "on-failure-not-object", "no-on-failure-destination", "enabled-not-boolean",
         "bisect-not-boolean"],
)  # fmt: skip
def test_what_the_mesh_cannot_map_is_refused_naming_the_property(
    mesh: Mesh, mapping: dict[str, Any], member: str, message: str
) -> None:
    recorder(mesh)
    with pytest.raises(TemplateError) as caught:
        build(mesh, {**mapping, "FunctionName": "worker"})
    assert str(caught.value) == (
        f"Resources.Mapping.Properties.{member} (AWS::Lambda::EventSourceMapping): {message}"
    )


def test_a_function_or_destination_by_arn_out_of_reach_is_warned_about(mesh: Mesh) -> None:
    """Another stack's function: the mapping is left out; another stack's on-failure
    destination: the mapping runs without it. Both named, and --strict refuses them."""
    recorder(mesh)
    elsewhere = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:other-stack"
    app, _ = build(mesh, {"EventSourceArn": QUEUE_ARN, "FunctionName": elsewhere})
    assert app.warnings == [
        "Resources.Mapping (AWS::Lambda::EventSourceMapping): not emulated, left out: its "
        f"function, {elsewhere} is neither in the template nor in the mesh (not emulated, or "
        "another stack's)"
    ]
    dead = f"arn:aws:sqs:us-east-1:{ACCOUNT}:other-stack-dlq"
    other = Mesh()
    recorder(other)
    app, _ = build(
        other,
        {
            "EventSourceArn": STREAM_ARN,
            "StartingPosition": "LATEST",
            "FunctionName": "worker",
            "DestinationConfig": {"OnFailure": {"Destination": dead}},
        },
    )
    assert app.warnings == [
        "Resources.Mapping (AWS::Lambda::EventSourceMapping): "
        f"DestinationConfig.OnFailure.Destination: {dead} is neither in the template nor in "
        "the mesh (not emulated, or another stack's): the mapping has no on-failure "
        "destination (a failed batch's record is dropped)"
    ]


def test_a_function_not_in_the_mesh_is_refused(mesh: Mesh) -> None:
    with pytest.raises(TemplateError) as caught:
        build(mesh, {"EventSourceArn": QUEUE_ARN, "FunctionName": "nobody"})
    assert str(caught.value) == (
        "Resources.Mapping.Properties.FunctionName (AWS::Lambda::EventSourceMapping): no "
        "function nobody in this mesh"
    )


@pytest.mark.parametrize(
    ("mapping", "message"),
    [({"EventSourceArn": QUEUE_ARN, "BatchSize": 0}, "got 0"),
     ({"EventSourceArn": STREAM_ARN, "StartingPosition": "LATEST", "BatchSize": 0},
      "batch_size must be an integer from 1 to 10000"),
     ({"EventSourceArn": STREAM_ARN, "StartingPosition": "LATEST", "ParallelizationFactor": 0},
      "parallelization_factor must be an integer from 1 to 10")],
    ids=["sqs-batch", "kinesis-batch", "parallelization"],
)  # fmt: skip
def test_a_zero_is_refused_not_taken_for_the_default(
    mesh: Mesh, mapping: dict[str, Any], message: str
) -> None:
    recorder(mesh)
    with pytest.raises(TemplateError, match=message):
        build(mesh, {**mapping, "FunctionName": "worker"})


def test_negative_numbers_written_as_text_are_read(mesh: Mesh) -> None:
    """-1 (no limit) given as text, as a Number parameter's Ref gives it."""
    recorder(mesh)
    build(
        mesh,
        {"EventSourceArn": STREAM_ARN, "FunctionName": "worker", "StartingPosition": "LATEST",
         "MaximumRetryAttempts": "-1", "MaximumRecordAgeInSeconds": "-1"},
    )  # fmt: skip
    mapping = stream_mapping(mesh)
    assert (mapping.max_retries, mapping.max_record_age) == (-1, -1)


def test_a_filter_pattern_failing_the_mesh_check_names_the_pattern(mesh: Mesh) -> None:
    recorder(mesh)
    with pytest.raises(TemplateError) as caught:
        build(
            mesh,
            {"EventSourceArn": QUEUE_ARN, "FunctionName": "worker",
             "FilterCriteria": {"Filters": [{"Pattern": "{not json"}]}},
        )  # fmt: skip
    assert str(caught.value).startswith(
        "Resources.Mapping.Properties.FilterCriteria.Filters[0].Pattern "
        "(AWS::Lambda::EventSourceMapping): Invalid filter pattern definition. (event pattern "
        "is not valid JSON"
    )


def test_unknown_properties_are_warned_about(mesh: Mesh) -> None:
    recorder(mesh)
    app, _ = build(
        mesh, {"EventSourceArn": QUEUE_ARN, "FunctionName": "worker", "FilterCriterias": {}}
    )
    assert app.warnings == [
        "Resources.Mapping (AWS::Lambda::EventSourceMapping): FilterCriterias: not emulated, "
        "ignored"
    ]


def test_a_queue_whose_visibility_timeout_is_under_the_functions_timeout_is_refused(
    mesh: Mesh,
) -> None:
    """As Lambda refuses the mapping (at deploy, not when the application starts)."""

    @mesh.function(name="slow", timeout=60)
    async def slow(event: dict[str, Any], context: Context) -> None:
        return None

    with pytest.raises(TemplateError) as caught:
        build(mesh, {"EventSourceArn": QUEUE_ARN, "FunctionName": "slow"})
    assert str(caught.value) == (
        "Resources.Mapping.Properties.EventSourceArn (AWS::Lambda::EventSourceMapping): Queue "
        "visibility timeout: 30 seconds is less than Function timeout: 60 seconds"
    )


def test_an_alias_is_checked_with_every_version_it_routes_to(mesh: Mesh) -> None:
    """An alias sending 1% of invocations to a version that runs for 60 s is refused every
    time (not when a draw of its routing happens to pick that version)."""
    recorder(mesh)
    worker = mesh.get_function("worker")
    worker.publish_version()
    worker.update_configuration(timeout=60)
    worker.publish_version()
    mesh.alias(worker, "live", version="1", routing={"2": 0.01})
    with pytest.raises(TemplateError, match="less than Function timeout: 60 seconds"):
        build(mesh, {"EventSourceArn": QUEUE_ARN, "FunctionName": f"{FUNCTION_ARN}:live"})


def test_a_batch_over_ten_needs_a_batching_window(mesh: Mesh) -> None:
    recorder(mesh)
    with pytest.raises(TemplateError, match="a batch_size over 10 needs a batching_window"):
        build(mesh, {"EventSourceArn": QUEUE_ARN, "FunctionName": "worker", "BatchSize": 100})


@pytest.mark.parametrize(
    ("mapping", "member"),
    [({"EventSourceArn": QUEUE_ARN, "BatchSize": 100}, "BatchSize"),
     ({"EventSourceArn": QUEUE_ARN, "MaximumBatchingWindowInSeconds": 301},
      "MaximumBatchingWindowInSeconds"),
     ({"EventSourceArn": QUEUE_ARN, "ScalingConfig": {"MaximumConcurrency": 1}},
      "ScalingConfig.MaximumConcurrency"),
     ({"EventSourceArn": STREAM_ARN, "StartingPosition": "NOW"}, "StartingPosition"),
     ({"EventSourceArn": STREAM_ARN, "StartingPosition": "AT_TIMESTAMP"},
      "StartingPositionTimestamp"),
     ({"EventSourceArn": STREAM_ARN, "StartingPosition": "AT_TIMESTAMP",
       "StartingPositionTimestamp": 1e20}, "StartingPositionTimestamp"),
     ({"EventSourceArn": STREAM_ARN, "StartingPosition": "LATEST", "ParallelizationFactor": 11},
      "ParallelizationFactor"),
     ({"EventSourceArn": STREAM_ARN, "StartingPosition": "LATEST", "MaximumRetryAttempts": -2},
      "MaximumRetryAttempts"),
     ({"EventSourceArn": STREAM_ARN, "StartingPosition": "LATEST",
       "MaximumRecordAgeInSeconds": 59}, "MaximumRecordAgeInSeconds")],
    ids=["batch", "window", "concurrency", "position", "timestamp", "timestamp-out-of-range",
         "parallelization", "retries", "record-age"],
)  # fmt: skip
def test_a_value_the_mapping_refuses_is_named_by_its_property(
    mesh: Mesh, mapping: dict[str, Any], member: str
) -> None:
    recorder(mesh)
    with pytest.raises(TemplateError) as caught:
        build(mesh, {**mapping, "FunctionName": "worker"})
    assert str(caught.value).startswith(
        f"Resources.Mapping.Properties.{member} (AWS::Lambda::EventSourceMapping): "
    )


def test_metadata_members_are_warned_about(mesh: Mesh) -> None:
    recorder(mesh)
    app, _ = build(
        mesh,
        {"EventSourceArn": QUEUE_ARN, "FunctionName": "worker",
         "KmsKeyArn": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k",
         "MetricsConfig": {"Metrics": ["EventCount"]}},
    )  # fmt: skip
    assert app.warnings == [
        "Resources.Mapping (AWS::Lambda::EventSourceMapping): KmsKeyArn: means nothing "
        "locally, ignored",
        "Resources.Mapping (AWS::Lambda::EventSourceMapping): MetricsConfig: means nothing "
        "locally, ignored",
    ]
    assert queue_mapping(mesh).function == "worker"


async def test_sams_sns_event_with_an_sqs_subscription_delivers_through_the_queue(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """What SAM's translator makes of ``Events: {N: {Type: SNS, Properties: {Topic: !Ref
    Topic, SqsSubscription: true}}}``: a queue, its policy, a subscription and a mapping."""
    events = recorder(mesh)
    queue_arn = {"Fn::GetAtt": ["WorkerNQueue", "Arn"]}
    resources = {
        "Topic": {"Type": "AWS::SNS::Topic"},
        "WorkerNQueue": {"Type": "AWS::SQS::Queue", "Properties": {}},
        "WorkerNQueuePolicy": {"Type": "AWS::SQS::QueuePolicy", "Properties": {
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "sqs:SendMessage", "Effect": "Allow", "Principal": "*",
                 "Resource": queue_arn,
                 "Condition": {"ArnEquals": {"aws:SourceArn": {"Ref": "Topic"}}}}]},
            "Queues": [{"Ref": "WorkerNQueue"}]}},
        "WorkerN": {"Type": "AWS::SNS::Subscription", "Properties": {
            "Endpoint": queue_arn, "Protocol": "sqs", "TopicArn": {"Ref": "Topic"},
            "FilterPolicy": {"store": ["example_corp"]}}},
        "WorkerNEventSourceMapping": {"Type": "AWS::Lambda::EventSourceMapping", "Properties": {
            "BatchSize": 10, "Enabled": True, "EventSourceArn": queue_arn,
            "FunctionName": "worker"}},
    }  # fmt: skip
    app = build_application({"Resources": resources}, mesh=mesh, strict=True)
    assert app.warnings == []
    topic = mesh.context.find_resource("Topic")
    assert isinstance(topic, Topic)
    async with mesh:
        await topic.publish("skipped", attributes={"store": "other"})
        message_id = await topic.publish("order 1", attributes={"store": "example_corp"})
        await clock.advance(0)
    ((record,),) = [event["Records"] for event in events]
    envelope = json.loads(record["body"])
    assert (envelope["Message"], envelope["MessageId"]) == ("order 1", message_id)
    assert record["eventSourceARN"] == f"arn:aws:sqs:us-east-1:{ACCOUNT}:WorkerNQueue"


def test_a_kinesis_mapping_may_start_at_a_timestamp(mesh: Mesh) -> None:
    recorder(mesh)
    build(
        mesh,
        {"EventSourceArn": STREAM_ARN, "FunctionName": "worker", "StartingPosition": "AT_TIMESTAMP",
         "StartingPositionTimestamp": 1767225600, "MaximumBatchingWindowInSeconds": "2"},
    )  # fmt: skip
    mapping = stream_mapping(mesh)
    assert mapping.starting_position == "AT_TIMESTAMP"
    assert mapping.starting_position_timestamp == 1767225600.0
    assert mapping.batching_window == 2


def test_a_starting_timestamp_written_as_text_is_read(mesh: Mesh) -> None:
    """CloudFormation's Number, as a parameter's Ref gives it: text."""
    recorder(mesh)
    build(
        mesh,
        {"EventSourceArn": STREAM_ARN, "FunctionName": "worker", "StartingPosition": "AT_TIMESTAMP",
         "StartingPositionTimestamp": "1767225600.5"},
    )  # fmt: skip
    assert stream_mapping(mesh).starting_position_timestamp == 1767225600.5
