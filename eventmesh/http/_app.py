"""The ASGI application of a mesh: the mesh's own paths, health, and the gateway.

Every HTTP request is read whole (up to the body cap), turned into an
:class:`~eventmesh._http_messages.HttpRequest` and answered by, in this order: the mesh's own
endpoints (paths under ``/_eventmesh/``), the health checks (``GET /health`` and
``GET /health/ready``, see :mod:`eventmesh.http._health`), and the gateway
(:class:`~eventmesh.gateway.front.Gateway`) for everything else. Each request gets an access
log line and, while the mesh traces, a server span that is the parent of the invocation's.

Whatever happens below, the client gets an HTTP answer and the server lives on: an exception
becomes an HTTP API's 500 ``{"message":"Internal Server Error"}`` (logged with its traceback
on ``eventmesh.http``, never sent), and a client that leaves early is dropped quietly.

The ASGI lifespan starts the mesh (when it is not running yet) and stops it again, so the app
runs standalone under any ASGI server; mounted inside another app, which does not pass the
lifespan on, the host app runs the mesh itself (``async with mesh``).
"""

from __future__ import annotations

import dataclasses
import logging
from time import perf_counter

from eventmesh._endpoints import ENDPOINT_PREFIX
from eventmesh._errors import ConfigurationError
from eventmesh._http_messages import HttpRequest, HttpResponse
from eventmesh._ids import RequestIds
from eventmesh._mesh import Mesh
from eventmesh.gateway.errors import gateway_response
from eventmesh.gateway.front import Gateway, GatewayAnswer
from eventmesh.http._access_log import AccessRecord, log_access
from eventmesh.http._asgi_types import Receive, Scope, Send
from eventmesh.http._health import liveness, readiness
from eventmesh.http._requests import (
    MAX_BODY,
    MAX_HEAD,
    BodyTooLarge,
    ClientGone,
    check_response,
    declared_length,
    expects_continue,
    head_size,
    linger,
    read_body,
    send_response,
    to_request,
)
from eventmesh.http._spans import RequestSpan, route_of

__all__ = ["MeshApp", "UNAVAILABLE", "asgi_app"]

logger = logging.getLogger("eventmesh.http")

UNAVAILABLE = {"message": "Service Unavailable"}
"""The body of the 503 answer while the mesh is not running."""
NOT_FOUND = {"message": "Not Found"}
HEAD_TOO_LARGE = {"message": "Request Header Fields Too Large"}


def asgi_app(
    mesh: Mesh,
    *,
    max_body: int = MAX_BODY,
    health_path: str | None = "/health",
    base_url: str | None = None,
) -> MeshApp:
    """The ASGI 3 application serving ``mesh``'s APIs, function URLs and own endpoints.

    ``max_body``: the largest request body read (API Gateway's 10 MB); a larger one is
    answered 413 without being read. ``health_path``: where liveness is answered (readiness
    at ``{health_path}/ready``), None for neither (a route of your own at ``/health`` is then
    reachable). ``base_url``: the URL the app is reachable at, mount point included
    (``https://example.com/api``), for the absolute URLs the mesh writes into what it sends
    (an SNS signing certificate's, say); :class:`~eventmesh.http.HttpServer` sets it itself.
    """
    return MeshApp(mesh, max_body=max_body, health_path=health_path, base_url=base_url)


