"""The answers API Gateway sends instead of calling the function, as AWS sends them.

REST APIs answer with their default gateway responses (``UNAUTHORIZED``, ``ACCESS_DENIED``,
``AUTHORIZER_FAILURE`` / ``AUTHORIZER_CONFIGURATION_ERROR``) and name the error in
``x-amzn-ErrorType``; HTTP APIs answer with their fixed bodies. The literals:

* a missing, empty or invalid identity (any API): 401 ``{"message":"Unauthorized"}``;
* REST, a policy whose matching statement denies: 403
  ``{"Message":"User is not authorized to access this resource with an explicit deny"}``, and
  one that allows nothing for the method: 403
  ``{"Message":"User is not authorized to access this resource"}`` (the capital ``M`` is what
  API Gateway sends for a Lambda authorizer's policy, as measured; AWS's troubleshooting page
  prints the same sentences under ``message``);
* HTTP APIs, any refusal after the identity was accepted: 403 ``{"message":"Forbidden"}``;
* REST, an authorizer that fails or answers in a shape API Gateway cannot use: 500
  ``{"message":null}``; HTTP APIs: 500 ``{"message":"Internal Server Error"}``.
"""

from __future__ import annotations

from eventmesh._http_messages import HttpResponse

__all__ = [
    "EXPLICIT_DENY",
    "IMPLICIT_DENY",
    "authorizer_failure",
    "forbidden",
    "unauthorized",
]

EXPLICIT_DENY = "User is not authorized to access this resource with an explicit deny"
IMPLICIT_DENY = "User is not authorized to access this resource"
_ERROR_TYPE = "x-amzn-ErrorType"


def unauthorized(api_kind: str, *, www_authenticate: str | None = None) -> HttpResponse:
    """401: the identity is missing or was not accepted."""
    headers: list[tuple[str, str]] = []
    if api_kind == "rest":
        headers.append((_ERROR_TYPE, "UnauthorizedException"))
    if www_authenticate is not None:
        headers.append(("www-authenticate", www_authenticate))
    return HttpResponse.json(401, {"message": "Unauthorized"}, headers)


def forbidden(
    api_kind: str, message: str = IMPLICIT_DENY, *, www_authenticate: str | None = None
) -> HttpResponse:
    """403: the identity was accepted, access to this route was not. ``message`` is used by
    REST APIs only (an explicit or an implicit deny); HTTP APIs always say ``Forbidden``."""
    if api_kind == "rest":
        return HttpResponse.json(
            403, {"Message": message}, [(_ERROR_TYPE, "AccessDeniedException")]
        )
    headers = [] if www_authenticate is None else [("www-authenticate", www_authenticate)]
    return HttpResponse.json(403, {"message": "Forbidden"}, headers)


def authorizer_failure(api_kind: str) -> HttpResponse:
    """500: the authorizer could not be run, failed, or answered something unusable."""
    if api_kind == "rest":
        return HttpResponse.json(
            500, {"message": None}, [(_ERROR_TYPE, "AuthorizerConfigurationException")]
        )
    return HttpResponse.json(500, {"message": "Internal Server Error"})
