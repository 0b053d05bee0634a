"""``AWS::S3::Bucket`` from plain CloudFormation: names, Ref and GetAtt as CloudFormation
gives them, the ``NotificationConfiguration`` in CloudFormation's spelling (delivered end to
end to functions declared in code and named by ARN, a queue and a topic), EventBridge
notifications, and the errors and warnings a template gets.

The values of ``Fn::GetAtt`` are written out from CloudFormation's documentation of
``AWS::S3::Bucket`` (``arn:aws:s3:::mybucket``, ``mybucket.s3.amazonaws.com``,
``mybucket.s3.dualstack.us-east-2.amazonaws.com``, ``http://mybucket.s3-website-us-east-2
.amazonaws.com``) for the mesh's region, us-east-1.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

import orjson
import pytest

from eventmesh import Context, Mesh
from eventmesh.resources.bucket import Bucket
from eventmesh.sam import TemplateError, build_application
from eventmesh.testing import VirtualClock

FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:"


def template(resources: dict[str, Any], outputs: dict[str, Any] | None = None) -> dict[str, Any]:
    document: dict[str, Any] = {"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources}
    if outputs:
        document["Outputs"] = outputs
    return document


def bucket(**properties: Any) -> dict[str, Any]:
    return {"Type": "AWS::S3::Bucket", "Properties": properties}


def recorder(mesh: Mesh, name: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []

    @mesh.function(name=name)
    async def handler(event: dict[str, Any], context: Context) -> None:
        records.append(event["Records"][0])

    return records


def test_ref_and_getatt_are_cloudformations(mesh: Mesh) -> None:
    app = build_application(
        template(
            {"Uploads": bucket(BucketName="my-uploads"), "Logs": bucket()},
            {
                "Name": {"Value": {"Ref": "Uploads"}},
                "Arn": {"Value": {"Fn::GetAtt": ["Uploads", "Arn"]}},
                "Domain": {"Value": {"Fn::GetAtt": ["Uploads", "DomainName"]}},
                "DualStack": {"Value": {"Fn::GetAtt": ["Uploads", "DualStackDomainName"]}},
                "Regional": {"Value": {"Fn::GetAtt": ["Uploads", "RegionalDomainName"]}},
                "Website": {"Value": {"Fn::GetAtt": ["Uploads", "WebsiteURL"]}},
                "Logs": {"Value": {"Ref": "Logs"}},
            },
        ),
        mesh=mesh,
    )
    assert app.outputs == {
        "Name": "my-uploads",
        "Arn": "arn:aws:s3:::my-uploads",
        "Domain": "my-uploads.s3.amazonaws.com",
        "DualStack": "my-uploads.s3.dualstack.us-east-1.amazonaws.com",
        "Regional": "my-uploads.s3.us-east-1.amazonaws.com",
        "Website": "http://my-uploads.s3-website-us-east-1.amazonaws.com",
        "Logs": "logs",  # no BucketName: the logical id, lower-cased
    }
    assert isinstance(app.resources["Uploads"].value, Bucket)
    assert mesh.bucket("my-uploads") is app.resources["Uploads"].value
    assert app.warnings == []


def test_a_newer_region_s_website_url_has_a_dot() -> None:
    mesh = Mesh(region="eu-central-1")
    app = build_application(
        template({"B": bucket()}, {"Url": {"Value": {"Fn::GetAtt": ["B", "WebsiteURL"]}}}),
        mesh=mesh,
        stack_name="shop",
    )
    # A logical id too short for a bucket name gets the stack name in front.
    assert app.outputs == {"Url": "http://shop-b.s3-website.eu-central-1.amazonaws.com"}


def test_a_bad_bucket_name_names_its_property(mesh: Mesh) -> None:
    with pytest.raises(TemplateError) as caught:
        build_application(template({"Up": bucket(BucketName="Not_Valid")}), mesh=mesh)
    assert str(caught.value).startswith(
        "Resources.Up.Properties.BucketName (AWS::S3::Bucket): bucket name 'Not_Valid'"
    )


async def test_notifications_in_cloudformations_spelling(mesh: Mesh, clock: VirtualClock) -> None:
    """What SAM's S3 event writes (``LambdaConfigurations`` naming the function by ARN, one
    ``Event``, ``Filter.S3Key.Rules``), and queue and topic configurations."""
    images = recorder(mesh, "images")
    removed = recorder(mesh, "removed")
    queue = mesh.queue("csv-files")
    topic = mesh.topic("everything-else")
    topic_inbox = mesh.queue("topic-inbox")
    topic.subscribe(topic_inbox)
    notifications = {
        "LambdaConfigurations": [
            {
                "Event": "s3:ObjectCreated:*",
                "Function": FUNCTION_ARN + "images",
                "Filter": {"S3Key": {"Rules": [
                    {"Name": "prefix", "Value": "images/"}, {"Name": "suffix", "Value": ".jpg"},
                ]}},
            },
            {"Event": "s3:ObjectRemoved:*", "Function": FUNCTION_ARN + "removed"},
        ],
        "QueueConfigurations": [
            {
                "Event": "s3:ObjectCreated:Put",
                "Queue": queue.arn,
                "Filter": {"S3Key": {"Rules": [{"Name": "suffix", "Value": ".csv"}]}},
            }
        ],
        "TopicConfigurations": [
            {
                "Event": "s3:ObjectCreated:Copy",
                "Topic": topic.arn,
                "Filter": {"S3Key": {"Rules": [{"Name": "Prefix", "Value": "data/"}]}},
            }
        ],
    }  # fmt: skip
    build_application(
        template({"Uploads": bucket(NotificationConfiguration=notifications)}), mesh=mesh
    )
    uploads = mesh.bucket("uploads")
    async with mesh:
        await uploads.put_object("images/red flower.jpg", b"hello")
        await uploads.put_object("images/red flower.png", b"hello")
        await uploads.put_object("data/a.csv", b"1,2")
        await uploads.copy_object("data/a.csv", "data/b.txt")
        await uploads.delete_object("images/red flower.png")
        await mesh.drain()
        [csv_message] = await queue.receive(10)
        [topic_message] = await topic_inbox.receive(10)

    assert [unquote_plus(r["s3"]["object"]["key"]) for r in images] == ["images/red flower.jpg"]
    assert [(r["eventName"], r["s3"]["object"]["key"]) for r in removed] == [
        ("ObjectRemoved:Delete", "images/red+flower.png")
    ]
    [csv_record] = orjson.loads(csv_message.body)["Records"]
    assert csv_record["s3"]["object"]["key"] == "data/a.csv"
    [copy_record] = orjson.loads(topic_message.json()["Message"])["Records"]
    assert (copy_record["eventName"], copy_record["s3"]["object"]["key"]) == (
        "ObjectCreated:Copy",
        "data/b.txt",
    )


async def test_a_target_named_by_a_literal_arn_may_come_later(mesh: Mesh) -> None:
    """No Ref or GetAtt orders the queue first: the configuration waits for the whole
    template."""
    notifications = {"QueueConfigurations": [{
        "Event": "s3:ObjectCreated:*",
        "Queue": "arn:aws:sqs:us-east-1:123456789012:later-queue",
    }]}  # fmt: skip
    build_application(
        template(
            {
                "Uploads": bucket(NotificationConfiguration=notifications),
                "Later": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "later-queue"}},
            }
        ),
        mesh=mesh,
    )
    async with mesh:
        await mesh.bucket("uploads").put_object("k", b"")
        [message] = await mesh.queue("later-queue").receive(10)
    assert orjson.loads(message.body)["Records"][0]["s3"]["object"]["key"] == "k"


async def test_eventbridge_configuration(mesh: Mesh) -> None:
    events: list[dict[str, Any]] = []

    async def keep(event: dict[str, Any]) -> None:
        events.append(event)

    mesh.bus().rule(
        "created",
        {"source": ["aws.s3"], "detail-type": ["Object Created"]},
        targets=[keep],
    )
    on = {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}
    off = {"EventBridgeConfiguration": {"EventBridgeEnabled": "false"}}
    app = build_application(
        template(
            {
                "Loud": bucket(NotificationConfiguration=on),
                "Quiet": bucket(NotificationConfiguration=off),
                "Bare": bucket(NotificationConfiguration={"EventBridgeConfiguration": {}}),
            }
        ),
        mesh=mesh,
    )
    assert [app.resources[n].value.eventbridge for n in ("Loud", "Quiet", "Bare")] == [
        True,
        False,
        True,  # EventBridgeEnabled defaults to true
    ]
    async with mesh:
        for name in ("loud", "quiet", "bare"):
            await mesh.bucket(name).put_object("k", b"")
        await mesh.drain()
    assert sorted(e["detail"]["bucket"]["name"] for e in events) == ["bare", "loud"]


@pytest.mark.parametrize(
    ("notifications", "path", "message"),
    [
        (
            {"LambdaConfigurations": [
                {"Event": "s3:ObjectCreated:*", "Function": FUNCTION_ARN + "worker"},
                {"Event": "s3:ObjectCreated:Put", "Function": FUNCTION_ARN + "worker"},
            ]},
            "NotificationConfiguration.LambdaConfigurations[1]",
            "Configuration is ambiguously defined. Cannot have overlapping suffixes in two "
            "rules if the prefixes are overlapping for the same event type.",
        ),
        (
            {"QueueConfigurations": [{"Event": "s3:ObjectCreated", "Queue": "x"}]},
            "NotificationConfiguration.QueueConfigurations[0].Event",
            "The event is not supported for notifications",
        ),
        (
            {"LambdaConfigurations": [{
                "Event": "s3:ObjectCreated:*", "Function": FUNCTION_ARN + "worker",
                "Filter": {"S3Key": {"Rules": [
                    {"Name": "suffix", "Value": ".a"}, {"Name": "suffix", "Value": ".b"},
                ]}},
            }]},
            "NotificationConfiguration.LambdaConfigurations[0].Filter.S3Key.Rules[1]",
            "Cannot specify more than one suffix rule in a filter.",
        ),
        (
            {"LambdaConfigurations": [{"Event": "s3:ObjectCreated:*"}]},
            "NotificationConfiguration.LambdaConfigurations[0].Function",
            "Function is required",
        ),
        (
            {"LambdaConfigurations": [
                {"Event": "s3:ObjectCreated:*", "Function": "nobody"},
            ]},
            "NotificationConfiguration.LambdaConfigurations[0].Function",
            "nobody names no function of the template or the mesh",
        ),
        (
            {"QueueConfigurations": [{
                "Event": "s3:ObjectCreated:*",
                "Queue": "arn:aws:sqs:us-east-1:123456789012:jobs.fifo",
            }]},
            "NotificationConfiguration.QueueConfigurations[0].Queue",
            "arn:aws:sqs:us-east-1:123456789012:jobs.fifo is a FIFO queue; S3 notifies only "
            "standard queues",
        ),
        (
            {"TopicConfigurations": [{
                "Event": "s3:ObjectCreated:*",
                "Topic": "arn:aws:sqs:us-east-1:123456789012:jobs.fifo",
            }]},
            "NotificationConfiguration.TopicConfigurations[0].Topic",
            "arn:aws:sqs:us-east-1:123456789012:jobs.fifo names no topic of the template or "
            "the mesh",
        ),
        (
            {"EventBridgeConfiguration": {"EventBridgeEnabled": "maybe"}},
            "NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled",
            "must be true or false, got 'maybe'",
        ),
        (  # the API's spelling, which CloudFormation does not take
            {"LambdaFunctionConfigurations": [
                {"Events": ["s3:ObjectCreated:*"], "LambdaFunctionArn": FUNCTION_ARN + "worker"},
            ]},
            "NotificationConfiguration",
            "extraneous key [LambdaFunctionConfigurations] is not permitted",
        ),
        (
            {"QueueConfigurations": [{
                "Event": "s3:ObjectCreated:*", "Queue": "arn:aws:sqs:us-east-1:123456789012:q",
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "in/"}]}},
            }]},
            "NotificationConfiguration.QueueConfigurations[0].Filter",
            "extraneous key [Key] is not permitted",
        ),
        (
            {"LambdaConfigurations": [{
                "Event": "s3:ObjectCreated:*", "Function": FUNCTION_ARN + "worker",
                "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": "in/"}],
                                     "Prefix": "in/"}},
            }]},
            "NotificationConfiguration.LambdaConfigurations[0].Filter.S3Key",
            "extraneous key [Prefix] is not permitted",
        ),
        (
            {"TopicConfigurations": [{
                "Event": "s3:ObjectCreated:*", "Topic": "arn:aws:sns:us-east-1:123456789012:t",
                "Events": ["s3:ObjectRemoved:*"],
            }]},
            "NotificationConfiguration.TopicConfigurations[0]",
            "extraneous key [Events] is not permitted",
        ),
        (
            {"LambdaConfigurations": [
                {"Event": "s3:ObjectCreated:*", "Function": FUNCTION_ARN + "worker:live"},
            ]},
            "NotificationConfiguration.LambdaConfigurations[0].Function",
            f"{FUNCTION_ARN}worker:live names no function of the template or the mesh",
        ),
    ],
)  # fmt: skip
def test_a_bad_notification_configuration_names_its_path(
    mesh: Mesh, notifications: dict[str, Any], path: str, message: str
) -> None:
    recorder(mesh, "worker")
    mesh.queue("jobs.fifo")
    with pytest.raises(TemplateError) as caught:
        build_application(
            template({"Up": bucket(NotificationConfiguration=notifications)}), mesh=mesh
        )
    assert str(caught.value) == f"Resources.Up.Properties.{path} (AWS::S3::Bucket): {message}"
    assert mesh.bucket("local-up").notifications == []  # all or nothing


def test_what_is_ignored_and_what_is_warned_about(mesh: Mesh) -> None:
    app = build_application(
        template(
            {
                "Quiet": bucket(
                    BucketEncryption={"ServerSideEncryptionConfiguration": []},
                    PublicAccessBlockConfiguration={"BlockPublicAcls": True},
                    OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                    Tags=[{"Key": "team", "Value": "a"}],
                    VersioningConfiguration={"Status": "Suspended"},
                ),
                "Loud": bucket(
                    LifecycleConfiguration={
                        "Rules": [{"Status": "Enabled", "ExpirationInDays": 1}]
                    },
                    VersioningConfiguration={"Status": "Enabled"},
                    CorsConfiguration={"CorsRules": []},
                ),
            }
        ),
        mesh=mesh,
    )
    assert app.warnings == [
        "Resources.Loud (AWS::S3::Bucket): LifecycleConfiguration is ignored: objects never "
        "expire nor change storage class locally",
        "Resources.Loud (AWS::S3::Bucket): CorsConfiguration is ignored: the AWS endpoint "
        "does not answer browsers' CORS requests",
        "Resources.Loud (AWS::S3::Bucket): VersioningConfiguration is ignored: the mesh keeps "
        "one version of each object (an overwrite replaces it, a delete removes it; no "
        "version ids)",
    ]
    with pytest.raises(TemplateError, match=r"--strict: .*LifecycleConfiguration"):
        build_application(
            template({"Loud": bucket(LifecycleConfiguration={"Rules": []})}),
            mesh=Mesh(),
            strict=True,
        )


async def test_a_notification_target_of_another_stack_is_left_out_with_a_warning(
    mesh: Mesh,
) -> None:
    """An ARN of nothing in the template or the mesh (another stack's function or queue) is
    out of the mesh's reach: that configuration is left out with a warning, the bucket's
    others notify; --strict refuses."""
    events = recorder(mesh, "worker")
    elsewhere = "arn:aws:sqs:us-east-1:123456789012:other-stack-queue"
    notifications = {
        "QueueConfigurations": [{"Event": "s3:ObjectCreated:*", "Queue": elsewhere}],
        "LambdaConfigurations": [
            {"Event": "s3:ObjectCreated:*", "Function": FUNCTION_ARN + "worker"}
        ],
    }
    app = build_application(
        template({"Up": bucket(NotificationConfiguration=notifications)}), mesh=mesh
    )
    assert app.warnings == [
        "Resources.Up (AWS::S3::Bucket): NotificationConfiguration.QueueConfigurations[0].Queue: "
        f"{elsewhere} is neither in the template nor in the mesh (not emulated, or another "
        "stack's): the notification is left out"
    ]
    async with mesh:
        await mesh.bucket("local-up").put_object("a.txt", b"hello")
        await mesh.drain(5)
    assert [record["s3"]["object"]["key"] for record in events] == ["a.txt"]
    with pytest.raises(TemplateError, match=r"^--strict: Resources\.Up "):
        build_application(
            template({"Up": bucket(NotificationConfiguration=notifications)}),
            mesh=Mesh(),
            strict=True,
        )
