"""The events ``eventmesh generate-event`` prints: which there are, and the options each reads.

A sample is a source and an action (``sqs receive-message``) and its builder: a function of
one of this package's modules, named here as ``"module:function"`` and imported only when the
sample is chosen (the gateway's modules are not imported to print an SQS event). A builder
declares resources on an in-memory mesh (:mod:`eventmesh.cli._sample_events._sampling`) and
returns the act that makes the mesh deliver the event: the event printed is the one the mesh's
own code built, never a hand-written copy of its shape.

A new sample is a builder and one entry in :data:`SAMPLES`. Its ``defaults`` are the values of
the options it reads when they are not given (shown in ``--help``); an option it does not list
is refused for it, so a mistyped pairing is an error rather than ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["ALIASES", "COMMON_OPTIONS", "SAMPLES", "Sample", "SampleError", "find"]


class SampleError(Exception):
    """Bad input for a sample (an unknown source, an option that does not apply, a value
    the mesh refuses): one line for the user, exit status 2."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One event ``generate-event`` prints.

    ``options`` are the option names (without ``--``) it reads besides the common ones, and
    ``defaults`` their values when not given (an option without one is left out unless
    given). ``lead`` is how many virtual seconds the mesh runs before the event is due (a
    schedule's first tick comes a period after it starts): the clock starts that long
    before ``--time``, so the event carries ``--time`` itself.
    """

    source: str
    action: str
    help: str
    builder: str
    options: tuple[str, ...] = ()
    defaults: Mapping[str, str] = field(default_factory=dict)
    lead: float = 0.0


COMMON_OPTIONS: tuple[str, ...] = ("region", "account-id", "time")
"""Options every sample reads (the mesh's region and account, and the virtual clock)."""

_HTTP_OPTIONS = ("method", "path", "body", "header", "query")

SAMPLES: tuple[Sample, ...] = (
    Sample(
        "sqs",
        "receive-message",
        "a message as a queue's event source mapping delivers it (Records[0] of SQS's event)",
        "messaging:sqs_receive_message",
        ("queue-name", "body", "attributes", "group-id"),
        {"queue-name": "MyQueue", "body": "Hello from SQS!"},
    ),
    Sample(
        "sns",
        "notification",
        "a publication as a topic delivers it to a subscribed function (Records[0].Sns)",
        "messaging:sns_notification",
        ("topic", "message", "subject", "attributes"),
        {"topic": "ExampleTopic", "message": "example message", "subject": "example subject"},
    ),
    Sample(
        "s3",
        "put",
        "the notification of PutObject (ObjectCreated:Put)",
        "storage:s3_put",
        ("bucket", "key", "body", "size"),
        {"bucket": "example-bucket", "key": "test/key", "size": "1024"},
    ),
    Sample(
        "s3",
        "copy",
        "the notification of CopyObject (ObjectCreated:Copy)",
        "storage:s3_copy",
        ("bucket", "key", "body", "size"),
        {"bucket": "example-bucket", "key": "test/key", "size": "1024"},
    ),
    Sample(
        "s3",
        "delete",
        "the notification of DeleteObject (ObjectRemoved:Delete)",
        "storage:s3_delete",
        ("bucket", "key"),
        {"bucket": "example-bucket", "key": "test/key"},
    ),
    Sample(
        "kinesis",
        "get-records",
        "a record as a stream's event source mapping delivers it (Records[0].kinesis)",
        "messaging:kinesis_get_records",
        ("stream", "data", "partition-key"),
        {
            "stream": "example-stream",
            "data": "Hello, this is a test 123.",
            "partition-key": "partitionKey-03",
        },
    ),
    Sample(
        "eventbridge",
        "put-events",
        "a PutEvents entry as a rule on the default bus delivers it to its target",
        "buses:eventbridge_put_events",
        ("source", "detail-type", "detail", "resources"),
        {"source": "com.example.app", "detail-type": "Example Event", "detail": '{"key": "value"}'},
    ),
    Sample(
        "eventbridge",
        "s3-object-created",
        "S3's Object Created event, from a bucket sending its events to EventBridge",
        "storage:eventbridge_s3_object_created",
        ("bucket", "key", "body", "size"),
        {"bucket": "example-bucket", "key": "test/key", "size": "1024"},
    ),
    Sample(
        "eventbridge",
        "s3-object-deleted",
        "S3's Object Deleted event, from a bucket sending its events to EventBridge",
        "storage:eventbridge_s3_object_deleted",
        ("bucket", "key"),
        {"bucket": "example-bucket", "key": "test/key"},
    ),
    Sample(
        "schedule",
        "scheduled-event",
        "the Scheduled Event of a rule's schedule (SAM's Schedule event), at --time",
        "buses:schedule_scheduled_event",
        ("rule",),
        {"rule": "ExampleRule"},
        lead=60.0,
    ),
    Sample(
        "schedule",
        "schedule-v2",
        "what an EventBridge Scheduler schedule (SAM's ScheduleV2 event) sends its target: "
        "--input, its <aws.scheduler.*> attributes replaced; else the Scheduled Event",
        "buses:schedule_v2",
        ("schedule-name", "group-name", "input"),
        {"schedule-name": "ExampleSchedule", "group-name": "default"},
        lead=60.0,
    ),
    Sample(
        "apigateway",
        "aws-proxy",
        "a REST API's proxy event (payload 1.0), from a request to its execute-api URL",
        "http:apigateway_aws_proxy",
        ("resource", "stage", *_HTTP_OPTIONS),
        {
            "resource": "/{proxy+}",
            "stage": "prod",
            "method": "POST",
            "path": "/path/to/resource",
            "body": '{"test":"body"}',
        },
    ),
    Sample(
        "apigateway",
        "http-api-proxy",
        "an HTTP API's event (payload 2.0; 1.0 with --payload-format-version 1.0)",
        "http:apigateway_http_api_proxy",
        ("resource", "stage", "payload-format-version", *_HTTP_OPTIONS),
        {
            "resource": "$default",
            "stage": "$default",
            "payload-format-version": "2.0",
            "method": "POST",
            "path": "/path/to/resource",
            "body": '{"test":"body"}',
        },
    ),
    Sample(
        "lambda-url",
        "request",
        "a function URL's event (payload 2.0), from a request to the URL",
        "http:lambda_url_request",
        ("function-name", *_HTTP_OPTIONS),
        {
            "function-name": "my-function",
            "method": "POST",
            "path": "/path/to/resource",
            "body": '{"test":"body"}',
        },
    ),
)

ALIASES: Mapping[tuple[str, str], tuple[str, str]] = {
    ("cloudwatch", "scheduled-event"): ("schedule", "scheduled-event"),
    ("apigateway", "http-api"): ("apigateway", "http-api-proxy"),
}
"""Other names for a sample: ``sam local generate-event``'s where they differ, and short ones."""


def find(source: str, action: str) -> Sample:
    """The sample ``source action`` names (or an alias of it); SampleError naming what
    exists when there is none."""
    source, action = ALIASES.get((source, action), (source, action))
    for sample in SAMPLES:
        if sample.source == source and sample.action == action:
            return sample
    sources = sorted({sample.source for sample in SAMPLES})
    if source not in sources:
        raise SampleError(f"unknown source {source!r}: one of {', '.join(sources)}")
    actions = [sample.action for sample in SAMPLES if sample.source == source]
    raise SampleError(f"unknown action {action!r} of {source}: one of {', '.join(actions)}")
