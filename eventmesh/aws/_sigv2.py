"""S3's legacy presigned URLs (signature version 2: ``?AWSAccessKeyId=..&Signature=..&
Expires=..``), which boto3's ``generate_presigned_url`` still makes for S3 unless told
``signature_version="s3v4"``. The signature is recomputed with botocore's own HMAC-SHA1 signer
(path-style URLs)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from botocore.auth import HmacV1Auth
from botocore.awsrequest import HTTPHeaders
from botocore.credentials import Credentials

from eventmesh._http_messages import HttpRequest
from eventmesh.aws import _standard_errors as errors
from eventmesh.aws._scope import same_signature
from eventmesh.aws.operations import AwsError

__all__ = ["verify_presigned_v2"]

_SIGNED_HEADERS = ("content-md5", "content-type")


class _SignerAt(HmacV1Auth):  # type: ignore[misc]
    """botocore's SigV2 signer with the URL's ``Expires`` where the Date goes (as its query
    signer does)."""

    def __init__(self, credentials: Credentials, expires: str) -> None:
        super().__init__(credentials)
        self._expires = expires

    def _get_date(self) -> str:
        return self._expires


def verify_presigned_v2(request: HttpRequest, secrets: dict[str, str], now: float) -> None:
    """AwsError unless ``request``'s SigV2 query signature holds and has not expired."""
    query = dict(parse_qsl(request.query_string, keep_blank_values=True))
    key = query.get("AWSAccessKeyId", "")
    secret = secrets.get(key)
    if secret is None:
        raise errors.unknown_key("s3")
    try:
        expires = int(query.get("Expires", ""))
    except ValueError:
        raise AwsError(
            "AccessDenied", "Query-string authentication requires the Expires parameter", 403
        ) from None
    if now > expires:
        raise AwsError("AccessDenied", "Request has expired", 403)
    headers = HTTPHeaders()
    for name, value in request.headers:
        if name in _SIGNED_HEADERS or name.startswith("x-amz-"):
            headers[name] = value
    # SigV2 signs the path and query, not the host: a fixed one keeps a malformed Host
    # header (``[oops``) from failing the URL's parsing
    url = f"http://localhost{request.raw_path or '/'}?{request.query_string}"
    try:
        split = urlsplit(url)
    except ValueError:
        raise errors.bad_signature("s3") from None
    signer = _SignerAt(Credentials(key, secret), str(expires))
    expected = signer.get_signature(request.method, split, headers, expires=str(expires))
    if not same_signature(expected, query.get("Signature", "")):
        raise errors.bad_signature("s3")
