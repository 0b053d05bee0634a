"""The event a Lambda authorizer function receives, built from the route's proxy event.

* REST ``TOKEN``: ``{"type": "TOKEN", "authorizationToken": ..., "methodArn": ...}``.
* REST ``REQUEST``: ``type``, ``methodArn`` and the proxy event's request parts (``resource``,
  ``path``, ``httpMethod``, both header maps, both query maps, ``pathParameters``,
  ``stageVariables``, ``requestContext``), no body.
* HTTP API payload 1.0: the same with ``version`` ``"1.0"``, plus ``identitySource`` and
  ``authorizationToken``, the identity values joined by commas.
* HTTP API payload 2.0: ``version``, ``type`` ``"REQUEST"``, ``routeArn``, ``identitySource``
  (the values as a list), ``routeKey``, ``rawPath``, ``rawQueryString``, ``cookies``,
  ``headers``, ``queryStringParameters``, ``requestContext``, ``pathParameters``,
  ``stageVariables``, no body.

``requestContext.authorizer`` is never passed on (it does not exist yet).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["http_v1_event", "http_v2_event", "rest_request_event", "token_event"]

_V1_PARTS = (
    "resource",
    "path",
    "httpMethod",
    "headers",
    "multiValueHeaders",
    "queryStringParameters",
    "multiValueQueryStringParameters",
    "pathParameters",
    "stageVariables",
)
_V2_PARTS = (
    "routeKey",
    "rawPath",
    "rawQueryString",
    "cookies",
    "headers",
    "queryStringParameters",
)


def _request_context(event: Mapping[str, Any]) -> dict[str, Any]:
    context = event.get("requestContext")
    if not isinstance(context, Mapping):
        return {}
    return {key: value for key, value in context.items() if key != "authorizer"}


def _copy(event: Mapping[str, Any], parts: Sequence[str]) -> dict[str, Any]:
    return {part: event[part] for part in parts if part in event}


def token_event(token: str, method_arn: str) -> dict[str, Any]:
    return {"type": "TOKEN", "authorizationToken": token, "methodArn": method_arn}


def rest_request_event(event: Mapping[str, Any], method_arn: str) -> dict[str, Any]:
    return {
        "type": "REQUEST",
        "methodArn": method_arn,
        **_copy(event, _V1_PARTS),
        "requestContext": _request_context(event),
    }


def http_v1_event(
    event: Mapping[str, Any], method_arn: str, identity: Sequence[str]
) -> dict[str, Any]:
    joined = ",".join(identity)
    return {
        "version": "1.0",
        "type": "REQUEST",
        "methodArn": method_arn,
        "identitySource": joined,
        "authorizationToken": joined,
        **_copy(event, _V1_PARTS),
        "requestContext": _request_context(event),
    }


def http_v2_event(
    event: Mapping[str, Any], route_arn: str, identity: Sequence[str]
) -> dict[str, Any]:
    return {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": route_arn,
        "identitySource": list(identity),
        **_copy(event, _V2_PARTS),
        "requestContext": _request_context(event),
        "pathParameters": event.get("pathParameters"),
        "stageVariables": event.get("stageVariables"),
    }
