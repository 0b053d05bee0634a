"""The events API Gateway and Lambda function URLs send a function, built from a request.

Three shapes (reference §1): REST APIs' proxy payload 1.0 (no ``version`` key), HTTP APIs'
payload 2.0 (or 1.0 with ``"version": "1.0"`` when a route asks), and function URLs' payload
2.0 (``routeKey`` and ``stage`` ``$default``). Header names arrive lower-cased (the front
gives them so, as ASGI does), which payload 2.0 wants. Payload 1.0 carries names as the client
sent them; that case is lost, so 1.0 events spell them in canonical HTTP case
(``Content-Type``, ``X-Api-Key``): handlers written for REST APIs read
``event["headers"]["Content-Type"]``, which clients nearly always send so.
"""

from __future__ import annotations

import base64
import time as _time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, unquote

from eventmesh._http_messages import HttpRequest
from eventmesh.gateway.media import is_textual, matches_media_types

__all__ = [
    "Origin",
    "canonical_header_name",
    "clf_time",
    "function_url_event",
    "http_v1_event",
    "http_v2_event",
    "rest_event",
]

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def clf_time(epoch: float) -> str:
    """``12/Mar/2020:19:03:58 +0000`` (Common Log Format, English months whatever the locale)."""
    t = _time.gmtime(epoch)
    month = _MONTHS[t.tm_mon - 1]
    return (
        f"{t.tm_mday:02d}/{month}/{t.tm_year}:{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
    )


@dataclass(slots=True)
class Origin:
    """How a request reached an API: the API's identity and how the path was addressed.

    ``prefix`` is the part of the raw path that chose the API and stage (``/prod`` of a REST
    API's execute-api URL, ``/v1`` of a base path mapping, empty for neither) and ``route``
    the raw (percent-encoded) rest, which routes. ``mapped``: the prefix is a base path
    mapping (a custom domain's API mapping), which payload 1.0's ``path`` keeps and 2.0's
    ``rawPath`` drops; a stage prefix is the other way round, as on AWS.
    """

    account_id: str
    region: str
    api_id: str
    stage: str
    domain_name: str
    domain_prefix: str
    request_id: str
    extended_request_id: str
    epoch: float
    prefix: str = ""
    route: str = "/"
    mapped: bool = False
    stage_variables: Mapping[str, str] | None = None
    extra_identity: dict[str, Any] = field(default_factory=dict)

    @property
    def full_raw_path(self) -> str:
        return self.prefix + self.route if self.route != "/" or not self.prefix else self.prefix

    @property
    def v1_path(self) -> str:
        return unquote(self.full_raw_path if self.mapped else self.route)

    @property
    def v2_raw_path(self) -> str:
        return self.route if self.mapped else self.full_raw_path

    @property
    def epoch_ms(self) -> int:
        return int(self.epoch * 1000)


def _query_pairs(query_string: str) -> list[tuple[str, str]]:
    return parse_qsl(query_string, keep_blank_values=True)


def body_of(request: HttpRequest, binary: bool) -> tuple[str | None, bool]:
    """The event's ``body`` and ``isBase64Encoded``: base64 when ``binary`` or not UTF-8."""
    if not request.body:
        return None, False
    if not binary:
        try:
            return request.body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(request.body).decode("ascii"), True


def v2_binary(request: HttpRequest) -> bool:
    """HTTP APIs and function URLs: a body is base64 unless its content type is textual."""
    content_type = request.header("content-type")
    return content_type is not None and not is_textual(content_type)


def rest_binary(request: HttpRequest, binary_media_types: tuple[str, ...]) -> bool:
    return matches_media_types(request.header("content-type"), binary_media_types)


@lru_cache(maxsize=1024)
def canonical_header_name(name: str) -> str:
    """``x-api-key`` -> ``X-Api-Key``: each hyphen-separated word capitalised, the rest
    lower-case (Go's ``CanonicalMIMEHeaderKey``), the case most clients send."""
    return "-".join(word[:1].upper() + word[1:].lower() for word in name.split("-"))


