"""The SigV4 credential scope a request was signed with, from its ``Authorization`` header
or (presigned URLs) its ``X-Amz-Credential`` query parameter:
``AKID/20261207/us-east-1/sqs/aws4_request``."""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

from eventmesh._http_messages import HttpRequest

__all__ = ["Signed", "same_signature", "signed_parts"]

ALGORITHM = "AWS4-HMAC-SHA256"
_FIELD = re.compile(r"(Credential|SignedHeaders|Signature)=([^,\s]*)")


@dataclass(frozen=True, slots=True)
class Signed:
    """What a SigV4-signed request says about its signature."""

    access_key: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    presigned: bool
    query: tuple[tuple[str, str], ...] = ()
    """The presigned URL's query parameters (for its date and expiry)."""

    def query_value(self, name: str) -> str | None:
        for key, value in self.query:
            if key == name:
                return value
        return None


def _scope(credential: str) -> tuple[str, str, str, str] | None:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not parts[0]:
        return None
    return parts[0], parts[1], parts[2], parts[3]


def signed_parts(request: HttpRequest) -> Signed | None:
    """The request's SigV4 signature parts, None when it is not SigV4-signed (or the parts
    are malformed)."""
    authorization = request.header("authorization")
    if authorization is not None and authorization.startswith(ALGORITHM + " "):
        fields = dict(_FIELD.findall(authorization))
        scope = _scope(fields.get("Credential", ""))
        if scope is None:
            return None
        return Signed(
            *scope,
            signed_headers=tuple(filter(None, fields.get("SignedHeaders", "").split(";"))),
            signature=fields.get("Signature", ""),
            presigned=False,
        )
    if "X-Amz-Credential" in request.query_string:
        query = tuple(parse_qsl(request.query_string, keep_blank_values=True))
        values = dict(query)
        if values.get("X-Amz-Algorithm") != ALGORITHM:
            return None
        scope = _scope(values.get("X-Amz-Credential", ""))
        if scope is None:
            return None
        return Signed(
            *scope,
            signed_headers=tuple(filter(None, values.get("X-Amz-SignedHeaders", "").split(";"))),
            signature=values.get("X-Amz-Signature", ""),
            presigned=True,
            query=query,
        )
    return None


def same_signature(expected: str, given: str) -> bool:
    """Whether ``given`` is ``expected`` (hex), compared in constant time; as bytes, since
    :func:`hmac.compare_digest` raises on non-ASCII text (a client's to send)."""
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))
