"""A function's result turned into the HTTP response API Gateway sends (reference §1.6).

Payload 1.0 (REST APIs, and HTTP API routes on 1.0) must be an object with ``statusCode``
and at most ``headers``, ``multiValueHeaders``, ``body`` (a string) and
``isBase64Encoded``; anything else is malformed (REST answers 502, HTTP APIs 500).
``multiValueHeaders`` wins over ``headers`` for a name in both. Payload 2.0 (HTTP APIs,
function URLs) takes the same object plus ``cookies`` (each a ``set-cookie`` header), and
infers the rest from any other JSON value: a result without ``statusCode`` is a 200
``application/json`` whose body is the result's JSON (a string result: the string itself).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from eventmesh._http_messages import HttpResponse

__all__ = ["MalformedResponse", "v1_response", "v2_response"]

_V1_KEYS = frozenset({"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"})
_V2_KEYS = _V1_KEYS | {"cookies"}


class MalformedResponse(ValueError):
    """The function's result is not a proxy response; the message says why (for the log)."""


def _text(value: Any, what: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise MalformedResponse(f"{what} must be a string, got {type(value).__name__}")


def _status(value: Any) -> int:
    if isinstance(value, bool):
        raise MalformedResponse("statusCode must be an integer")
    if isinstance(value, str) and value.isascii() and value.isdigit():  # "200", not "²"
        value = int(value)
    if not isinstance(value, int) or not 100 <= value <= 599:
        raise MalformedResponse(f"statusCode must be an integer from 100 to 599, got {value!r}")
    return value


def _headers(payload: Mapping[str, Any]) -> list[tuple[str, str]]:
    single = payload.get("headers") or {}
    multi = payload.get("multiValueHeaders") or {}
    if not isinstance(single, Mapping) or not isinstance(multi, Mapping):
        raise MalformedResponse("headers and multiValueHeaders must be objects")
    merged: dict[str, list[str]] = {}
    for name, value in single.items():
        merged[str(name).lower()] = [_text(value, f"header {name!r}")]
    for name, values in multi.items():
        if not isinstance(values, list):
            raise MalformedResponse(f"multiValueHeaders[{name!r}] must be a list")
        merged[str(name).lower()] = [_text(v, f"header {name!r}") for v in values]
    return [(name, value) for name, values in merged.items() for value in values]


def _body(payload: Mapping[str, Any], decode: Callable[[list[tuple[str, str]]], bool],
          headers: list[tuple[str, str]]) -> bytes:  # fmt: skip
    body = payload.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise MalformedResponse(f"body must be a string, got {type(body).__name__}")
    encoded = payload.get("isBase64Encoded", False)
    if encoded not in (True, False, None):
        raise MalformedResponse("isBase64Encoded must be a boolean")
    if encoded and decode(headers):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedResponse("isBase64Encoded is true but the body is not base64") from None
    return body.encode("utf-8")


def _with_default_type(headers: list[tuple[str, str]], content_type: str) -> list[tuple[str, str]]:
    if not any(name == "content-type" for name, _ in headers):
        headers.append(("content-type", content_type))
    return headers


def v1_response(
    payload: Any, *, decode: Callable[[list[tuple[str, str]]], bool], default_type: str
) -> HttpResponse:
    """Payload 1.0's response; ``decode(headers)`` says whether a base64 body is sent as
    bytes (REST: per the binary media types; HTTP APIs: always)."""
    if not isinstance(payload, Mapping):
        raise MalformedResponse(f"the result must be an object, got {type(payload).__name__}")
    if "statusCode" not in payload:
        raise MalformedResponse("the result has no statusCode")
    extra = set(payload) - _V1_KEYS
    if extra:
        raise MalformedResponse(f"the result has keys a proxy response has not: {sorted(extra)}")
    status = _status(payload["statusCode"])
    headers = _headers(payload)
    body = _body(payload, decode, headers)
    return HttpResponse(status, _with_default_type(headers, default_type), body)


def v2_response(payload: Any) -> HttpResponse:
    """Payload 2.0's response, with its inference for results without ``statusCode``."""
    if isinstance(payload, Mapping) and "statusCode" in payload:
        status = _status(payload["statusCode"])
        headers = _headers({"headers": payload.get("headers")})
        cookies = payload.get("cookies") or []
        if not isinstance(cookies, list):
            raise MalformedResponse("cookies must be a list of strings")
        headers.extend(("set-cookie", _text(cookie, "a cookie")) for cookie in cookies)
        body = _body(payload, lambda _: True, headers)
        return HttpResponse(status, headers, body)
    body = payload.encode("utf-8") if isinstance(payload, str) else orjson.dumps(payload)
    return HttpResponse(200, [("content-type", "application/json")], body)
