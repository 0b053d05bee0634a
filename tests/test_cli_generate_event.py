"""``eventmesh generate-event``: each sample is the event the mesh delivers, in AWS's shape
(checked with Powertools' parser models and data classes), carrying the options given; bad
names and options are one line and exit status 2.

Expected values are written out: digests and base64 computed by hand from the inputs, times
from ``--time``, ARNs from ``--region`` and ``--account-id``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import (
    APIGatewayProxyEvent,
    APIGatewayProxyEventV2,
    EventBridgeEvent,
    KinesisStreamEvent,
    LambdaFunctionUrlEvent,
    S3Event,
    S3EventBridgeNotificationEvent,
    SNSEvent,
    SQSEvent,
)
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayProxyEventModel,
    APIGatewayProxyEventV2Model,
    EventBridgeModel,
    KinesisDataStreamModel,
    LambdaFunctionUrlModel,
    S3EventNotificationEventBridgeModel,
    S3Model,
    SnsModel,
    SqsModel,
)

from eventmesh.cli import main
from eventmesh.cli._sample_events import SAMPLES

WHEN = "2026-03-01T12:00:00Z"
WHEN_MS = 1_772_366_400_000  # WHEN in epoch milliseconds
WHERE = ["--region", "eu-west-3", "--account-id", "210987654321", "--time", WHEN]


def generate(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    """The event printed for ``args``; the command must succeed and print JSON only."""
    assert main(["generate-event", *args]) == 0
    out = capsys.readouterr().out
    return json.loads(out)


def refused(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """The one line printed on stderr for ``args``, which must exit with status 2."""
    assert main(["generate-event", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("eventmesh generate-event: ")
    return lines[0]


# -- sqs ---------------------------------------------------------------------------------------
def test_sqs_receive_message_defaults_are_sams(capsys: pytest.CaptureFixture[str]) -> None:
    event = generate(capsys, "sqs", "receive-message")
    SqsModel.model_validate(event)
    (record,) = event["Records"]
    assert record["body"] == "Hello from SQS!"
    assert record["md5OfBody"] == "7b270e59b47ff90a553787216d55d91d"
    assert record["eventSourceARN"] == "arn:aws:sqs:us-east-1:123456789012:MyQueue"
    assert record["awsRegion"] == "us-east-1"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"] == {}


def test_sqs_receive_message_carries_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    event = generate(
        capsys,
        "sqs",
        "receive-message",
        "--queue-name",
        "orders",
        "--body",
        '{"id": 1}',
        "--attributes",
        '{"origin": "web", "n": {"DataType": "Number", "StringValue": "7"}}',
        *WHERE,
    )
    SqsModel.model_validate(event)
    record = next(SQSEvent(event).records)
    assert record.body == '{"id": 1}'
    assert record.json_body == {"id": 1}
    assert record["md5OfBody"] == "f3e56c602771e9541aef61d502562b89"
    assert record.event_source_arn == "arn:aws:sqs:eu-west-3:210987654321:orders"
    assert record.aws_region == "eu-west-3"
    assert record["attributes"]["SentTimestamp"] == str(WHEN_MS)
    assert record["messageAttributes"] == {
        "origin": {
            "stringValue": "web",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        },
        "n": {
            "stringValue": "7",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "Number",
        },
    }
    assert re.fullmatch(r"[0-9a-f]{32}", record["md5OfMessageAttributes"])


def test_sqs_fifo_queue_gives_the_group(capsys: pytest.CaptureFixture[str]) -> None:
    event = generate(
        capsys,
        "sqs",
        "receive-message",
        "--queue-name",
        "orders.fifo",
        "--group-id",
        "cart-9",
        "--time",
        "1772366400.5",  # epoch seconds
        "--region",
        "us-gov-west-1",
    )
    SqsModel.model_validate(event)
    attributes = event["Records"][0]["attributes"]
    assert attributes["MessageGroupId"] == "cart-9"
    # content-based deduplication: the SHA-256 of "Hello from SQS!"
    assert attributes["MessageDeduplicationId"] == (
        "232c6a1c6c288a09818c289aaf42aa5957ffc384537f152b9883422d2f0353c3"
    )
    assert "SequenceNumber" in attributes
    assert attributes["SentTimestamp"] == "1772366400500"
    assert (
        event["Records"][0]["eventSourceARN"]
        == "arn:aws:sqs:us-gov-west-1:123456789012:orders.fifo"
    )


def test_a_group_for_a_standard_queue_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    line = refused(capsys, "sqs", "receive-message", "--group-id", "g")
    assert "--group-id" in line and ".fifo" in line


def test_what_the_queue_refuses_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert "must not be empty" in refused(capsys, "sqs", "receive-message", "--body", "")
    assert "--attributes: not JSON" in refused(
        capsys, "sqs", "receive-message", "--attributes", "{nope"
    )
    assert "--attributes: a JSON object" in refused(
        capsys, "sqs", "receive-message", "--attributes", "[1]"
    )


# -- sns ---------------------------------------------------------------------------------------
def test_sns_notification_carries_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    event = generate(
        capsys,
        "sns",
        "notification",
        "--topic",
        "alerts",
        "--message",
        "disk full",
        "--subject",
        "ops",
        "--attributes",
        '{"severity": "critical"}',
        *WHERE,
    )
    SnsModel.model_validate(event)
    record = SNSEvent(event).record
    assert record.event_source == "aws:sns"
    sns = record.sns
    assert sns.message == "disk full"
    assert sns.subject == "ops"
    assert sns.topic_arn == "arn:aws:sns:eu-west-3:210987654321:alerts"
    assert sns.timestamp == "2026-03-01T12:00:00.000Z"
    assert event["Records"][0]["Sns"]["MessageAttributes"] == {
        "severity": {"Type": "String", "Value": "critical"}
    }
    assert record.event_subscription_arn.startswith("arn:aws:sns:eu-west-3:210987654321:alerts:")


def test_sns_defaults_are_sams_and_an_empty_subject_is_none(
    capsys: pytest.CaptureFixture[str],
) -> None:
    event = generate(capsys, "sns", "notification")
    SnsModel.model_validate(event)
    sns = event["Records"][0]["Sns"]
    assert (sns["Message"], sns["Subject"]) == ("example message", "example subject")
    assert sns["TopicArn"] == "arn:aws:sns:us-east-1:123456789012:ExampleTopic"
    event = generate(capsys, "sns", "notification", "--subject", "")
    SnsModel.model_validate(event)
    assert event["Records"][0]["Sns"]["Subject"] is None


# -- s3 ----------------------------------------------------------------------------------------
def test_s3_put_encodes_the_key_as_s3_does(capsys: pytest.CaptureFixture[str]) -> None:
    event = generate(
        capsys,
        "s3",
        "put",
        "--bucket",
        "uploads",
        "--key",
        "images/red flower.jpg",
        "--body",
        "hello",
        *WHERE,
    )
    S3Model.model_validate(event)
    record = S3Event(event).record
    assert record.event_name == "ObjectCreated:Put"
    assert record.aws_region == "eu-west-3"
    assert record.event_time == "2026-03-01T12:00:00.000Z"
    assert record.s3.bucket.name == "uploads"
    assert record.s3.bucket.arn == "arn:aws:s3:::uploads"
    obj = event["Records"][0]["s3"]["object"]
    assert obj["key"] == "images/red+flower.jpg"
    assert S3Event(event).object_key == "images/red flower.jpg"  # Powertools decodes it back
    assert obj["size"] == 5
    assert obj["eTag"] == "5d41402abc4b2a76b9719d911017c592"  # MD5 of "hello"


def test_s3_put_and_copy_default_to_1024_bytes(capsys: pytest.CaptureFixture[str]) -> None:
    for action, name in (("put", "ObjectCreated:Put"), ("copy", "ObjectCreated:Copy")):
        event = generate(capsys, "s3", action)
        S3Model.model_validate(event)
        (record,) = event["Records"]
        assert record["eventName"] == name
        assert record["s3"]["bucket"]["name"] == "example-bucket"
        assert record["s3"]["object"]["key"] == "test/key"
        assert record["s3"]["object"]["size"] == 1024
        assert record["s3"]["object"]["eTag"] == "0f343b0931126a20f133d67c2b018a3b"
    event = generate(capsys, "s3", "put", "--size", "0")
    assert event["Records"][0]["s3"]["object"]["eTag"] == "d41d8cd98f00b204e9800998ecf8427e"


def test_s3_delete_has_no_size(capsys: pytest.CaptureFixture[str]) -> None:
    event = generate(capsys, "s3", "delete", "--key", "a+b=c", *WHERE)
    S3Model.model_validate(event)
    (record,) = event["Records"]
    assert record["eventName"] == "ObjectRemoved:Delete"
    assert record["s3"]["object"]["key"] == "a%2Bb%3Dc"
    assert "size" not in record["s3"]["object"] and "eTag" not in record["s3"]["object"]


def test_s3_size_and_body_are_one_or_the_other(capsys: pytest.CaptureFixture[str]) -> None:
    assert "--body and --size" in refused(capsys, "s3", "put", "--body", "x", "--size", "1")
    assert "--size" in refused(capsys, "s3", "put", "--size", "lots")
    assert "--body" in refused(capsys, "s3", "delete", "--body", "x")  # not read by delete


# -- kinesis -----------------------------------------------------------------------------------
def test_kinesis_get_records_carries_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    event = generate(
        capsys,
        "kinesis",
        "get-records",
        "--stream",
        "clicks",
        "--data",
        '{"a":1}',
        "--partition-key",
        "user-1",
        *WHERE,
    )
    KinesisDataStreamModel.model_validate(event)
    record = next(KinesisStreamEvent(event).records)
    assert record.kinesis.data == "eyJhIjoxfQ=="
    assert record.kinesis.data_as_json() == {"a": 1}
    assert record.kinesis.partition_key == "user-1"
    assert record.kinesis.approximate_arrival_timestamp == 1_772_366_400.0
    assert record.event_source_arn == "arn:aws:kinesis:eu-west-3:210987654321:stream/clicks"
    assert record.event_id == f"shardId-000000000000:{record.kinesis.sequence_number}"


def test_kinesis_defaults_are_sams(capsys: pytest.CaptureFixture[str]) -> None:
    event = generate(capsys, "kinesis", "get-records")
    KinesisDataStreamModel.model_validate(event)
    kinesis = event["Records"][0]["kinesis"]
    assert kinesis["data"] == "SGVsbG8sIHRoaXMgaXMgYSB0ZXN0IDEyMy4="  # "Hello, this is a test 123."
    assert kinesis["partitionKey"] == "partitionKey-03"


# -- eventbridge and schedules -----------------------------------------------------------------
def test_eventbridge_put_events_carries_the_entry(capsys: pytest.CaptureFixture[str]) -> None:
    event = generate(
        capsys,
        "eventbridge",
        "put-events",
        "--source",
        "shop",
        "--detail-type",
        "OrderPlaced",
        "--detail",
        '{"order_id": "A-1", "total": 150}',
        "--resources",
        "arn:aws:s3:::a, arn:aws:s3:::b",
        *WHERE,
    )
    EventBridgeModel.model_validate(event)
    data = EventBridgeEvent(event)
    assert data.source == "shop"
    assert data.detail_type == "OrderPlaced"
    assert data.detail == {"order_id": "A-1", "total": 150}
    assert data.resources == ["arn:aws:s3:::a", "arn:aws:s3:::b"]
    assert data.time == "2026-03-01T12:00:00Z"
    assert (data.region, data.account) == ("eu-west-3", "210987654321")
    assert event["version"] == "0"


def test_a_detail_eventbridge_refuses_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    line = refused(capsys, "eventbridge", "put-events", "--detail", "[1]")
    assert "PutEvents refused the entry: MalformedDetail" in line


def test_s3_object_created_on_eventbridge(capsys: pytest.CaptureFixture[str]) -> None:
    event = generate(
        capsys,
        "eventbridge",
        "s3-object-created",
        "--bucket",
        "uploads",
        "--key",
        "images/red flower.jpg",
        "--body",
        "hello",
        *WHERE,
    )
    S3EventNotificationEventBridgeModel.model_validate(event)
    data = S3EventBridgeNotificationEvent(event)
    assert data.source == "aws.s3"
    assert data.detail_type == "Object Created"
    assert data.detail.bucket.name == "uploads"
    assert data.detail.object.key == "images/red flower.jpg"  # not URL-encoded on EventBridge
    assert data.detail.object.size == 5
    assert data.detail.object.etag == "5d41402abc4b2a76b9719d911017c592"
    assert data.detail.reason == "PutObject"
    assert data.resources == ["arn:aws:s3:::uploads"]
    assert data.time == "2026-03-01T12:00:00Z"


def test_s3_object_deleted_on_eventbridge(capsys: pytest.CaptureFixture[str]) -> None:
    event = generate(capsys, "eventbridge", "s3-object-deleted", "--key", "gone.txt")
    S3EventNotificationEventBridgeModel.model_validate(event)
    assert event["detail-type"] == "Object Deleted"
    assert event["detail"]["object"]["key"] == "gone.txt"
    assert event["detail"]["reason"] == "DeleteObject"
    assert event["detail"]["deletion-type"] == "Permanently Deleted"


def test_schedule_scheduled_event_is_at_the_time_given(capsys: pytest.CaptureFixture[str]) -> None:
    event = generate(capsys, "schedule", "scheduled-event", "--rule", "nightly", *WHERE)
    EventBridgeModel.model_validate(event)
    id_ = event.pop("id")
    assert re.fullmatch(r"[0-9a-f-]{36}", id_)
    assert event == {
        "version": "0",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "210987654321",
        "time": "2026-03-01T12:00:00Z",
        "region": "eu-west-3",
        "resources": ["arn:aws:events:eu-west-3:210987654321:rule/nightly"],
        "detail": {},
    }


def test_sams_cloudwatch_name_is_the_scheduled_event(capsys: pytest.CaptureFixture[str]) -> None:
    event = generate(capsys, "cloudwatch", "scheduled-event", "--time", "2026-03-01T12:00:00")
    assert event["detail-type"] == "Scheduled Event"
    assert event["time"] == "2026-03-01T12:00:00Z"  # a time without zone is UTC
    assert event["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/ExampleRule"]


def test_schedule_v2_delivers_the_input_as_it_is(capsys: pytest.CaptureFixture[str]) -> None:
    event = generate(capsys, "schedule", "schedule-v2", "--input", '{"job": "nightly", "n": [1]}')
    assert event == {"job": "nightly", "n": [1]}


def test_schedule_v2_replaces_schedulers_context_attributes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = (
        '{"arn": "<aws.scheduler.schedule-arn>", "at": "<aws.scheduler.scheduled-time>", '
        '"id": "<aws.scheduler.execution-id>", "attempt": "<aws.scheduler.attempt-number>"}'
    )
    event = generate(
        capsys,
        "schedule",
        "schedule-v2",
        "--group-name",
        "jobs",
        "--schedule-name",
        "purge",
        "--input",
        text,
        *WHERE,
    )
    assert not event.pop("id").startswith("<")  # replaced: a new one for each attempt
    assert event == {
        "arn": "arn:aws:scheduler:eu-west-3:210987654321:schedule/jobs/purge",
        "at": "2026-03-01T12:00:00Z",
        "attempt": "1",
    }


def test_schedule_v2_without_input_is_the_scheduled_event(
    capsys: pytest.CaptureFixture[str],
) -> None:
    event = generate(capsys, "schedule", "schedule-v2", "--schedule-name", "purge", *WHERE)
    EventBridgeModel.model_validate(event)
    assert event["detail-type"] == "Scheduled Event"
    assert event["time"] == "2026-03-01T12:00:00Z"
    assert event["resources"] == ["arn:aws:scheduler:eu-west-3:210987654321:schedule/default/purge"]


def test_schedule_v2_input_a_function_cannot_take_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = refused(capsys, "schedule", "schedule-v2", "--input", "not json")
    assert "Target Input must be well-formed JSON" in line


# -- apigateway and function URLs ----------------------------------------------------------
def test_apigateway_aws_proxy_defaults_are_sams(capsys: pytest.CaptureFixture[str]) -> None:
    event = generate(capsys, "apigateway", "aws-proxy")
    APIGatewayProxyEventModel.model_validate(event)
    assert event["resource"] == "/{proxy+}"
    assert event["path"] == "/path/to/resource"
    assert event["httpMethod"] == "POST"
    assert event["pathParameters"] == {"proxy": "path/to/resource"}
    assert event["body"] == '{"test":"body"}'
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["stage"] == "prod"
    assert context["path"] == "/prod/path/to/resource"
    assert re.fullmatch(
        r"[a-z0-9]{10}\.execute-api\.us-east-1\.amazonaws\.com", context["domainName"]
    )
    assert context["domainName"] == f"{context['apiId']}.execute-api.us-east-1.amazonaws.com"


def test_apigateway_aws_proxy_carries_the_request(capsys: pytest.CaptureFixture[str]) -> None:
    event = generate(
        capsys,
        "apigateway",
        "aws-proxy",
        "--method",
        "get",
        "--resource",
        "/orders/{id}",
        "--path",
        "orders/a b",
        "--query",
        "?x=1&x=2&y=3",
        "--header",
        "X-Trace: abc",
        "--header",
        "content-type: text/plain",
        "--stage",
        "live",
        "--body",
        "hi",
        *WHERE,
    )
    APIGatewayProxyEventModel.model_validate(event)
    data = APIGatewayProxyEvent(event)
    assert data.http_method == "GET"
    assert data.resource == "/orders/{id}"
    assert data.path == "/orders/a b"
    assert data.path_parameters == {"id": "a b"}
    assert data.query_string_parameters == {"x": "2", "y": "3"}
    assert data.multi_value_query_string_parameters == {"x": ["1", "2"], "y": ["3"]}
    assert event["headers"]["X-Trace"] == "abc"
    assert event["headers"]["Content-Type"] == "text/plain"
    assert data.body == "hi"
    context = event["requestContext"]
    assert context["stage"] == "live"
    assert context["path"] == "/live/orders/a b"
    assert context["accountId"] == "210987654321"
    assert context["requestTimeEpoch"] == WHEN_MS
    assert context["requestTime"] == "01/Mar/2026:12:00:00 +0000"
    assert context["domainName"].endswith(".execute-api.eu-west-3.amazonaws.com")


def test_apigateway_http_api_default_route(capsys: pytest.CaptureFixture[str]) -> None:
    event = generate(capsys, "apigateway", "http-api-proxy", *WHERE)
    APIGatewayProxyEventV2Model.model_validate(event)
    assert event["version"] == "2.0"
    assert event["routeKey"] == "$default"
    assert event["rawPath"] == "/path/to/resource"
    assert event["body"] == '{"test":"body"}'
    context = event["requestContext"]
    assert context["stage"] == "$default"
    assert context["http"]["method"] == "POST"
    assert context["timeEpoch"] == WHEN_MS
    assert re.fullmatch(r"[A-Za-z0-9+/]{15}=", context["requestId"])


def test_apigateway_http_api_route_and_stage(capsys: pytest.CaptureFixture[str]) -> None:
    event = generate(
        capsys,
        "apigateway",
        "http-api",  # the short name of http-api-proxy
        "--method",
        "PUT",
        "--resource",
        "/orders/{id}",
        "--path",
        "/orders/7",
        "--stage",
        "beta",
        "--query",
        "a=1&a=2",
        "--header",
        "Cookie: c1=x; c2=y",
    )
    APIGatewayProxyEventV2Model.model_validate(event)
    data = APIGatewayProxyEventV2(event)
    assert data.route_key == "PUT /orders/{id}"
    assert data.path_parameters == {"id": "7"}
    assert data.raw_path == "/beta/orders/7"
    assert data.raw_query_string == "a=1&a=2"
    assert data.query_string_parameters == {"a": "1,2"}
    assert data.cookies == ["c1=x", "c2=y"]
    assert event["requestContext"]["stage"] == "beta"


def test_apigateway_http_api_payload_1_0(capsys: pytest.CaptureFixture[str]) -> None:
    event = generate(
        capsys,
        "apigateway",
        "http-api-proxy",
        "--payload-format-version",
        "1.0",
        "--resource",
        "/items/{id}",
        "--method",
        "GET",
        "--path",
        "/items/3",
    )
    APIGatewayProxyEventModel.model_validate(event)
    assert event["version"] == "1.0"
    assert event["resource"] == "/items/{id}"
    assert event["pathParameters"] == {"id": "3"}
    assert event["requestContext"]["routeKey"] == "GET /items/{id}"


def test_a_path_the_route_does_not_match_is_the_gateways_answer(
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = refused(
        capsys, "apigateway", "aws-proxy", "--resource", "/orders/{id}", "--path", "/x/y/z"
    )
    assert "the gateway answered 403" in line or "the gateway answered 404" in line


def test_bad_requests_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert "--method" in refused(capsys, "apigateway", "aws-proxy", "--method", "FETCH")
    assert "--header" in refused(capsys, "apigateway", "aws-proxy", "--header", "no colon")
    assert "Host" in refused(capsys, "lambda-url", "request", "--header", "Host: example.com")
    assert "--query" in refused(capsys, "lambda-url", "request", "--path", "/a?b=1")


def test_lambda_url_request(capsys: pytest.CaptureFixture[str]) -> None:
    event = generate(
        capsys,
        "lambda-url",
        "request",
        "--function-name",
        "orders",
        "--method",
        "GET",
        "--path",
        "/items",
        "--query",
        "limit=5",
        "--header",
        "User-Agent: curl/8",
        *WHERE,
    )
    LambdaFunctionUrlModel.model_validate(event)
    data = LambdaFunctionUrlEvent(event)
    assert data.raw_path == "/items"
    assert data.query_string_parameters == {"limit": "5"}
    assert data.body == '{"test":"body"}'
    context = event["requestContext"]
    assert re.fullmatch(r"[a-z0-9]{32}\.lambda-url\.eu-west-3\.on\.aws", context["domainName"])
    assert context["http"]["userAgent"] == "curl/8"
    assert context["http"]["method"] == "GET"
    assert context["timeEpoch"] == WHEN_MS
    assert (event["routeKey"], context["stage"]) == ("$default", "$default")
    assert context["authorizer"] is None


# -- names, options, help ----------------------------------------------------------------------
def test_unknown_source_action_or_option_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    line = refused(capsys, "sqss", "receive-message")
    assert "unknown source 'sqss'" in line and "sqs" in line
    line = refused(capsys, "s3", "upload")
    assert "unknown action 'upload' of s3: one of put, copy, delete" in line
    line = refused(capsys, "sqs", "receive-message", "--key", "k", "--stream", "s")
    assert "--key, --stream: not an option of sqs receive-message" in line
    assert "--region" in refused(capsys, "sqs", "receive-message", "--region", "")
    assert "--region" in refused(capsys, "sqs", "receive-message", "--region", "mars/1")
    assert "--account-id" in refused(capsys, "sqs", "receive-message", "--account-id", "12")
    for bad in ("yesterday", "nan", "inf", "-1", "1e300", "0001-01-01T00:00:00+00:00"):
        assert "--time" in refused(capsys, "sqs", "receive-message", "--time", bad)


def test_help_lists_every_sample_and_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["generate-event", "--help"])
    assert stopped.value.code == 0
    text = capsys.readouterr().out
    for sample in SAMPLES:
        assert f"{sample.source} {sample.action}:" in text
        for option in sample.options:
            assert f"--{option}" in text
    for option in ("--region", "--account-id", "--time"):
        assert option in text
    assert "--queue-name (MyQueue)" in text  # defaults are shown


def test_every_sample_prints_an_event(capsys: pytest.CaptureFixture[str]) -> None:
    for sample in SAMPLES:
        event = generate(capsys, sample.source, sample.action)
        assert isinstance(event, dict) and event, sample


def test_the_output_reads_back_and_only_the_chosen_builder_is_imported() -> None:
    """In a process of its own: stdout is the JSON alone, and an SQS event imports only the
    builders of its own module (not those of HTTP, buckets or buses)."""
    code = (
        "import sys\n"
        "from eventmesh.cli import main\n"
        "status = main(['generate-event', 'sqs', 'receive-message', '--body', 'x'])\n"
        "others = ('http', 'storage', 'buses')\n"
        "loaded = [m for m in others if f'eventmesh.cli._sample_events.{m}' in sys.modules]\n"
        "print(status, loaded, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stderr.strip().splitlines()[-1] == "0 []", done.stderr
    assert json.loads(done.stdout)["Records"][0]["body"] == "x"


def test_an_unknown_source_from_the_command_line_exits_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "eventmesh.cli", "generate-event", "dynamodb", "update"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "eventmesh generate-event: unknown source 'dynamodb': one of apigateway, eventbridge, "
        "kinesis, lambda-url, s3, schedule, sns, sqs"
    ]


_APP = """
from aws_lambda_powertools.utilities.data_classes import SQSEvent