class MeshApp:
    """See :func:`asgi_app` and the module docstring."""

    def __init__(
        self,
        mesh: Mesh,
        *,
        max_body: int = MAX_BODY,
        health_path: str | None = "/health",
        base_url: str | None = None,
    ) -> None:
        if not isinstance(mesh, Mesh):
            raise ConfigurationError(f"asgi_app needs an eventmesh.Mesh, got {type(mesh).__name__}")
        if not isinstance(max_body, int) or isinstance(max_body, bool) or max_body < 0:
            raise ConfigurationError(f"max_body must be a whole number of bytes, got {max_body!r}")
        if health_path is not None and (
            not health_path.startswith("/") or health_path.startswith(ENDPOINT_PREFIX)
        ):
            raise ConfigurationError(
                f"health_path must start with / (outside {ENDPOINT_PREFIX}), got {health_path!r}"
            )
        self.mesh = mesh
        self.max_body = max_body
        self.health_path = health_path.rstrip("/") or "/" if health_path else None
        self.ready_path = (
            None if self.health_path is None else self.health_path.rstrip("/") + "/ready"
        )
        self.base_url = base_url.rstrip("/") if base_url else None
        if self.base_url is not None:
            mesh.context.endpoints.base_url = self.base_url
        self._context = mesh.context
        self._endpoints = mesh.context.endpoints
        self._clock = mesh.clock
        self._gateway = Gateway(mesh.context)
        self._ids = RequestIds()
        self._started_mesh = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1003})  # 403 before the handshake

    # -- lifespan --------------------------------------------------------------------------
    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    if not self.mesh.running:
                        await self.mesh.start()
                        self._started_mesh = True
                except Exception as exc:
                    logger.exception("starting the mesh failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    if self._started_mesh:
                        self._started_mesh = False
                        await self.mesh.stop()
                except Exception as exc:
                    logger.exception("stopping the mesh failed")
                    await send({"type": "lifespan.shutdown.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- requests --------------------------------------------------------------------------
    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = perf_counter()
        received_at = self._clock.time()
        too_large: str | None = None
        try:
            if head_size(scope) > MAX_HEAD:
                too_large = "head"
                raise BodyTooLarge
            body = await read_body(receive, declared_length(scope["headers"]), self.max_body)
        except ClientGone:
            logger.debug("client left before its request's body arrived")
            return
        except BodyTooLarge:
            if not expects_continue(scope["headers"]):  # else reading would invite the body
                await linger(receive)
            body, too_large = b"", too_large or "body"
        request = to_request(scope, body, received_at)
        health = None if too_large else self._health(request)
        if health is not None:  # probes are neither logged nor traced: they would drown both
            try:
                response = liveness() if health == "live" else await readiness(self._context)
            except Exception:
                logger.exception("the readiness check failed")
                response = HttpResponse.json(503, {"status": "unavailable"})
            await send_response(send, response, head=request.method == "HEAD")
            return
        tracer = self.mesh.telemetry.tracer
        span = RequestSpan(tracer, request, scope.get("server")) if tracer is not None else None
        if span is not None:
            request = dataclasses.replace(request, trace_context=span.context)
        answer = await self._answer(request, too_large)
        problem = check_response(answer.response)
        if problem is not None:
            logger.error(
                "the answer to %s %s cannot be sent: %s", request.method, request.path, problem
            )
            answer.response = gateway_response("http", "internal")
            answer.error = problem
        sent = await send_response(send, answer.response, head=request.method == "HEAD")
        route = answer.route_key if answer.api_id is not None else None
        if span is not None:
            http_route = route_of(answer.route_key) if answer.api_id is not None else None
            if http_route is None and request.path.startswith(ENDPOINT_PREFIX):
                http_route = request.path if answer.response.status != 404 else None
            span.end(sent.status if sent.delivered else None, http_route, answer.error)
        log_access(
            AccessRecord(
                request_id=answer.request_id,
                ip=request.source_ip,
                received_at=received_at,
                method=request.method,
                path=request.path,
                protocol=request.protocol,
                route_key=route,
                api_id=answer.api_id,
                stage=answer.stage,
                status=sent.status,
                response_length=sent.length,
                integration_latency_ms=answer.integration_latency_ms,
                response_latency_ms=(perf_counter() - started) * 1000.0,
                error=answer.error if sent.delivered else "client disconnected",
            )
        )

    def _health(self, request: HttpRequest) -> str | None:
        if self.health_path is None or request.method not in ("GET", "HEAD"):
            return None
        if request.path == self.health_path:
            return "live"
        if request.path == self.ready_path:
            return "ready"
        return None

    async def _answer(self, request: HttpRequest, too_large: str | None) -> GatewayAnswer:
        """The answer to ``request``; never raises (a failure is API Gateway's 500)."""
        if too_large == "head":
            response = HttpResponse.json(431, HEAD_TOO_LARGE, [("connection", "close")])
            return self._own(response, f"request line and headers over {MAX_HEAD} bytes")
        if too_large:
            response = gateway_response("http", "too_large")  # API Gateway's literal 413
            response.headers.append(("connection", "close"))
            return self._own(response, f"request body over {self.max_body} bytes")
        path = request.path
        try:
            if path.startswith(ENDPOINT_PREFIX):
                handler = self._endpoints.find(path)
                if handler is None:
                    return self._own(HttpResponse.json(404, NOT_FOUND), "no such mesh endpoint")
                return self._own(await handler(request))
            if not self._context.running:
                return self._own(HttpResponse.json(503, UNAVAILABLE), "the mesh is not running")
            return await self._gateway.handle(request)
        except Exception as exc:
            logger.exception("answering %s %s failed", request.method, path)
            return self._own(gateway_response("http", "internal"), type(exc).__name__)

    def _own(self, response: HttpResponse, error: str | None = None) -> GatewayAnswer:
        """An answer the front gives itself, under a request id of its own."""
        return GatewayAnswer(response=response, request_id=self._ids.next(), error=error)
