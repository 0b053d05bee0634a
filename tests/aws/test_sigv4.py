"""SigV4: requests signed by boto3 with the endpoint's credentials pass; a wrong key, a wrong
secret, a request outside the 15-minute window, an expired presigned URL are refused as AWS
refuses them."""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from eventmesh import Mesh, Telemetry
from eventmesh._aws_credentials import AwsCredentials
from eventmesh._errors import ConfigurationError
from eventmesh.aws import AwsCall, AwsServer, OperationRegistry, operation, parse_credentials
from eventmesh.aws._credentials import credentials_from
from tests.aws.conftest import KEY, SECRET, AwsEndpoint

SIGNATURE_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. Check "
    "your AWS Secret Access Key and signing method. Consult the service documentation for "
    "details."
)


def _registry() -> OperationRegistry:
    registry = OperationRegistry()

    @operation("sqs", "ListQueues", registry)
    async def list_queues(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        return {"QueueUrls": [f"{call.endpoint_url}/{call.access_key}"]}

    @operation("kinesis", "ListStreams", registry)
    async def list_streams(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        return {"StreamNames": [], "HasMoreStreams": False}

    @operation("sns", "ListTopics", registry)
    async def list_topics(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        return {"Topics": []}

    @operation("lambda", "ListFunctions", registry)
    async def list_functions(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        return {"Functions": []}

    @operation("s3", "GetObject", registry)
    async def get_object(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        return {"Body": f"{params['Bucket']}/{params['Key']}".encode()}

    @operation("s3", "ListBuckets", registry)
    async def list_buckets(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        return {"Buckets": []}

    return registry


async def _endpoint(base: AwsEndpoint, shift: float = 0.0) -> AwsEndpoint:
    return await base.start(
        registry=_registry(),
        credentials=f"{KEY}:{SECRET},OTHERKEY:other-secret",
        now=(lambda: time.time() + shift) if shift else None,
    )


CALLS = {
    "sqs": ("list_queues", {}),
    "kinesis": ("list_streams", {}),
    "sns": ("list_topics", {}),
    "lambda": ("list_functions", {}),
    "s3": ("list_buckets", {}),
}


async def _refusal(endpoint: AwsEndpoint, service: str, **client: Any) -> dict[str, Any]:
    method, arguments = CALLS[service]
    with pytest.raises(ClientError) as caught:
        await getattr(endpoint.client(service, **client), method)(**arguments)
    response: dict[str, Any] = caught.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    return response["Error"]


async def test_signed_requests_pass_with_any_configured_key(aws_endpoint: AwsEndpoint) -> None:
    endpoint = await _endpoint(aws_endpoint)
    for key, secret in ((KEY, SECRET), ("OTHERKEY", "other-secret")):
        sqs = endpoint.client("sqs", key=key, secret=secret)
        answer = await sqs.list_queues()
        assert answer["QueueUrls"] == [f"{endpoint.url}/{key}"]
    for service, (method, arguments) in CALLS.items():
        await getattr(endpoint.client(service), method)(**arguments)


@pytest.mark.parametrize(
    ("service", "code"),
    [
        ("sqs", "InvalidClientTokenId"),
        ("sns", "InvalidClientTokenId"),
        ("kinesis", "UnrecognizedClientException"),
        ("lambda", "UnrecognizedClientException"),
        ("s3", "InvalidAccessKeyId"),
    ],
)
async def test_an_unknown_key_is_refused(
    aws_endpoint: AwsEndpoint, service: str, code: str
) -> None:
    endpoint = await _endpoint(aws_endpoint)
    error = await _refusal(endpoint, service, key="AKIDNOTGIVEN")
    assert error["Code"] == code
    if service == "s3":
        assert error["Message"] == (
            "The AWS Access Key Id you provided does not exist in our records."
        )
    else:
        assert error["Message"] == "The security token included in the request is invalid."


@pytest.mark.parametrize(
    ("service", "code"),
    [
        ("sqs", "SignatureDoesNotMatch"),
        ("sns", "SignatureDoesNotMatch"),
        ("kinesis", "InvalidSignatureException"),
        ("lambda", "InvalidSignatureException"),
        ("s3", "SignatureDoesNotMatch"),
    ],
)
async def test_a_wrong_secret_is_a_signature_mismatch(
    aws_endpoint: AwsEndpoint, service: str, code: str
) -> None:
    endpoint = await _endpoint(aws_endpoint)
    error = await _refusal(endpoint, service, secret="not-the-secret")
    assert error["Code"] == code
    assert error["Message"] == SIGNATURE_MESSAGE


@pytest.mark.parametrize("shift", [16 * 60, -16 * 60])
async def test_a_request_outside_fifteen_minutes_is_refused(
    aws_endpoint: AwsEndpoint, shift: float
) -> None:
    # the endpoint's clock is shifted: to it, the client's signer runs 16 minutes off
    endpoint = await _endpoint(aws_endpoint, shift=shift)
    error = await _refusal(endpoint, "kinesis")
    assert error["Code"] == "InvalidSignatureException"
    assert error["Message"].startswith(
        "Signature expired:" if shift > 0 else "Signature not yet current:"
    )
    error = await _refusal(endpoint, "sns")
    assert error["Code"] == "SignatureDoesNotMatch"
    assert error["Message"].startswith("Signature")
    error = await _refusal(endpoint, "s3")
    assert error["Code"] == "RequestTimeTooSkewed"
    assert error["Message"] == (
        "The difference between the request time and the current time is too large."
    )


async def test_fourteen_minutes_off_is_within_the_window(aws_endpoint: AwsEndpoint) -> None:
    endpoint = await _endpoint(aws_endpoint, shift=14 * 60)
    assert (await endpoint.client("kinesis").list_streams())["StreamNames"] == []


@pytest.mark.parametrize("version", ["s3v4", "s3"])
async def test_presigned_urls(aws_endpoint: AwsEndpoint, version: str) -> None:
    # boto3 presigns S3 URLs with SigV2 unless told s3v4: both are served
    config = Config(signature_version=version)
    endpoint = await _endpoint(aws_endpoint)
    s3 = endpoint.client("s3", config=config).sync
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": "b", "Key": "a b/c"}, ExpiresIn=60
    )
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.get(url)
        assert answer.status_code == 200
        assert answer.content == b"b/a b/c"
        tampered = await client.get(url.replace("/b/a%20b/c", "/b/a%20b/d"))
        assert tampered.status_code == 403
        assert "<Code>SignatureDoesNotMatch</Code>" in tampered.text
    later = await _endpoint(aws_endpoint, shift=61)
    url = later.client("s3", config=config).sync.generate_presigned_url(
        "get_object", Params={"Bucket": "b", "Key": "k"}, ExpiresIn=60
    )
    async with httpx.AsyncClient(timeout=10) as client:
        expired = await client.get(url)
    assert expired.status_code == 403
    assert "<Code>AccessDenied</Code>" in expired.text
    assert "<Message>Request has expired</Message>" in expired.text


async def test_an_unsigned_request_is_refused_when_credentials_are_set(
    aws_endpoint: AwsEndpoint,
) -> None:
    endpoint = await _endpoint(aws_endpoint)
    kinesis = endpoint.client("kinesis", config=Config(signature_version=UNSIGNED))
    with pytest.raises(ClientError) as caught:
        await kinesis.list_streams()
    assert caught.value.response["Error"]["Code"] == "MissingAuthenticationToken"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


async def test_without_credentials_any_request_passes_and_the_log_says_so(
    aws_endpoint: AwsEndpoint, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EVENTMESH_AWS_CREDENTIALS", raising=False)
    with caplog.at_level(logging.WARNING, logger="eventmesh.aws"):
        endpoint = await aws_endpoint.start(registry=_registry(), credentials=None)
    assert any("UNAUTHENTICATED" in record.getMessage() for record in caplog.records)
    sqs = endpoint.client("sqs", key="anything", secret="whatever")
    assert (await sqs.list_queues())["QueueUrls"] == [f"{endpoint.url}/anything"]


def test_no_credentials_no_public_bind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVENTMESH_AWS_CREDENTIALS", raising=False)
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    with pytest.raises(ConfigurationError, match="loopback only"):
        AwsServer(mesh, "0.0.0.0", 0)
    AwsServer(mesh, "0.0.0.0", 0, credentials="K:S")


def test_credentials_come_from_pairs_objects_or_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert parse_credentials("A:s1, B:s:2") == {"A": "s1", "B": "s:2"}
    with pytest.raises(ConfigurationError):
        parse_credentials("A")
    with pytest.raises(ConfigurationError):
        parse_credentials(":secret")
    assert credentials_from(AwsCredentials("K", "S")) == {"K": "S"}
    monkeypatch.setenv("EVENTMESH_AWS_CREDENTIALS", "E:env-secret")
    assert credentials_from(None) == {"E": "env-secret"}
    monkeypatch.delenv("EVENTMESH_AWS_CREDENTIALS")
    assert credentials_from(None) is None


def test_secrets_stay_out_of_reprs() -> None:
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    server = AwsServer(mesh, port=0, credentials="VISIBLEKEY:hidden-secret")
    assert server.app.verifier is not None
    assert "hidden-secret" not in repr(server.app.verifier)
    assert "VISIBLEKEY" in repr(server.app.verifier)
    # handlers in process environments get a pair the endpoint accepts
    assert mesh.aws_credentials == AwsCredentials("VISIBLEKEY", "hidden-secret")
