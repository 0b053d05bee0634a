"""SigV4 verification: the signature a request carries is recomputed from the request as it
arrived with the secret of its access key, and compared in constant time.

The canonical request follows AWS's definition (the same as botocore's signer builds):
method, the URI-encoded path (encoded twice for every service but S3, and normalised),
the sorted, URI-encoded query (without ``X-Amz-Signature`` for presigned URLs), the signed
headers with trimmed values, their names, and the payload's hash (for S3
``x-amz-content-sha256`` when sent: ``UNSIGNED-PAYLOAD`` and ``STREAMING-...`` values; else,
and always for other services, the SHA-256 of the body). Requests are accepted within 15
minutes of the endpoint's clock either way, as AWS does; a presigned URL until its
``X-Amz-Expires``.
"""

from __future__ import annotations

import hashlib
import hmac
import posixpath
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote, unquote

from eventmesh._http_messages import HttpRequest
from eventmesh.aws import _standard_errors as errors
from eventmesh.aws._scope import ALGORITHM, Signed, same_signature
from eventmesh.aws._sigv2 import verify_presigned_v2
from eventmesh.aws.operations import AwsError

__all__ = ["SKEW_SECONDS", "SigningContext", "Verifier", "signing_key"]

SKEW_SECONDS = 15 * 60
"""AWS's window: a request dated more than 15 minutes from the server's time is refused."""
TIMESTAMP = "%Y%m%dT%H%M%SZ"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The key SigV4 derives from a secret for one day, region and service."""
    key = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _hmac_hex(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class SigningContext:
    """What a verified request's body chunks are signed with (S3's signed streaming)."""

    key: bytes
    timestamp: str
    scope: str
    seed_signature: str

    def chunk_signature(self, previous: str, chunk: bytes) -> str:
        text = "\n".join(
            (
                "AWS4-HMAC-SHA256-PAYLOAD",
                self.timestamp,
                self.scope,
                previous,
                EMPTY_SHA256,
                hashlib.sha256(chunk).hexdigest(),
            )
        )
        return _hmac_hex(self.key, text)

    def trailer_signature(self, previous: str, trailer: bytes) -> str:
        text = "\n".join(
            (
                "AWS4-HMAC-SHA256-TRAILER",
                self.timestamp,
                self.scope,
                previous,
                hashlib.sha256(trailer).hexdigest(),
            )
        )
        return _hmac_hex(self.key, text)


def _canonical_path(raw_path: str, service: str) -> str:
    path = raw_path or "/"
    once = quote(unquote(path), safe="/~")
    if service == "s3":
        return once
    normalised = posixpath.normpath(unquote(path)) if path not in ("", "/") else "/"
    if path.endswith("/") and normalised != "/":
        normalised += "/"
    normalised = normalised.replace("//", "/")
    return quote(quote(normalised, safe="/~"), safe="/~")


def _canonical_query(query_string: str, presigned: bool) -> str:
    pairs = [
        (quote(key, safe="-_.~"), quote(value, safe="-_.~"))
        for key, value in parse_qsl(query_string, keep_blank_values=True)
        if not (presigned and key == "X-Amz-Signature")
    ]
    return "&".join(f"{key}={value}" for key, value in sorted(pairs))


def _canonical_headers(request: HttpRequest, names: tuple[str, ...]) -> str:
    lines = []
    for name in sorted(names):
        values = [" ".join(value.split()) for key, value in request.headers if key == name]
        lines.append(f"{name}:{','.join(values)}")
    return "\n".join(lines) + "\n"


class Verifier:
    """Checks SigV4 signatures against ``secrets`` (by access key id); ``now``: the clock
    (wall time: the signer's clock is the client's)."""

    def __init__(self, secrets: dict[str, str], now: Callable[[], float] = time.time) -> None:
        self._secrets = dict(secrets)
        self._now = now

    def __repr__(self) -> str:  # the secrets never show
        return f"<Verifier keys={sorted(self._secrets)}>"

    def verify(
        self, request: HttpRequest, signed: Signed | None, service: str
    ) -> SigningContext | None:
        """The signing context of a request whose signature holds (None for S3's legacy
        presigned URLs, which sign no chunks); AwsError otherwise."""
        if signed is None and service == "s3" and "AWSAccessKeyId=" in request.query_string:
            verify_presigned_v2(request, self._secrets, self._now())
            return None
        if signed is None:
            raise AwsError(
                "MissingAuthenticationToken" if service != "s3" else "AccessDenied",
                "Request is missing Authentication Token" if service != "s3" else "Access Denied",
                403,
            )
        secret = self._secrets.get(signed.access_key)
        if secret is None:
            raise errors.unknown_key(service)
        timestamp = (
            signed.query_value("X-Amz-Date")
            if signed.presigned
            else request.header("x-amz-date") or ""
        ) or ""
        try:
            moment = datetime.strptime(timestamp, TIMESTAMP).replace(tzinfo=UTC).timestamp()
        except ValueError:
            raise AwsError(
                "IncompleteSignature" if service != "s3" else "AccessDenied",
                "Authorization header requires existence of either a 'X-Amz-Date' or a "
                "'Date' header.",
                403,
            ) from None
        now = self._now()
        if signed.presigned:
            self._check_presigned_time(signed, moment, now, service)
        elif abs(now - moment) > SKEW_SECONDS:
            window = datetime.fromtimestamp(now - SKEW_SECONDS, UTC).strftime(TIMESTAMP)
            current = datetime.fromtimestamp(now, UTC).strftime(TIMESTAMP)
            raise errors.signature_expired(
                service,
                f"Signature expired: {timestamp} is now earlier than {window} ({current} - 15 min.)"
                if moment < now
                else f"Signature not yet current: {timestamp} is still later than "
                f"{datetime.fromtimestamp(now + SKEW_SECONDS, UTC).strftime(TIMESTAMP)} "
                f"({current} + 15 min.)",
            )
        if "host" not in signed.signed_headers:
            raise errors.bad_signature(service)
        # Only S3 takes the payload's hash from x-amz-content-sha256 (and checks a hex one
        # against the body, :mod:`eventmesh.aws._chunked`); elsewhere the header is neither
        # sent nor signed by SDKs, so trusting it would let a replayer swap the body.
        payload_hash = request.header("x-amz-content-sha256") if service == "s3" else None
        if payload_hash is None:
            payload_hash = (
                "UNSIGNED-PAYLOAD"
                if signed.presigned and service == "s3"
                else hashlib.sha256(request.body).hexdigest()
            )
        canonical = "\n".join(
            (
                request.method.upper(),
                _canonical_path(request.raw_path or request.path, service),
                _canonical_query(request.query_string, signed.presigned),
                _canonical_headers(request, signed.signed_headers),
                ";".join(signed.signed_headers),
                payload_hash,
            )
        )
        scope = f"{signed.date}/{signed.region}/{signed.service}/aws4_request"
        string_to_sign = "\n".join(
            (ALGORITHM, timestamp, scope, hashlib.sha256(canonical.encode()).hexdigest())
        )
        key = signing_key(secret, signed.date, signed.region, signed.service)
        expected = _hmac_hex(key, string_to_sign)
        if not same_signature(expected, signed.signature):
            raise errors.bad_signature(service)
        return SigningContext(key, timestamp, scope, signed.signature)

    def _check_presigned_time(
        self, signed: Signed, moment: float, now: float, service: str
    ) -> None:
        try:
            expires = int(signed.query_value("X-Amz-Expires") or "")
        except ValueError:
            raise AwsError(
                "AuthorizationQueryParametersError",
                "X-Amz-Expires should be a number",
                400 if service == "s3" else 403,
            ) from None
        if not 0 < expires <= 604800:
            raise AwsError(
                "AuthorizationQueryParametersError",
                "X-Amz-Expires must be less than a week (in seconds) that is 604800",
                400 if service == "s3" else 403,
            )
        if now > moment + expires:
            if service == "s3":
                raise AwsError("AccessDenied", "Request has expired", 403)
            raise errors.signature_expired(service, "Signature expired")
        if moment - now > SKEW_SECONDS:
            if service == "s3":
                raise AwsError("AccessDenied", "Request is not valid yet", 403)
            raise errors.signature_expired(service, "Signature not yet current")
