"""S3's aws-chunked bodies: decoded to the object's bytes, their trailer checksums verified
(CRC32, CRC32C, CRC64/NVME, SHA-1, SHA-256), signed chunks verified one after another; a
checksum or a chunk that does not match is refused, never stored."""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum, Sha1Checksum, Sha256Checksum

from eventmesh.aws import AwsCall, OperationRegistry, operation
from eventmesh.aws._checksums import crc32c, crc64nvme
from tests.aws.conftest import KEY, SECRET, AwsEndpoint

CHECK = b"123456789"
"""The CRC catalogue's check input: CRC-32C of it is 0xE3069283, CRC-64/NVME 0xAE8B14860A799888."""


def _registry(stored: dict[str, Any]) -> OperationRegistry:
    registry = OperationRegistry()

    @operation("s3", "PutObject", registry)
    async def put_object(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        stored[params["Key"]] = params
        return {"ETag": '"e"'}

    return registry


@pytest.fixture
def stored() -> dict[str, Any]:
    return {}


@pytest.fixture
async def endpoint(aws_endpoint: AwsEndpoint, stored: dict[str, Any]) -> AwsEndpoint:
    return await aws_endpoint.start(registry=_registry(stored))


def _signed(url: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
    """Headers of a PUT signed by botocore's S3 signer (payload hash as given)."""
    request = AWSRequest(method="PUT", url=url, data=body, headers=headers)
    S3SigV4Auth(Credentials(KEY, SECRET), "s3", "us-east-1").add_auth(request)
    return dict(request.headers.items())


def _trailer_body(data: bytes, name: str, value: str) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + f"\r\n0\r\n{name}:{value}\r\n\r\n".encode()


async def _put(
    endpoint: AwsEndpoint, key: str, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    url = f"{endpoint.url}/bucket/{key}"
    signed = _signed(url, body, headers)
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.put(url, content=body, headers=signed)


@pytest.mark.parametrize(
    ("algorithm", "checksum_cls"),
    [("crc32", Crc32Checksum), ("sha1", Sha1Checksum), ("sha256", Sha256Checksum)],
)
async def test_botocores_chunked_body_with_a_trailer_checksum_is_decoded(
    endpoint: AwsEndpoint, stored: dict[str, Any], algorithm: str, checksum_cls: type
) -> None:
    data = b"x" * 70_000 + b"tail"
    name = f"x-amz-checksum-{algorithm}"
    wrapper = AwsChunkedWrapper(
        io.BytesIO(data), checksum_cls=checksum_cls, checksum_name=name, chunk_size=65536
    )
    body = wrapper.read()
    headers = {
        "content-encoding": "aws-chunked",
        "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "x-amz-decoded-content-length": str(len(data)),
        "x-amz-trailer": name,
    }
    answer = await _put(endpoint, "ok", body, headers)
    assert answer.status_code == 200, answer.text
    assert stored["ok"]["Body"] == data
    # a tampered byte: the checksum no longer matches, nothing is stored
    tampered = body.replace(b"tail", b"tall")
    answer = await _put(endpoint, "bad", tampered, headers)
    assert answer.status_code == 400
    assert "<Code>BadDigest</Code>" in answer.text
    assert "bad" not in stored


@pytest.mark.parametrize(
    ("algorithm", "check_value", "width"),
    [("crc32c", 0xE3069283, 4), ("crc64nvme", 0xAE8B14860A799888, 8)],
)
async def test_crc32c_and_crc64nvme_trailers(
    endpoint: AwsEndpoint, stored: dict[str, Any], algorithm: str, check_value: int, width: int
) -> None:
    value = base64.b64encode(check_value.to_bytes(width, "big")).decode()
    headers = {
        "content-encoding": "aws-chunked",
        "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "x-amz-decoded-content-length": "9",
        "x-amz-trailer": f"x-amz-checksum-{algorithm}",
    }
    body = _trailer_body(CHECK, f"x-amz-checksum-{algorithm}", value)
    answer = await _put(endpoint, algorithm, body, headers)
    assert answer.status_code == 200, answer.text
    assert stored[algorithm]["Body"] == CHECK
    body = _trailer_body(b"123456780", f"x-amz-checksum-{algorithm}", value)
    answer = await _put(endpoint, "bad", body, headers)
    assert "<Code>BadDigest</Code>" in answer.text


def test_crc_check_values() -> None:
    assert crc32c(CHECK) == 0xE3069283
    assert crc64nvme(CHECK) == 0xAE8B14860A799888


async def test_a_header_checksum_from_boto3_is_verified(
    endpoint: AwsEndpoint, stored: dict[str, Any]
) -> None:
    s3 = endpoint.client("s3")
    await s3.put_object(Bucket="bucket", Key="plain", Body=b"abc", ChecksumAlgorithm="SHA256")
    assert stored["plain"]["Body"] == b"abc"
    wrong = base64.b64encode(b"\x00" * 4).decode()
    answer = await _put(
        endpoint, "bad", b"abc", {"x-amz-checksum-crc32": wrong, "content-type": "text/plain"}
    )
    assert answer.status_code == 400
    assert "<Code>BadDigest</Code>" in answer.text


# AWS's worked example of a signed chunked upload ("Signature Calculations for the
# Authorization Header: Transferring Payload in Multiple Chunks"): its seed and chunk
# signatures are AWS's published values.
EXAMPLE_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
EXAMPLE_SIGNATURES = (
    "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
)


def _example_body(first: bytes = b"a" * 65536) -> bytes:
    _, one, two, last = EXAMPLE_SIGNATURES
    return (
        f"10000;chunk-signature={one}\r\n".encode()
        + first
        + f"\r\n400;chunk-signature={two}\r\n".encode()
        + b"a" * 1024
        + f"\r\n0;chunk-signature={last}\r\n\r\n".encode()
    )


async def test_signed_chunks_as_in_aws_worked_example(
    aws_endpoint: AwsEndpoint, stored: dict[str, Any]
) -> None:
    at = datetime(2013, 5, 24, tzinfo=UTC).timestamp()
    endpoint = await aws_endpoint.start(
        registry=_registry(stored),
        credentials=f"AKIAIOSFODNN7EXAMPLE:{EXAMPLE_SECRET}",
        now=lambda: at,
    )
    headers = {
        "host": "s3.amazonaws.com",
        "x-amz-date": "20130524T000000Z",
        "x-amz-storage-class": "REDUCED_REDUNDANCY",
        "authorization": (
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
            "aws4_request,SignedHeaders=content-encoding;content-length;host;"
            "x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;"
            f"x-amz-storage-class,Signature={EXAMPLE_SIGNATURES[0]}"
        ),
        "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": "66560",
        "content-length": "66824",
    }
    async with httpx.AsyncClient(base_url=endpoint.url, timeout=10) as client:
        answer = await client.put(
            "/examplebucket/chunkObject.txt", content=_example_body(), headers=headers
        )
        assert answer.status_code == 200, answer.text
        assert stored["chunkObject.txt"]["Body"] == b"a" * 66560
        assert stored["chunkObject.txt"]["StorageClass"] == "REDUCED_REDUNDANCY"
        tampered = await client.put(
            "/examplebucket/chunkObject.txt",
            content=_example_body(b"b" + b"a" * 65535),
            headers=headers,
        )
    assert tampered.status_code == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in tampered.text


async def test_a_truncated_chunked_body_is_an_incomplete_body(
    endpoint: AwsEndpoint, stored: dict[str, Any]
) -> None:
    headers = {
        "content-encoding": "aws-chunked",
        "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "x-amz-decoded-content-length": "100",
    }
    for body in (b"64\r\nshort", b"zz\r\n", b"3\r\nabc\r\n0\r\nno-colon\r\n\r\n"):
        answer = await _put(endpoint, "k", body, headers)
        assert answer.status_code == 400
        assert "<Code>IncompleteBody</Code>" in answer.text
    assert stored == {}


async def test_a_trailer_not_declared_in_x_amz_trailer_is_refused(
    endpoint: AwsEndpoint, stored: dict[str, Any]
) -> None:
    # the trailers of an unsigned payload are not signed: only those the signed x-amz-trailer
    # header names are taken, an extra one cannot smuggle a header (metadata) in
    value = base64.b64encode((0xCBF43926).to_bytes(4, "big")).decode()
    headers = {
        "content-encoding": "aws-chunked",
        "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "x-amz-decoded-content-length": "9",
        "x-amz-trailer": "x-amz-checksum-crc32",
    }
    body = _trailer_body(CHECK, "x-amz-checksum-crc32", value)
    answer = await _put(endpoint, "declared", body, headers)
    assert answer.status_code == 200, answer.text
    body = body.replace(b"\r\n\r\n", b"\r\nx-amz-meta-smuggled:1\r\n\r\n")
    answer = await _put(endpoint, "smuggled", body, headers)
    assert answer.status_code == 400, answer.text
    assert "<Code>MalformedTrailerError</Code>" in answer.text
    assert "smuggled" not in stored


@pytest.mark.parametrize("declared", ["9" * 5000, "1" + "0" * 19])
async def test_an_odd_decoded_content_length_is_no_internal_error(
    endpoint: AwsEndpoint, stored: dict[str, Any], declared: str
) -> None:
    headers = {
        "content-encoding": "aws-chunked",
        "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "x-amz-decoded-content-length": declared,
        "x-amz-trailer": "x-amz-checksum-crc32c",
    }
    value = base64.b64encode((0xE3069283).to_bytes(4, "big")).decode()
    answer = await _put(
        endpoint, "odd", _trailer_body(CHECK, "x-amz-checksum-crc32c", value), headers
    )
    assert answer.status_code == 400, answer.text  # a length no body has, not a 500
    assert "<Code>IncompleteBody</Code>" in answer.text
    assert "odd" not in stored
