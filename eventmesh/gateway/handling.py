"""Answering one request for one API or function URL: route, event, authorizer, API key,
invocation, response, CORS, and API Gateway's errors where they arise."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context

from eventmesh._http_messages import HttpRequest, HttpResponse
from eventmesh.gateway.apis import Api, HttpApi, RestApi, Route
from eventmesh.gateway.authorization import Authorization, AuthorizationRequest
from eventmesh.gateway.authorizers.fixed import iam_caller, sigv4_access_key
from eventmesh.gateway.errors import GatewayError, gateway_response
from eventmesh.gateway.events import (
    Origin,
    function_url_event,
    http_v1_event,
    http_v2_event,
    rest_event,
)
from eventmesh.gateway.function_url import FunctionUrl
from eventmesh.gateway.ids import api_id
from eventmesh.gateway.integration import Integration
from eventmesh.gateway.media import matches_media_types, media_type
from eventmesh.gateway.responses import MalformedResponse, v1_response, v2_response
from eventmesh.gateway.routes import Match

__all__ = ["Outcome", "answer_api", "answer_url"]

logger = logging.getLogger("eventmesh.gateway")


@dataclass(slots=True)
class Outcome:
    """A response and what the access log records of it."""

    response: HttpResponse
    route_key: str | None = None
    latency_ms: float | None = None
    error: str | None = None


def _error(api_kind: str, error: GatewayError, route_key: str | None = None,
           latency: float | None = None) -> Outcome:  # fmt: skip
    if error.kind == "throttled" and api_kind == "url":
        body = {"Reason": error.reason.removeprefix("throttled: "), "Type": "User",
                "message": "Rate Exceeded."}  # fmt: skip
        response = HttpResponse.json(429, body, [("x-amzn-errortype", "TooManyRequestsException")])
    else:
        kind = "internal" if (api_kind, error.kind) == ("url", "timeout") else error.kind
        response = gateway_response(api_kind, kind)
    if error.kind == "internal":
        logger.error("%s: %s", route_key or "request", error.reason)
    known = error.latency_ms if error.latency_ms is not None else latency
    return Outcome(response, route_key, known, error.reason)


async def _authorize(
    api: Api, route: Route, request: HttpRequest, event: dict[str, Any], path: str
) -> Authorization | None:
    """Run the route's authorizer: its answer (an allowance's context is put in the event),
    or None when the route has none."""
    if route.authorizer is None:
        return None
    ask = AuthorizationRequest(
        request=request,
        event={**event, "requestContext": dict(event["requestContext"])},  # its own view
        route_arn=api.route_arn(request.method, path, event["requestContext"].get("stage")),
        api_kind=api.api_kind,
    )
    # The authorizer's invocation is a child of the request's span, as the function's is:
    # its span starts from the current OpenTelemetry context, which the request's becomes.
    token = None if request.trace_context is None else otel_context.attach(request.trace_context)
    try:
        answer = await route.authorizer.authorize(ask)
    finally:
        if token is not None:
            otel_context.detach(token)
    if answer.refusal is None and answer.context is not None:
        event["requestContext"]["authorizer"] = dict(answer.context)
    return answer


async def _invoke(
    integration: Integration, route: Route, event: dict[str, Any], request: HttpRequest,
    timeout: float | None,
) -> tuple[Any, float]:  # fmt: skip
    result, latency = await integration.invoke(
        route.function, event, timeout=timeout, parent_context=request.trace_context
    )
    if result.function_error is not None:
        payload = result.payload if isinstance(result.payload, dict) else {}
        raise GatewayError(
            "internal",
            f"function error ({payload.get('errorType', result.function_error)}), "
            f"request {result.request_id}",
            latency,
        )
    return result.payload, latency


async def answer_api(
    api: Api, request: HttpRequest, origin: Origin, integration: Integration
) -> Outcome:
    if isinstance(api, RestApi):
        return await _answer_rest(api, request, origin, integration)
    assert isinstance(api, HttpApi)
    return await _answer_http(api, request, origin, integration)


async def _answer_http(
    api: HttpApi, request: HttpRequest, origin: Origin, integration: Integration
) -> Outcome:
    cors = api.cors
    match: Match[Route] | None = api.routes.find(request.method, origin.route)
    if match is None:
        # API Gateway answers a preflight itself only when no route (an ANY route, $default)
        # takes the OPTIONS request: a route that does gets it, its authorizer included.
        if cors is not None and cors.is_preflight(request):
            return Outcome(cors.preflight(request))
        return Outcome(gateway_response("http", "not_found"), error="No route found")
    route = match.value
    key = match.key.text
    if route.payload_format_version == "1.0":
        resource = match.key.path or key
        event = http_v1_event(request, origin, key, resource, match.parameters)
    else:
        event = http_v2_event(request, origin, key, match.parameters)
    latency = None
    try:
        answer = await _authorize(api, route, request, event, origin.route)
        if answer is not None and answer.refusal is not None:
            return Outcome(answer.refusal, key, error="refused by the authorizer")
        if route.fixed is not None:
            response = route.fixed.response()
            return Outcome(cors.decorate(request, response) if cors else response, key)
        payload, latency = await _invoke(integration, route, event, request, route.timeout)
        try:
            if route.payload_format_version == "1.0":
                response = v1_response(
                    payload, decode=lambda _: True, default_type="application/json"
                )
            else:
                response = v2_response(payload)
        except MalformedResponse as exc:
            reason = f"malformed Lambda proxy response: {exc}"
            raise GatewayError("internal", reason, latency) from None
    except GatewayError as error:
        return _error("http", error, key, latency)
    if cors is not None:
        response = cors.decorate(request, response)
    return Outcome(response, key, latency)


def _rest_decode(api: RestApi, request: HttpRequest) -> Callable[[list[tuple[str, str]]], bool]:
    """Whether a base64 response body goes out as bytes: the client's first Accept type,
    or the response's Content-Type, is one of the API's binary media types."""
    accept = media_type((request.header("accept") or "").split(",", 1)[0])

    def decode(headers: list[tuple[str, str]]) -> bool:
        if accept and accept != "*/*" and matches_media_types(accept, api.binary_media_types):
            return True
        content_type = next((v for n, v in headers if n == "content-type"), None)
        return matches_media_types(content_type, api.binary_media_types)

    return decode


async def _answer_rest(
    api: RestApi, request: HttpRequest, origin: Origin, integration: Integration
) -> Outcome:
    if api.cors is not None and request.method == "OPTIONS":
        resource = api.routes.has_resource(origin.route)
        if resource is not None and "OPTIONS" not in api.routes.methods_of(resource):
            return Outcome(api.cors.rest_preflight(api.routes.methods_of(resource)))
    match = api.routes.find(request.method, origin.route)
    if match is None:
        return Outcome(
            gateway_response("rest", "missing_route"), error="Missing Authentication Token"
        )
    route = match.value
    key = match.key.text
    from_header = api.api_key_source == "HEADER"
    api_key = api.key_for(request.header("x-api-key"), origin.stage) if from_header else None
    if api_key is not None:
        origin.extra_identity = {"apiKey": api_key.value, "apiKeyId": api_key.id}
    event = rest_event(
        request, origin, match.key.path, match.parameters,
        binary_media_types=api.binary_media_types,
        resource_id=api_id("resource", f"{api.id}{match.key.path}")[:6],
    )  # fmt: skip
    latency = None
    try:
        answer = await _authorize(api, route, request, event, origin.route)
        if answer is not None and answer.refusal is not None:
            return Outcome(answer.refusal, key, error="refused by the authorizer")
        if not from_header and answer is not None:  # the key the Lambda authorizer returned
            api_key = api.key_for(answer.usage_identifier_key, origin.stage)
            if api_key is not None:
                identity = event["requestContext"]["identity"]
                identity.update(apiKey=api_key.value, apiKeyId=api_key.id)
        if route.api_key_required and api_key is None:
            return Outcome(gateway_response("rest", "forbidden"), key, error="Forbidden")
        if route.fixed is not None:
            return Outcome(route.fixed.response(), key)
        payload, latency = await _invoke(integration, route, event, request, route.timeout)
        try:
            response = v1_response(
                payload, decode=_rest_decode(api, request), default_type="application/json"
            )
        except MalformedResponse as exc:
            reason = f"malformed Lambda proxy response: {exc}"
            raise GatewayError("internal", reason, latency) from None
    except GatewayError as error:
        return _error("rest", error, key, latency)
    return Outcome(response, key, latency)


def _iam_authorizer(url: FunctionUrl, request: HttpRequest) -> dict[str, Any] | None:
    """AWS_IAM: the caller's access key from a SigV4 Authorization header (the signature
    is not verified), or None when there is none."""
    access_key = sigv4_access_key(request.header("authorization"))
    return None if access_key is None else iam_caller(access_key, url.context.account_id)


async def answer_url(
    url: FunctionUrl, request: HttpRequest, origin: Origin, integration: Integration
) -> Outcome:
    cors = url.cors
    if cors is not None and cors.is_preflight(request):
        return Outcome(cors.preflight(request))
    authorizer = None
    if url.auth_type == "AWS_IAM":
        authorizer = _iam_authorizer(url, request)
        if authorizer is None:
            return Outcome(gateway_response("url", "forbidden"), "$default", error="Forbidden")
    event = function_url_event(request, origin, authorizer)
    latency = None
    try:
        result, latency = await integration.invoke(
            url.function, event, timeout=None, parent_context=request.trace_context
        )
        if result.function_error is not None:
            reason = f"function error, request {result.request_id}"
            raise GatewayError("internal", reason, latency)
        try:
            response = v2_response(result.payload)
        except MalformedResponse as exc:
            raise GatewayError("internal", f"malformed response: {exc}", latency) from None
    except GatewayError as error:
        return _error("url", error, "$default", latency)
    if cors is not None:
        response = cors.decorate(request, response)
    return Outcome(response, "$default", latency)


def too_large(api_kind: str) -> Outcome:
    return Outcome(gateway_response(api_kind, "too_large"), error="request body over 10 MB")