def _multi(pairs: list[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        single[key] = value
        multi.setdefault(key, []).append(value)
    return single, multi


def _v1(
    request: HttpRequest,
    origin: Origin,
    resource: str,
    parameters: Mapping[str, str],
    body: tuple[str | None, bool],
    *,
    resource_id: str,
) -> dict[str, Any]:
    headers, multi_headers = _multi(
        [(canonical_header_name(name), value) for name, value in request.headers]
    )
    query, multi_query = _multi(_query_pairs(request.query_string))
    identity: dict[str, Any] = {
        "accessKey": None,
        "accountId": None,
        "caller": None,
        "cognitoAuthenticationProvider": None,
        "cognitoAuthenticationType": None,
        "cognitoIdentityId": None,
        "cognitoIdentityPoolId": None,
        "principalOrgId": None,
        "sourceIp": request.source_ip,
        "user": None,
        "userAgent": request.header("user-agent"),
        "userArn": None,
    }
    identity.update(origin.extra_identity)
    return {
        "resource": resource,
        "path": origin.v1_path,
        "httpMethod": request.method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "requestContext": {
            "accountId": origin.account_id,
            "apiId": origin.api_id,
            "domainName": origin.domain_name,
            "domainPrefix": origin.domain_prefix,
            "extendedRequestId": origin.extended_request_id,
            "httpMethod": request.method,
            "identity": identity,
            "path": unquote(origin.full_raw_path),
            "protocol": request.protocol,
            "requestId": origin.request_id,
            "requestTime": clf_time(origin.epoch),
            "requestTimeEpoch": origin.epoch_ms,
            "resourceId": resource_id,
            "resourcePath": resource,
            "stage": origin.stage,
        },
        "pathParameters": dict(parameters) or None,
        "stageVariables": dict(origin.stage_variables) if origin.stage_variables else None,
        "body": body[0],
        "isBase64Encoded": body[1],
    }


def rest_event(
    request: HttpRequest,
    origin: Origin,
    resource: str,
    parameters: Mapping[str, str],
    *,
    binary_media_types: tuple[str, ...],
    resource_id: str,
) -> dict[str, Any]:
    """A REST API's proxy event (payload 1.0, no ``version``); ``resource`` is the template
    path (``/orders/{id}``)."""
    body = body_of(request, rest_binary(request, binary_media_types))
    return _v1(request, origin, resource, parameters, body, resource_id=resource_id)


def http_v1_event(
    request: HttpRequest, origin: Origin, route_key: str, resource: str,
    parameters: Mapping[str, str],
) -> dict[str, Any]:  # fmt: skip
    """An HTTP API's payload 1.0: REST's shape with ``"version": "1.0"`` first."""
    body = body_of(request, v2_binary(request))
    event = _v1(request, origin, resource, parameters, body, resource_id=route_key)
    event["requestContext"]["routeKey"] = route_key
    return {"version": "1.0", **event}


def _v2(
    request: HttpRequest,
    origin: Origin,
    route_key: str,
    parameters: Mapping[str, str] | None,
) -> dict[str, Any]:
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        if name == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    query: dict[str, str] = {}
    for key, value in _query_pairs(request.query_string):
        query[key] = f"{query[key]},{value}" if key in query else value
    raw_path = origin.v2_raw_path
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": request.query_string,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = {
        "accountId": origin.account_id,
        "apiId": origin.api_id,
        "domainName": origin.domain_name,
        "domainPrefix": origin.domain_prefix,
        "http": {
            "method": request.method,
            "path": unquote(raw_path),
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": request.header("user-agent") or "",
        },
        "requestId": origin.request_id,
        "routeKey": route_key,
        "stage": origin.stage,
        "time": clf_time(origin.epoch),
        "timeEpoch": origin.epoch_ms,
    }
    body, encoded = body_of(request, v2_binary(request))
    if body is not None:
        event["body"] = body
    if parameters:
        event["pathParameters"] = dict(parameters)
    event["isBase64Encoded"] = encoded
    if origin.stage_variables:
        event["stageVariables"] = dict(origin.stage_variables)
    return event


def http_v2_event(
    request: HttpRequest, origin: Origin, route_key: str, parameters: Mapping[str, str]
) -> dict[str, Any]:
    """An HTTP API's payload 2.0; keys without a value (cookies, query, path parameters,
    body, stage variables) are left out, as API Gateway does."""
    return _v2(request, origin, route_key, parameters)


def function_url_event(
    request: HttpRequest, origin: Origin, authorizer: Mapping[str, Any] | None
) -> dict[str, Any]:
    """A function URL's payload 2.0: ``routeKey``/``stage`` ``$default``, ``authorizer``
    null unless the URL's auth type is AWS_IAM, ``authentication`` null."""
    event = _v2(request, origin, "$default", None)
    context = event["requestContext"]
    context["authentication"] = None
    context["authorizer"] = dict(authorizer) if authorizer is not None else None
    event["pathParameters"] = None
    event["stageVariables"] = None
    return event
