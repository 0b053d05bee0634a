"""Which service a request is for, as AWS's endpoints tell: the ``X-Amz-Target`` prefix
(json protocol), the SigV4 credential scope's service, an ``Action`` parameter (query
protocol), a Lambda or Scheduler route; S3 is what is left (REST-XML requests to any path).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from urllib.parse import parse_qsl

from eventmesh._http_messages import HttpRequest
from eventmesh.aws import _model
from eventmesh.aws._scope import Signed

__all__ = ["detect_service", "form_parameters"]

_QUERY_VERSIONS = {"2010-03-31": "sns", "2012-11-05": "sqs"}
_ROUTED = ("lambda", "scheduler")


@functools.cache
def _target_prefixes() -> dict[str, str]:
    found: dict[str, str] = {}
    for service in _model.SERVICES:
        prefix = _model.service_model(service).metadata.get("targetPrefix")
        if prefix:
            found[str(prefix)] = service
    return found


def form_parameters(request: HttpRequest) -> dict[str, str]:
    """The query protocol's parameters: the form body's (POST) and the query string's."""
    parameters = dict(parse_qsl(request.query_string, keep_blank_values=True))
    content_type = (request.header("content-type") or "").lower()
    if request.body and content_type.startswith("application/x-www-form-urlencoded"):
        try:
            text = request.body.decode("utf-8")
        except UnicodeDecodeError:
            return parameters
        parameters.update(parse_qsl(text, keep_blank_values=True))
    return parameters


def detect_service(
    request: HttpRequest, signed: Signed | None, routes: Callable[[str, HttpRequest], bool]
) -> str:
    """The service of ``request`` (botocore's name; may be one the endpoint does not serve,
    when the signature's scope names it); ``routes(service, request)``: whether the request
    matches one of a REST service's routes (Lambda's, Scheduler's)."""
    target = request.header("x-amz-target")
    if target:
        service = _target_prefixes().get(target.rpartition(".")[0])
        if service is not None:
            return service
    if signed is not None and signed.service:
        return signed.service
    if "Action=" in request.query_string or (
        request.method == "POST"
        and (request.header("content-type") or "").startswith("application/x-www-form-urlencoded")
    ):
        parameters = form_parameters(request)
        if "Action" in parameters:
            return _QUERY_VERSIONS.get(parameters.get("Version", ""), "sns")
    for service in _ROUTED:
        if routes(service, request):
            return service
    return "s3"
