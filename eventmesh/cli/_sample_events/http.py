"""API Gateway and function URLs: a request handled by the mesh's gateway (as the HTTP front
hands it over, no server needed), as the routed function receives it."""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

from eventmesh._http_messages import HttpRequest
from eventmesh.cli._sample_events import SampleError
from eventmesh.cli._sample_events._sampling import Act, Given, Sampling
from eventmesh.gateway.front import Gateway
from eventmesh.gateway.function_url import FunctionUrl
from eventmesh.gateway.routes import DEFAULT_ROUTE, METHODS

__all__ = ["apigateway_aws_proxy", "apigateway_http_api_proxy", "lambda_url_request"]

API_NAME = "sample-api"
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"  # what stays as written in a raw path (RFC 3986 pchar)
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def _method(given: Given) -> str:
    method = given.text("method").upper()
    if method == "ANY" or method not in METHODS:
        known = ", ".join(sorted(METHODS - {"ANY"}))
        raise SampleError(f"--method: one of {known}, got {given.text('method')!r}")
    return method


def _raw_path(given: Given) -> str:
    """``--path`` as sent on the request line: a leading ``/`` added, characters a path cannot
    carry as they are (a space...) percent-encoded, ``%XX`` kept."""
    path = given.text("path")
    if "?" in path or "#" in path:
        raise SampleError("--path: the path alone (give the query with --query)")
    return quote(path if path.startswith("/") else f"/{path}", safe=_PATH_SAFE)


def _headers(given: Given, host: str) -> tuple[tuple[str, str], ...]:
    """``Host`` (the API's execute-api or the function URL's domain), then each ``--header
    'Name: value'`` in order, names lower-cased as the front gives them."""
    headers = [("host", host)]
    for text in given.many("header"):
        name, colon, value = text.partition(":")
        name = name.strip()
        if not colon or not _HEADER_NAME.match(name):
            raise SampleError(f"--header: write 'Name: value', got {text!r}")
        if name.lower() == "host":
            raise SampleError("--header: the Host header is the API's own (it picks the API)")
        headers.append((name.lower(), value.strip()))
    return tuple(headers)


def _request(sampling: Sampling, given: Given, host: str, prefix: str = "") -> HttpRequest:
    raw_path = prefix + _raw_path(given)
    body = given.optional("body")
    return HttpRequest(
        method=_method(given),
        path=unquote(raw_path),
        raw_path=raw_path,
        body=b"" if body is None else body.encode(),
        headers=_headers(given, host),
        query_string=(given.optional("query") or "").removeprefix("?"),
        scheme="https",
        received_at=sampling.clock.time(),
    )


def _handle(sampling: Sampling, request: HttpRequest) -> Act:
    """The act: the gateway answers the request; anything but the function's 200 (a path
    the route does not match...) is the gateway's answer, reported."""

    async def act() -> None:
        answer = await Gateway(sampling.mesh.context).handle(request)
        if answer.response.status != 200 or not sampling.events:
            detail = answer.error or answer.response.body.decode(errors="replace")
            raise SampleError(
                f"the gateway answered {answer.response.status} to {request.method} "
                f"{request.raw_path}: {detail}"
            )

    return act


def _route_key(given: Given, method: str) -> str:
    resource = given.text("resource")
    return DEFAULT_ROUTE if resource == DEFAULT_ROUTE else f"{method} {resource}"


def _stage_prefix(stage: str) -> str:
    """The first segment of an execute-api URL's path: the stage (none for ``$default``)."""
    return "" if stage == DEFAULT_ROUTE else "/" + quote(stage, safe="")


def apigateway_aws_proxy(sampling: Sampling, given: Given) -> Act:
    """A REST API with one route, ``METHOD --resource``, reached at its execute-api URL
    ``https://{api-id}.execute-api.{region}.amazonaws.com/{stage}{path}``."""
    stage = given.text("stage")
    api = sampling.mesh.rest_api(API_NAME, stage=stage, base_path=None)
    method = _method(given)
    api.route(_route_key(given, method), sampling.receiver())
    return _handle(sampling, _request(sampling, given, api.domain_name, _stage_prefix(stage)))


def apigateway_http_api_proxy(sampling: Sampling, given: Given) -> Act:
    """An HTTP API with one route (``METHOD --resource``, or ``$default``) in the payload
    format asked for, reached at its execute-api URL."""
    stage = given.text("stage")
    version = given.text("payload-format-version")
    api = sampling.mesh.http_api(
        API_NAME, stage=stage, base_path=None, payload_format_version=version
    )
    api.route(_route_key(given, _method(given)), sampling.receiver())
    return _handle(sampling, _request(sampling, given, api.domain_name, _stage_prefix(stage)))


def lambda_url_request(sampling: Sampling, given: Given) -> Act:
    """A function (named ``--function-name``) with a URL, reached at
    ``https://{url-id}.lambda-url.{region}.on.aws{path}``."""
    function = sampling.receiver(given.text("function-name"), url=True)
    url = sampling.mesh.context.find_resource(FunctionUrl.resource_name(function.name))
    assert isinstance(url, FunctionUrl)
    return _handle(sampling, _request(sampling, given, url.domain_name))
