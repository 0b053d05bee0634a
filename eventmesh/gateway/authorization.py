"""What the gateway asks of an authorizer, and what an authorizer answers.

The gateway matches the route, builds the proxy event the function would receive (without
``requestContext.authorizer``) and, when the route has an authorizer, calls
:meth:`Authorizer.authorize` before anything else reaches the function. A refusal becomes the
gateway's answer as it is; an allowance's ``context`` goes into the event's
``requestContext.authorizer`` (its shape depends on the API type and payload version, which the
authorizer knows from the event it was given).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from eventmesh._http_messages import HttpRequest, HttpResponse

__all__ = ["Authorization", "Authorizer", "AuthorizationRequest"]


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """One request to authorize: the raw request, the proxy event built for the route
    (REST 1.0, HTTP API 1.0 or 2.0, as the function would receive it), the route's ARN
    (``arn:aws:execute-api:{region}:{account}:{api-id}/{stage}/{METHOD}/{path}``, the
    ``methodArn`` / ``routeArn`` of authorizer events), and the API's kind (``"rest"`` or
    ``"http"``)."""

    request: HttpRequest
    event: Mapping[str, Any]
    route_arn: str
    api_kind: str


@dataclass(frozen=True, slots=True)
class Authorization:
    """An authorizer's answer. ``refusal`` is the response API Gateway sends instead of calling
    the function (401, 403, 500 with API Gateway's bodies), None when allowed; ``context`` is
    what goes into ``requestContext.authorizer`` when allowed; ``usage_identifier_key`` the
    API key a Lambda authorizer returned (``usageIdentifierKey``), for a REST API whose API
    key source is the authorizer, else None."""

    refusal: HttpResponse | None = None
    context: Mapping[str, Any] | None = None
    usage_identifier_key: str | None = None

    @property
    def allowed(self) -> bool:
        return self.refusal is None


class Authorizer(Protocol):
    """Anything that decides whether a request may reach a route's function."""

    async def authorize(self, request: AuthorizationRequest) -> Authorization: ...
