"""The gateway of one mesh: picks the API (or function URL) a request is for and answers it.

The face calls :meth:`Gateway.handle` for every request that is not one of the mesh's own
paths; the answer carries what API Gateway's access logs record besides the response.
"""

from __future__ import annotations

from dataclasses import dataclass

from eventmesh._http_messages import HttpRequest, HttpResponse
from eventmesh.resources.context import ResourceContext

__all__ = ["Gateway", "GatewayAnswer"]


@dataclass(slots=True)
class GatewayAnswer:
    """The response, and the access-log fields only the gateway knows: API Gateway's request
    id (``$context.requestId``), the API's id and stage, the route key matched (None when no
    route matched), the integration's latency in ms (None when no function was called), and
    the error message API Gateway would log (``$context.error.message``), if any."""

    response: HttpResponse
    request_id: str
    api_id: str | None = None
    stage: str | None = None
    route_key: str | None = None
    integration_latency_ms: float | None = None
    error: str | None = None


class Gateway:
    """Routes requests to the mesh's REST APIs, HTTP APIs and function URLs."""

    def __init__(self, context: ResourceContext) -> None:
        self._context = context

    async def handle(self, request: HttpRequest) -> GatewayAnswer:
        raise NotImplementedError("the gateway's routing is being built")