from eventmesh import Mesh

mesh = Mesh()


@mesh.function
def bodies(event, context):
    return [record.body for record in SQSEvent(event).records]

"""


def _piped(cwd: Any, generate: list[str], invoke: list[str]) -> tuple[int, str]:
    """``eventmesh generate-event ... | eventmesh invoke ... --event -`` in ``cwd``: the
    invoke's exit status and stdout."""
    command = [sys.executable, "-m", "eventmesh.cli"]
    with subprocess.Popen(
        [*command, "generate-event", *generate], stdout=subprocess.PIPE, cwd=cwd
    ) as producer:
        done = subprocess.run(
            [*command, "invoke", *invoke, "--event", "-"],
            stdin=producer.stdout,
            capture_output=True,
            text=True,
            cwd=cwd,
            timeout=60,
            check=False,
        )
    assert producer.returncode == 0
    return done.returncode, done.stdout


def test_a_generated_event_pipes_into_invoke(tmp_path: Any) -> None:
    """The story of the README, in real processes (two, hence a few seconds): what
    generate-event prints is what invoke reads, and a handler written for Lambda (with
    Powertools' data classes) finds the fields it expects."""
    (tmp_path / "app.py").write_text(_APP)
    status, out = _piped(
        tmp_path, ["sqs", "receive-message", "--body", "hello"], ["bodies", "app:mesh"]
    )
    assert status == 0
    assert json.loads(out) == ["hello"]
