"""Authorizers that need no function: what a template's APIs ask for that the mesh cannot
check itself.

* :class:`RefusingAuthorizer`: every request refused with 401 ``{"message":"Unauthorized"}``,
  API Gateway's answer to a request without a valid token. A Cognito user pool authorizer
  becomes one when the mesh has no user pool to check tokens against: the route exists (its
  path is not "missing") but nothing reaches its function.
* :class:`SigV4Authorizer`: a route with ``AWS_IAM`` authorization; the request needs a SigV4
  ``Authorization`` header (the signature is not verified, as for function URLs), else 403
  ``{"message":"Missing Authentication Token"}``, API Gateway's answer to an unsigned request.
"""

from __future__ import annotations

import re

from eventmesh._http_messages import HttpResponse
from eventmesh.gateway.authorization import Authorization, AuthorizationRequest
from eventmesh.gateway.authorizers._refusals import unauthorized

__all__ = ["RefusingAuthorizer", "SigV4Authorizer"]

_SIGV4 = re.compile(r"AWS4-HMAC-SHA256\s+Credential=([A-Z0-9]{16,128})/")


class RefusingAuthorizer:
    """Refuses every request with 401 ``{"message":"Unauthorized"}``; ``reason`` says why
    (for logs and ``repr``)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"<RefusingAuthorizer: {self.reason}>"

    async def authorize(self, request: AuthorizationRequest) -> Authorization:
        return Authorization(refusal=unauthorized(request.api_kind))


class SigV4Authorizer:
    """``AWS_IAM`` authorization: a SigV4 ``Authorization`` header is required (not verified);
    the caller's access key goes into the event's ``requestContext.identity`` (REST)."""

    async def authorize(self, request: AuthorizationRequest) -> Authorization:
        found = _SIGV4.match(request.request.header("authorization") or "")
        if found is None:
            if request.api_kind == "rest":
                body = b'{"message":"Missing Authentication Token"}'
                headers = [
                    ("content-type", "application/json"),
                    ("x-amzn-ErrorType", "MissingAuthenticationTokenException"),
                ]
                return Authorization(refusal=HttpResponse(403, headers, body))
            return Authorization(
                refusal=HttpResponse(
                    403, [("content-type", "application/json")], b'{"message":"Forbidden"}'
                )
            )
        return Authorization(context=None)
