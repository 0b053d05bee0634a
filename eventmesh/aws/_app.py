"""The ASGI application of the AWS endpoint: every request is read whole, its service and
operation found (see :mod:`eventmesh.aws._detect`), its signature verified, its input parsed
and checked from botocore's model, the operation's handler called, and the output or error
written in the service's protocol.

Whatever happens, the client gets AWS's answer for it: an operation without a handler is
AWS's "unknown operation" error naming it; a body that cannot be read, the protocol's
serialisation error; an unexpected exception in a handler, the service's internal error
(logged with its traceback on ``eventmesh.aws``, never sent).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from eventmesh._aws_credentials import TEST_CREDENTIALS, AwsCredentials
from eventmesh._errors import ConfigurationError
from eventmesh._http_messages import HttpRequest, HttpResponse
from eventmesh._ids import RequestIds
from eventmesh._mesh import Mesh
from eventmesh.aws import _model, catalog
from eventmesh.aws import _standard_errors as errors
from eventmesh.aws._chunked import decode_request_body
from eventmesh.aws._credentials import Credentials, credentials_from
from eventmesh.aws._detect import detect_service
from eventmesh.aws._s3_addressing import path_style
from eventmesh.aws._scope import signed_parts
from eventmesh.aws._send import send_answer
from eventmesh.aws._sigv4 import SigningContext, Verifier
from eventmesh.aws._validate import validate
from eventmesh.aws.operations import OPERATIONS, AwsCall, AwsError, OperationRegistry
from eventmesh.aws.protocols import PROTOCOLS, WireProtocol
from eventmesh.aws.services import load_services
from eventmesh.http._asgi_types import Receive, Scope, Send
from eventmesh.http._requests import (
    BodyTooLarge,
    ClientGone,
    check_response,
    declared_length,
    linger,
    read_body,
    to_request,
)

__all__ = ["AwsApp", "MAX_BODY", "asgi_app"]

logger = logging.getLogger("eventmesh.aws")

MAX_BODY = 256 * 1024 * 1024
"""The largest request body read by default (an S3 object put in one request)."""
_UNSERVED_PROTOCOL = "json"


def asgi_app(
    mesh: Mesh,
    *,
    credentials: Credentials | None = None,
    registry: OperationRegistry | None = None,
    max_body: int = MAX_BODY,
    base_url: str | None = None,
    now: Callable[[], float] | None = None,
) -> AwsApp:
    """The ASGI 3 application serving AWS's wire protocols for ``mesh``.

    ``credentials``: the access keys accepted (``"KEY:SECRET[,KEY2:SECRET2]"``,
    :class:`~eventmesh.AwsCredentials`, a mapping of key ids to secrets); None takes
    ``EVENTMESH_AWS_CREDENTIALS`` when set, else accepts any request unverified.
    ``registry``: the operation handlers (by default every service module's). ``base_url``:
    the URL the endpoint is reachable at, for the URLs answers contain (``QueueUrl``);
    :class:`~eventmesh.aws.AwsServer` sets it itself. ``now``: the wall clock signatures
    are checked against (tests shift it).
    """
    return AwsApp(
        mesh,
        credentials=credentials,
        registry=registry,
        max_body=max_body,
        base_url=base_url,
        now=now,
    )


def _routes(service: str, request: HttpRequest) -> bool:
    protocol = PROTOCOLS.get(_model.service_model(service).protocol)
    return protocol is not None and protocol.operation_name(service, request) is not None


class AwsApp:
    """See :func:`asgi_app` and the module docstring."""

    def __init__(
        self,
        mesh: Mesh,
        *,
        credentials: Credentials | None = None,
        registry: OperationRegistry | None = None,
        max_body: int = MAX_BODY,
        base_url: str | None = None,
        now: Callable[[], float] | None = None,
    ) -> None:
        if not isinstance(mesh, Mesh):
            raise ConfigurationError(
                f"eventmesh.aws.asgi_app needs an eventmesh.Mesh, got {type(mesh).__name__}"
            )
        if not isinstance(max_body, int) or isinstance(max_body, bool) or max_body < 0:
            raise ConfigurationError(f"max_body must be a whole number of bytes, got {max_body!r}")
        if registry is None:
            load_services()
            registry = OPERATIONS
        self.mesh = mesh
        self.registry = registry
        self.max_body = max_body
        self.base_url = base_url.rstrip("/") if base_url else None
        secrets = credentials_from(credentials)
        if secrets is not None:
            own = mesh.aws_credentials
            if own is TEST_CREDENTIALS:
                # Handlers in process environments sign with the mesh's credentials: give
                # them a pair the endpoint accepts.
                key, secret = next(iter(secrets.items()))
                mesh.aws_credentials = AwsCredentials(key, secret)
            else:
                secrets.setdefault(own.access_key_id, own.secret_access_key)
        self.verifier: Verifier | None = (
            None if secrets is None else Verifier(secrets, now) if now else Verifier(secrets)
        )
        self._ids = RequestIds()
        self._started_mesh = False

    async def restore(self) -> None:
        """Re-create what was created through the endpoint and recorded in the mesh's
        storage (by another worker, or before a restart; :mod:`eventmesh.aws.catalog`).
        Called once the mesh runs, before the first request is served."""
        await catalog.restore(self.mesh)

    @property
    def authenticated(self) -> bool:
        """Whether signatures are verified (credentials were given)."""
        return self.verifier is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1003})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    if not self.mesh.running:
                        await self.mesh.start()
                        self._started_mesh = True
                    await self.restore()
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

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        too_large = False
        try:
            body = await read_body(receive, declared_length(scope["headers"]), self.max_body)
        except ClientGone:
            return
        except BodyTooLarge:
            await linger(receive)
            body, too_large = b"", True
        request = to_request(scope, body, self.mesh.clock.time())
        response = await self.answer(request, too_large=too_large)
        problem = check_response(response)
        if problem is not None:
            logger.error("an answer cannot be sent: %s", problem)
            response = HttpResponse(500, [("content-type", "text/plain")], b"Internal Failure")
        await send_answer(send, response, head=request.method == "HEAD")

    async def answer(self, request: HttpRequest, *, too_large: bool = False) -> HttpResponse:
        """The answer to one request; never raises."""
        request_id = self._ids.next()
        signed = signed_parts(request)
        try:
            service = detect_service(request, signed, _routes)
        except Exception:
            logger.exception("telling the service of %s %s failed", request.method, request.path)
            service = "s3"
        if service not in _model.SERVICES:
            return PROTOCOLS[_UNSERVED_PROTOCOL].error(
                "events",
                AwsError(
                    "UnknownOperationException",
                    f"eventmesh does not serve the {service} service",
                ),
                request_id,
                None,
            )
        protocol = PROTOCOLS.get(_model.service_model(service).protocol)
        if protocol is None:  # pragma: no cover - every served service's protocol is known
            raise AssertionError(f"no protocol for {service}")
        name: str | None = None
        signed_request = request
        if service == "s3":
            request = path_style(request, self._own_host())
        try:
            name = protocol.operation_name(service, request)
            if too_large:
                raise AwsError(
                    "EntityTooLarge" if service == "s3" else "RequestEntityTooLarge",
                    f"the request body is over the endpoint's {self.max_body} bytes",
                    413 if service != "s3" else 400,
                )
            context = self._verify(signed_request, signed, service)
            if service == "s3":
                request = decode_request_body(request, context)
            return await self._call(protocol, service, name, request, signed, request_id)
        except AwsError as error:
            return protocol.error(service, error, request_id, name)
        except Exception:
            logger.exception(
                "%s.%s failed unexpectedly (request %s)", service, name or "?", request_id
            )
            return protocol.error(service, errors.internal_error(service), request_id, name)

    def _verify(self, request: HttpRequest, signed: Any, service: str) -> SigningContext | None:
        if self.verifier is None:
            return None
        return self.verifier.verify(request, signed, service)

    async def _call(
        self,
        protocol: WireProtocol,
        service: str,
        name: str | None,
        request: HttpRequest,
        signed: Any,
        request_id: str,
    ) -> HttpResponse:
        operation = _model.operation_model(service, name) if name else None
        handler = self.registry.find(service, name) if name else None
        if operation is None or handler is None:
            raise errors.not_implemented(service, name or "", operation is not None)
        if not self.mesh.running:
            raise AwsError("ServiceUnavailable", "The mesh is not running", 503, sender_fault=False)
        arguments = protocol.parse(service, operation, request)
        problems = validate(operation.input_shape, arguments)
        if problems.missing:
            raise errors.missing_input(service, problems.message())
        if problems:
            raise errors.invalid_input(service, problems.message())
        call = AwsCall(
            mesh=self.mesh,
            service=service,
            operation=name or "",
            region=signed.region if signed is not None else self.mesh.region,
            account_id=self.mesh.account_id,
            request=request,
            endpoint_url=self._endpoint_url(request),
            access_key=signed.access_key if signed is not None else None,
        )
        output = await handler(call, arguments)
        return protocol.serialise(service, operation, output or {}, request_id)

    def _own_host(self) -> str | None:
        if self.base_url is None:
            return None
        return urlsplit(self.base_url).hostname

    def _endpoint_url(self, request: HttpRequest) -> str:
        if self.base_url is not None:
            return self.base_url
        return f"{request.scheme}://{request.host or '127.0.0.1'}"
