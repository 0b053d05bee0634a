"""Attacks on the endpoint's signature checks and parsers: a captured signed request replayed
with another body, XML declaring entities in another encoding."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from eventmesh._errors import ConfigurationError
from eventmesh.aws import AwsCall, OperationRegistry, operation, parse_credentials
from tests.aws.conftest import KEY, SECRET, AwsEndpoint


def _registry(seen: list[dict[str, Any]]) -> OperationRegistry:
    registry = OperationRegistry()

    @operation("kinesis", "ListStreams", registry)
    async def list_streams(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        seen.append(params)
        return {"StreamNames": [], "HasMoreStreams": False}

    return registry


def _signed(url: str, body: bytes) -> AWSRequest:
    request = AWSRequest(
        "POST",
        url + "/",
        data=body,
        headers={
            "content-type": "application/x-amz-json-1.1",
            "x-amz-target": "Kinesis_20131202.ListStreams",
        },
    )
    SigV4Auth(Credentials(KEY, SECRET), "kinesis", "us-east-1").add_auth(request)
    return request


async def test_a_body_swapped_under_an_unsigned_content_hash_header_is_refused(
    aws_endpoint: AwsEndpoint,
) -> None:
    # botocore neither sends nor signs x-amz-content-sha256 for services other than S3: a
    # replayer adding it with the original body's hash must not get another body through
    seen: list[dict[str, Any]] = []
    endpoint = await aws_endpoint.start(registry=_registry(seen), credentials=f"{KEY}:{SECRET}")
    original = json.dumps({"Limit": 1}).encode()
    request = _signed(endpoint.url, original)
    assert "x-amz-content-sha256" not in {name.lower() for name in request.headers}
    headers = dict(request.headers.items())
    async with httpx.AsyncClient(timeout=10) as client:
        genuine = await client.post(endpoint.url + "/", content=original, headers=headers)
        assert genuine.status_code == 200
        headers["x-amz-content-sha256"] = hashlib.sha256(original).hexdigest()
        forged = await client.post(
            endpoint.url + "/", content=json.dumps({"Limit": 7}).encode(), headers=headers
        )
    assert forged.status_code == 403, forged.text
    assert forged.json()["__type"] == "InvalidSignatureException"
    assert seen == [{"Limit": 1}]


async def test_xml_with_a_document_type_is_refused_in_any_encoding(
    aws_endpoint: AwsEndpoint,
) -> None:
    # entity declarations (billion laughs, external DTDs) never reach expat's expansion, also
    # when the body is UTF-16 and the bytes "<!DOCTYPE" do not appear as such
    seen: list[dict[str, Any]] = []
    registry = OperationRegistry()

    @operation("s3", "PutBucketTagging", registry)
    async def put_bucket_tagging(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        seen.append(params)
        return {}

    endpoint = await aws_endpoint.start(registry=registry, credentials=None)
    laughs = (
        '<?xml version="1.0" encoding="UTF-16"?>'
        '<!DOCTYPE Tagging [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        "<Tagging><TagSet><Tag><Key>k</Key><Value>&b;</Value></Tag></TagSet></Tagging>"
    )
    async with httpx.AsyncClient(timeout=10) as client:
        for body in (laughs.encode("utf-16"), laughs.replace("UTF-16", "UTF-8").encode()):
            answer = await client.put(endpoint.url + "/bucket?tagging", content=body)
            assert answer.status_code == 400, answer.text
            assert "<Code>MalformedXML</Code>" in answer.text
    assert seen == []


async def test_a_legacy_presigned_url_with_a_malformed_host_is_refused_not_a_failure(
    aws_endpoint: AwsEndpoint,
) -> None:
    registry = OperationRegistry()

    @operation("s3", "ListBuckets", registry)
    async def list_buckets(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        return {"Buckets": []}

    endpoint = await aws_endpoint.start(registry=registry, credentials=f"{KEY}:{SECRET}")
    url = f"{endpoint.url}/?AWSAccessKeyId={KEY}&Expires=4102444800&Signature=x"
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.get(url, headers={"host": "[oops"})
    assert answer.status_code == 403, answer.text
    assert "<Code>SignatureDoesNotMatch</Code>" in answer.text


async def test_a_timestamp_out_of_range_in_utc_is_a_client_error(
    aws_endpoint: AwsEndpoint,
) -> None:
    # year 1 at +14:00 is year 0 in UTC: a refusal of the input, not an internal error
    registry = OperationRegistry()

    @operation("events", "PutEvents", registry)
    async def put_events(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        return {"FailedEntryCount": 0, "Entries": []}

    endpoint = await aws_endpoint.start(registry=registry, credentials=None)
    body = {"Entries": [{"Time": "0001-01-01T00:00:00+14:00", "Source": "s"}]}
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.post(
            endpoint.url + "/",
            content=json.dumps(body).encode(),
            headers={
                "content-type": "application/x-amz-json-1.1",
                "x-amz-target": "AWSEvents.PutEvents",
            },
        )
    assert answer.status_code == 400, answer.text
    assert "InternalFailure" not in answer.text


async def test_a_signature_with_non_ascii_characters_is_a_mismatch(
    aws_endpoint: AwsEndpoint,
) -> None:
    # hmac.compare_digest raises on non-ASCII text: a refusal, not an internal error, for
    # the request's signature, a chunk's and a legacy presigned URL's
    seen: list[dict[str, Any]] = []
    registry = _registry(seen)

    @operation("s3", "ListBuckets", registry)
    async def list_buckets(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        return {"Buckets": []}

    endpoint = await aws_endpoint.start(registry=registry, credentials=f"{KEY}:{SECRET}")
    request = _signed(endpoint.url, b"{}")
    headers = dict(request.headers.items())
    authorization = headers.pop("Authorization").rsplit("=", 1)[0] + "=\u00e9"
    async with httpx.AsyncClient(timeout=10) as client:
        forged = await client.post(
            endpoint.url + "/",
            content=b"{}",
            headers={**headers, "Authorization": authorization.encode("latin-1")},
        )
        assert forged.status_code == 403, forged.text
        legacy = await client.get(
            f"{endpoint.url}/?AWSAccessKeyId={KEY}&Expires=4102444800&Signature=%C3%A9"
        )
        assert legacy.status_code == 403, legacy.text
        presigned = await client.get(
            f"{endpoint.url}/?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            f"&X-Amz-Credential={KEY}%2F20261207%2Fus-east-1%2Fs3%2Faws4_request"
            "&X-Amz-Date=20261207T000000Z&X-Amz-Expires=604800&X-Amz-SignedHeaders=host"
            "&X-Amz-Signature=%C3%A9"
        )
        assert presigned.status_code in (403, 400), presigned.text
    assert seen == []


def test_a_malformed_credentials_pair_is_not_echoed_in_the_error() -> None:
    # "KEYSECRET" (colon forgotten) or a pair cut at a comma may be all secret
    for text in ("AKID:s3cr3t,TOPSECRETTAIL", "TOPSECRETTAIL", "AKID:s3cr3t, :TOPSECRETTAIL"):
        with pytest.raises(ConfigurationError) as caught:
            parse_credentials(text)
        assert "TOPSECRET" not in str(caught.value)
        assert "s3cr3t" not in str(caught.value)
