"""API Gateway's and Lambda's own answers, byte for byte as AWS sends them.

AWS's bodies are not written by one JSON encoder: some have a space after the colon and
some do not, so each is kept here as the literal bytes AWS sends.
"""

from __future__ import annotations

from eventmesh._http_messages import HttpResponse

__all__ = ["GatewayError", "gateway_response"]

_JSON = "application/json"
_TEXT = "text; charset=utf-8"
_OVER_10_MB = b"HTTP content length exceeded 10485760 bytes."
_OVER_6_MB = (
    b'{"Message":"Request must be smaller than 6291456 bytes for the InvokeFunction operation"}'
)
_URL_TOO_LARGE = (413, _JSON, _OVER_6_MB, "RequestEntityTooLargeException")


class GatewayError(Exception):
    """A failure the gateway answers with one of its responses: ``kind`` names it (see
    :data:`BODIES`), ``reason`` is what the access log records (never a secret)."""

    def __init__(self, kind: str, reason: str, latency_ms: float | None = None) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.latency_ms = latency_ms
        """The integration's latency when the function was called (its error, its result)."""


# kind -> (status, content type, body, x-amzn-ErrorType)
BODIES: dict[str, tuple[int, str, bytes, str | None]] = {
    # REST APIs
    "rest.missing_route": (
        403, _JSON, b'{"message":"Missing Authentication Token"}',
        "MissingAuthenticationTokenException",
    ),
    "rest.forbidden": (403, _JSON, b'{"message":"Forbidden"}', "ForbiddenException"),
    "rest.internal": (502, _JSON, b'{"message": "Internal server error"}', None),
    "rest.timeout": (504, _JSON, b'{"message": "Endpoint request timed out"}', None),
    "rest.throttled": (
        429, _JSON, b'{"message":"Too Many Requests"}', "TooManyRequestsException"
    ),
    "rest.lambda_too_large": (
        413, _JSON, b'{"message": "Request Too Long"}', "BadRequestException"
    ),
    # HTTP APIs
    "http.not_found": (404, _JSON, b'{"message":"Not Found"}', None),
    "http.forbidden": (403, _JSON, b'{"message":"Forbidden"}', None),
    "http.internal": (500, _JSON, b'{"message":"Internal Server Error"}', None),
    "http.timeout": (503, _JSON, b'{"message":"Service Unavailable"}', None),
    "http.throttled": (429, _JSON, b'{"message":"Too Many Requests"}', None),
    "http.lambda_too_large": (413, _JSON, b'{"message":"Request Entity Too Large"}', None),
    # both: the request body over API Gateway's 10 MB
    "rest.too_large": (413, _TEXT, _OVER_10_MB, None),
    "http.too_large": (413, _TEXT, _OVER_10_MB, None),
    # function URLs (Lambda answers these itself)
    "url.internal": (502, _JSON, b'{"Message":"Internal Server Error"}', None),
    "url.forbidden": (403, _JSON, b'{"Message":"Forbidden"}', "AccessDeniedException"),
    "url.lambda_too_large": _URL_TOO_LARGE,
    "url.too_large": _URL_TOO_LARGE,
}  # fmt: skip


def gateway_response(api_kind: str, error: str) -> HttpResponse:
    """The response of ``error`` (``internal``, ``timeout``, ...) for an API kind
    (``rest``, ``http``, ``url``); a URL's throttle and timeout are built by the caller."""
    status, content_type, body, error_type = BODIES[f"{api_kind}.{error}"]
    headers = [("content-type", content_type)]
    if error_type is not None:
        headers.append(("x-amzn-errortype", error_type))
    return HttpResponse(status, headers, body)
