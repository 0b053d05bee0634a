"""The query protocol (SNS) and rest-json (Lambda, Scheduler) through real boto3 clients, with
test-only handlers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from eventmesh.aws import AwsCall, AwsError, OperationRegistry, operation
from tests.aws.conftest import AwsEndpoint

TOPIC = "arn:aws:sns:us-east-1:123456789012:orders"


def _registry() -> OperationRegistry:
    registry = OperationRegistry()

    @operation("sns", "CreateTopic", registry)
    async def create_topic(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        attributes = params.get("Attributes", {})
        tags = [f"{tag['Key']}={tag['Value']}" for tag in params.get("Tags", [])]
        name = params["Name"] + "".join(f";{k}={v}" for k, v in sorted(attributes.items()))
        return {"TopicArn": f"arn:aws:sns:{call.region}:{call.account_id}:{name}|{','.join(tags)}"}

    @operation("sns", "ListTopics", registry)
    async def list_topics(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        return {"Topics": [{"TopicArn": TOPIC}, {"TopicArn": TOPIC + "2"}], "NextToken": "n"}

    @operation("sns", "Publish", registry)
    async def publish(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        if params["TopicArn"] != TOPIC:
            raise AwsError("NotFound", "Topic does not exist", 404)
        attributes = params.get("MessageAttributes", {})
        kinds = ",".join(f"{k}:{v['DataType']}" for k, v in sorted(attributes.items()))
        return {"MessageId": f"{params['Message']}|{kinds}"}

    @operation("sns", "GetTopicAttributes", registry)
    async def attributes(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        return {"Attributes": {"TopicArn": params["TopicArn"], "Owner": call.account_id}}

    @operation("lambda", "Invoke", registry)
    async def invoke(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        if params["FunctionName"] == "missing":
            raise AwsError(
                "ResourceNotFoundException",
                "Function not found: arn:aws:lambda:us-east-1:123456789012:function:missing",
                404,
            )
        kind = params.get("InvocationType", "RequestResponse")
        return {
            "StatusCode": 202 if kind == "Event" else 200,
            "Payload": b'{"echo": ' + params.get("Payload", b"null") + b"}",
            "ExecutedVersion": params.get("Qualifier", "$LATEST"),
            "FunctionError": "Unhandled" if params["FunctionName"] == "fails" else None,
        }

    @operation("lambda", "CreateAlias", registry)
    async def create_alias(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "AliasArn": f"arn:aws:lambda:us-east-1:1:function:{params['FunctionName']}:"
            + params["Name"],
            "Name": params["Name"],
            "FunctionVersion": params["FunctionVersion"],
            "RoutingConfig": params.get("RoutingConfig", {}),
        }

    @operation("lambda", "ListFunctions", registry)
    async def list_functions(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        return {"Functions": [{"FunctionName": f"f{params.get('MaxItems')}"}]}

    @operation("scheduler", "GetSchedule", registry)
    async def get_schedule(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "Name": params["Name"],
            "GroupName": params.get("GroupName", "default"),
            "CreationDate": datetime(2026, 12, 7, 0, 0, 1, tzinfo=UTC),
        }

    return registry


@pytest.fixture
async def endpoint(aws_endpoint: AwsEndpoint) -> AwsEndpoint:
    return await aws_endpoint.start(registry=_registry())


async def test_query_parameters_lists_and_maps_reach_the_handler(endpoint: AwsEndpoint) -> None:
    sns = endpoint.client("sns")
    created = await sns.create_topic(
        Name="orders",
        Attributes={"DisplayName": "Orders", "FifoTopic": "false"},
        Tags=[{"Key": "team", "Value": "a"}, {"Key": "env", "Value": "b"}],
    )
    assert created["TopicArn"] == (
        "arn:aws:sns:us-east-1:123456789012:orders;DisplayName=Orders;FifoTopic=false|team=a,env=b"
    )
    listed = await sns.list_topics()
    assert listed["Topics"] == [{"TopicArn": TOPIC}, {"TopicArn": TOPIC + "2"}]
    assert listed["NextToken"] == "n"
    published = await sns.publish(
        TopicArn=TOPIC,
        Message="hi",
        MessageAttributes={
            "n": {"DataType": "Number", "StringValue": "1"},
            "b": {"DataType": "Binary", "BinaryValue": b"\x01"},
        },
    )
    assert published["MessageId"] == "hi|b:Binary,n:Number"
    got = await sns.get_topic_attributes(TopicArn=TOPIC)
    assert got["Attributes"] == {"TopicArn": TOPIC, "Owner": "123456789012"}


async def test_query_errors_are_error_responses_with_the_modeled_code(
    endpoint: AwsEndpoint,
) -> None:
    sns = endpoint.client("sns")
    with pytest.raises(sns.exceptions.NotFoundException) as caught:
        await sns.publish(TopicArn=TOPIC + "x", Message="hi")
    response = caught.value.response
    assert response["Error"] == {
        "Type": "Sender",
        "Code": "NotFound",
        "Message": "Topic does not exist",
    }
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as unknown:
        await sns.delete_topic(TopicArn=TOPIC)
    assert unknown.value.response["Error"]["Code"] == "InvalidAction"
    assert (
        unknown.value.response["Error"]["Message"]
        == "eventmesh does not implement sns.DeleteTopic yet"
    )


async def test_query_validation_error_in_aws_words(aws_endpoint: AwsEndpoint) -> None:
    endpoint = await aws_endpoint.start(registry=_registry(), credentials=None)
    async with httpx.AsyncClient(base_url=endpoint.url, timeout=10) as client:
        answer = await client.post("/", data={"Action": "CreateTopic", "Version": "2010-03-31"})
    assert answer.status_code == 400
    assert "<Code>ValidationError</Code>" in answer.text
    assert (
        "1 validation error detected: Value null at 'name' failed to satisfy constraint: "
        "Member must not be null" in answer.text
    )


async def test_rest_json_binds_uri_query_headers_and_payload(endpoint: AwsEndpoint) -> None:
    lam = endpoint.client("lambda")
    answer = await lam.invoke(FunctionName="echo", Payload=b'{"a": 1}', Qualifier="live")
    assert answer["StatusCode"] == 200
    assert answer["ExecutedVersion"] == "live"
    assert answer["Payload"].read() == b'{"echo": {"a": 1}}'
    assert "FunctionError" not in answer
    failed = await lam.invoke(FunctionName="fails")
    assert failed["FunctionError"] == "Unhandled"
    queued = await lam.invoke(FunctionName="echo", InvocationType="Event")
    assert queued["StatusCode"] == 202
    alias = await lam.create_alias(
        FunctionName="f",
        Name="live",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.25}},
    )
    assert alias["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.25}}
    assert alias["ResponseMetadata"]["HTTPStatusCode"] == 201  # the model's responseCode
    listed = await lam.list_functions(MaxItems=7)
    assert listed["Functions"] == [{"FunctionName": "f7"}]
    schedule = await endpoint.client("scheduler").get_schedule(Name="nightly")
    assert schedule["Name"] == "nightly"
    assert schedule["CreationDate"] == datetime(2026, 12, 7, 0, 0, 1, tzinfo=UTC)


async def test_rest_json_errors_carry_the_code_header(endpoint: AwsEndpoint) -> None:
    lam = endpoint.client("lambda")
    with pytest.raises(lam.exceptions.ResourceNotFoundException) as caught:
        await lam.invoke(FunctionName="missing")
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as unknown:
        await lam.get_account_settings()
    assert unknown.value.response["Error"]["Code"] == "UnknownOperationException"
    assert "lambda.GetAccountSettings" in unknown.value.response["Error"]["Message"]
