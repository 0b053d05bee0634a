"""API Gateway in front of the mesh: REST APIs (payload 1.0), HTTP APIs (payload 2.0, or 1.0
when asked) and function URLs, with AWS's events, routing, response rules, errors and
authorizers. Everything here works on :class:`~eventmesh._http_messages.HttpRequest` and
:class:`~eventmesh._http_messages.HttpResponse`; serving them over HTTP (ASGI, uvicorn) is the
face's job (:mod:`eventmesh.http`).

Modules: :mod:`~eventmesh.gateway.apis` (the ``HttpApi`` and ``RestApi`` resources, their
routes, stages, API keys), :mod:`~eventmesh.gateway.function_url`, :mod:`~eventmesh.gateway.routes`
(route keys and precedence), :mod:`~eventmesh.gateway.events` (the three event shapes),
:mod:`~eventmesh.gateway.responses` (the response rules), :mod:`~eventmesh.gateway.errors`
(API Gateway's own answers), :mod:`~eventmesh.gateway.cors`,
:mod:`~eventmesh.gateway.integration` (invoking within the integration timeout),
:mod:`~eventmesh.gateway.front` (:class:`Gateway`: which API a request is for).
"""

from eventmesh.gateway.apis import ApiKey, HttpApi, RestApi, Route
from eventmesh.gateway.cors import Cors
from eventmesh.gateway.front import Gateway, GatewayAnswer
from eventmesh.gateway.function_url import FunctionUrl, FunctionUrlConfig

__all__ = [
    "ApiKey",
    "Cors",
    "FunctionUrl",
    "FunctionUrlConfig",
    "Gateway",
    "GatewayAnswer",
    "HttpApi",
    "RestApi",
    "Route",
]
