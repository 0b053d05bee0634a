"""S3 request bodies as they arrive: ``aws-chunked`` (current SDKs send ``PutObject`` so by
default, with a checksum in a trailer) decoded to the object's bytes, and checksums verified.

The chunked form is ``{hex size}[;chunk-signature={sig}]\\r\\n{bytes}\\r\\n`` repeated, a
zero-size chunk, then (``...-TRAILER`` payloads) trailer lines ``name:value\\r\\n`` and, when
signed, ``x-amz-trailer-signature:{sig}\\r\\n``; only trailers the ``x-amz-trailer`` header names
are taken (S3's ``MalformedTrailerError`` otherwise). Signed chunks
(``STREAMING-AWS4-HMAC-SHA256-PAYLOAD``) are verified one after another from the request's
own signature when the endpoint verifies signatures. A checksum (trailer or header
``x-amz-checksum-{algorithm}``) that does not match the bytes is S3's ``BadDigest``; a hex
``x-amz-content-sha256`` that does not, ``XAmzContentSHA256Mismatch``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re

from eventmesh._http_messages import HttpRequest
from eventmesh.aws._checksums import checksum
from eventmesh.aws._scope import same_signature
from eventmesh.aws._sigv4 import SigningContext
from eventmesh.aws.operations import AwsError

__all__ = ["decode_request_body"]

_MAX_LENGTH_DIGITS = 19
"""Digits of the longest ``x-amz-decoded-content-length`` read as a number."""

_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")
_SIGNED_STREAMS = (
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
)
_CHECKSUM_PREFIX = "x-amz-checksum-"


def _incomplete(message: str) -> AwsError:
    return AwsError("IncompleteBody", message)


def _bad_chunk_signature() -> AwsError:
    return AwsError(
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
        403,
    )


def _decode(
    body: bytes, context: SigningContext | None, signed: bool, declared: frozenset[str]
) -> tuple[bytes, list[tuple[str, str]]]:
    chunks: list[bytes] = []
    position = 0
    previous = context.seed_signature if context is not None else ""
    while True:
        end = body.find(b"\r\n", position)
        if end < 0:
            raise _incomplete("The aws-chunked body ends inside a chunk header")
        header = body[position:end].decode("latin-1")
        size_text, _, extension = header.partition(";")
        try:
            size = int(size_text.strip(), 16)
        except ValueError:
            raise _incomplete(f"Invalid aws-chunked chunk size {size_text[:20]!r}") from None
        start = end + 2
        data = body[start : start + size]
        if len(data) != size:
            raise _incomplete("The aws-chunked body is shorter than its chunk sizes")
        if signed and context is not None:
            name, _, signature = extension.partition("=")
            if name.strip() != "chunk-signature":
                raise _bad_chunk_signature()
            expected = context.chunk_signature(previous, data)
            if not same_signature(expected, signature.strip()):
                raise _bad_chunk_signature()
            previous = expected
        if size == 0:
            position = start
            break
        chunks.append(data)
        position = start + size
        if body[position : position + 2] != b"\r\n":
            raise _incomplete("An aws-chunked chunk does not end with CRLF")
        position += 2
    trailers: list[tuple[str, str]] = []
    rest = body[position:].decode("latin-1")
    trailer_signature: str | None = None
    for line in rest.split("\r\n"):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise _incomplete(f"Malformed aws-chunked trailer {line[:40]!r}")
        name = name.strip().lower()
        if name == "x-amz-trailer-signature":
            trailer_signature = value.strip()
        elif name not in declared:
            # an unsigned payload's trailers are not signed: only the names the (signed)
            # x-amz-trailer header lists become headers
            raise AwsError(
                "MalformedTrailerError",
                f"The request contained a trailer ({name[:40]!r}) not named in x-amz-trailer.",
            )
        else:
            trailers.append((name, value.strip()))
    if signed and context is not None and trailers:
        canonical = "".join(f"{name}:{value}\n" for name, value in trailers).encode()
        expected = context.trailer_signature(previous, canonical)
        if trailer_signature is None or not same_signature(expected, trailer_signature):
            raise _bad_chunk_signature()
    return b"".join(chunks), trailers


def _check_checksums(body: bytes, checks: list[tuple[str, str]]) -> None:
    for name, value in checks:
        if not name.startswith(_CHECKSUM_PREFIX) or name == "x-amz-checksum-type":
            continue
        algorithm = name[len(_CHECKSUM_PREFIX) :]
        computed = checksum(algorithm, body)
        if computed is None:
            continue  # an algorithm not known here is accepted unverified (README)
        if computed != value:
            raise AwsError(
                "BadDigest",
                f"The {algorithm.upper()} you specified did not match the calculated checksum.",
            )


def decode_request_body(request: HttpRequest, context: SigningContext | None) -> HttpRequest:
    """``request`` with its body decoded (when ``aws-chunked``) and its checksums verified;
    the trailers' checksums become headers, ``content-encoding`` loses ``aws-chunked``."""
    content_sha = request.header("x-amz-content-sha256") or ""
    encoding = request.header("content-encoding") or ""
    codings = [part.strip() for part in encoding.split(",") if part.strip()]
    chunked = "aws-chunked" in codings or content_sha.startswith("STREAMING-")
    body = request.body
    headers = list(request.headers)
    if chunked:
        declared = frozenset(
            name.strip().lower()
            for name in (request.header("x-amz-trailer") or "").split(",")
            if name.strip()
        )
        body, trailers = _decode(request.body, context, content_sha in _SIGNED_STREAMS, declared)
        length = request.header("x-amz-decoded-content-length")
        text = (length or "").strip()
        # ASCII digits only ("²" is a digit to str.isdigit, not to int), and few enough for
        # int(): a longer number cannot be any body's length.
        if (
            text.isascii()
            and text.isdigit()
            and (len(text) > _MAX_LENGTH_DIGITS or int(text) != len(body))
        ):
            raise _incomplete(
                f"You did not provide the number of bytes specified by the "
                f"x-amz-decoded-content-length header ({length})."
            )
        remaining = [coding for coding in codings if coding != "aws-chunked"]
        headers = [
            (name, value)
            for name, value in headers
            if name not in ("content-encoding", "content-length")
        ]
        if remaining:
            headers.append(("content-encoding", ", ".join(remaining)))
        headers.append(("content-length", str(len(body))))
        headers.extend(trailers)
    elif _HEX_SHA256.fullmatch(content_sha) and hashlib.sha256(body).hexdigest() != content_sha:
        raise AwsError(
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )
    _check_checksums(body, [(name, value) for name, value in headers])
    if not chunked:
        return request
    return dataclasses.replace(request, body=body, headers=tuple(headers))
