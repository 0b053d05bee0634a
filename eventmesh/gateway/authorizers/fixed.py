"""Authorizers that need no function: what a template's APIs ask for that the mesh cannot
check itself.

* :class:`RefusingAuthorizer`: every request refused with 401 ``{"message":"Unauthorized"}``,
  API Gateway's answer to a request without a valid token. A Cognito user pool authorizer
  becomes one when the mesh has no user pool to check tokens against: the route exists (its
  path is not "missing") but nothing reaches its function.
* :class:`SigV4Authorizer`: a route with ``AWS_IAM`` authorization; the request needs a SigV4
  ``Authorization`` header (the signature is not verified, as for function URLs), else 403
  ``{"message":"Missing Authentication Token"}``, API Gateway's answer to an unsigned request.

:func:`sigv4_access_key` and :func:`iam_caller` are what function URLs with ``AWS_IAM`` use
too: one reading of a SigV4 header for every front door.
"""

from __future__ import annotations

import re
from typing import Any

from eventmesh._http_messages import HttpResponse
from eventmesh.gateway.authorization import Authorization, AuthorizationRequest
from eventmesh.gateway.authorizers._refusals import unauthorized

__all__ = ["RefusingAuthorizer", "SigV4Authorizer", "iam_caller", "sigv4_access_key"]

_SIGV4 = re.compile(r"AWS4-HMAC-SHA256\s+Credential=([A-Z0-9]{16,128})/")


def sigv4_access_key(authorization: str | None) -> str | None:
    """The access key of a SigV4 ``Authorization`` header (the signature is not verified),
    or None when the header is not one."""
    found = _SIGV4.match(authorization or "")
    return None if found is None else found.group(1)


def iam_caller(access_key: str, account_id: str) -> dict[str, Any]:
    """``requestContext.authorizer`` of a payload 2.0 event for a SigV4-signed request (a
    function URL's or an HTTP API route's with IAM authorization): the caller, taken to be
    the account's root as the signature is not checked."""
    return {
        "iam": {
            "accessKey": access_key,
            "accountId": account_id,
            "callerId": access_key,
            "cognitoIdentity": None,
            "principalOrgId": None,
            "userArn": f"arn:aws:iam::{account_id}:root",
            "userId": account_id,
        }
    }


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
    """``AWS_IAM`` authorization: a SigV4 ``Authorization`` header is required (not verified).
    A payload 2.0 event gets the caller in ``requestContext.authorizer.iam``; a REST event's
    ``requestContext.identity`` is left as for an anonymous caller."""

    async def authorize(self, request: AuthorizationRequest) -> Authorization:
        access_key = sigv4_access_key(request.request.header("authorization"))
        if access_key is None:
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
        if request.event.get("version") != "2.0":
            return Authorization(context=None)
        account_id = request.route_arn.split(":", 5)[4]  # arn:aws:execute-api:region:account:
        return Authorization(context=iam_caller(access_key, account_id))
