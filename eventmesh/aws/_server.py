"""Serving the AWS endpoint on an address of its own (``--aws 127.0.0.1:4566``), in the
mesh's event loop, with the HTTP front's server (:class:`~eventmesh.http.HttpServer`).

Without credentials the endpoint accepts any request, so it binds to loopback only (a
non-loopback address without credentials is refused) and says so in the log at start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from eventmesh._errors import ConfigurationError
from eventmesh._mesh import Mesh
from eventmesh.aws._app import MAX_BODY, AwsApp
from eventmesh.aws._credentials import Credentials
from eventmesh.aws.operations import OperationRegistry
from eventmesh.http import HttpServer
from eventmesh.http._server import is_loopback
from eventmesh.http._serving import ServesMesh

__all__ = ["DEFAULT_PORT", "AwsServer", "serve"]

logger = logging.getLogger("eventmesh.aws")

DEFAULT_PORT = 4566
"""The port LocalStack made customary for an AWS-compatible endpoint."""


class AwsServer(ServesMesh):
    """Serves ``mesh``'s AWS endpoint on ``host:port`` (port 0: a free one).

    Use as ``async with AwsServer(mesh, port=0) as server:`` (starts the mesh when it is not
    running) or :meth:`start` and :meth:`stop` around a mesh you run yourself.
    ``credentials`` as for :func:`eventmesh.aws.asgi_app`.
    """

    def __init__(
        self,
        mesh: Mesh,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        credentials: Credentials | None = None,
        registry: OperationRegistry | None = None,
        max_body: int = MAX_BODY,
        public_url: str | None = None,
        shutdown_timeout: float | None = None,
        now: Callable[[], float] | None = None,
    ) -> None:
        self.app = AwsApp(
            mesh, credentials=credentials, registry=registry, max_body=max_body, now=now
        )
        if not self.app.authenticated and not is_loopback(host):
            raise ConfigurationError(
                f"the AWS endpoint accepts any request without credentials, so it binds to "
                f"loopback only, not {host}: give it credentials (--aws-credentials "
                "KEY:SECRET or EVENTMESH_AWS_CREDENTIALS) to serve other addresses"
            )
        self.mesh = mesh
        self.public_url = public_url.rstrip("/") if public_url else None
        self._http = HttpServer(
            mesh,
            host,
            port,
            app=self.app,
            max_body=max_body,
            shutdown_timeout=shutdown_timeout,
            public_url=public_url,
        )
        self._started_mesh = False

    @property
    def address(self) -> tuple[str, int]:
        """The host and port served (the port chosen, for port 0)."""
        return self._http.address

    @property
    def url(self) -> str:
        """``http://host:port`` of the running endpoint: what ``AWS_ENDPOINT_URL`` is."""
        return self._http.base_url

    @property
    def serving(self) -> bool:
        return self._http.serving

    async def start(self) -> None:
        """Bind and serve; returns once the endpoint accepts connections."""
        await self.app.restore()
        endpoints = self.mesh.context.endpoints
        front_url = endpoints.base_url  # the HTTP front's URL stays the mesh's own
        await self._http.start()
        endpoints.base_url = front_url
        self.app.base_url = self.url
        self.mesh.aws_endpoint_url = self.url
        if self.app.authenticated:
            logger.info("serving the AWS endpoint on %s (SigV4 verified)", self.url)
        else:
            logger.warning(
                "serving the AWS endpoint on %s UNAUTHENTICATED: no credentials were given, "
                "so any request is accepted; it is bound to loopback only",
                self.url,
            )

    async def stop(self, *, graceful: bool = True) -> None:
        """Stop accepting, let the requests in hand finish (``graceful``), stop serving."""
        if self.mesh.aws_endpoint_url == self.app.base_url:
            self.mesh.aws_endpoint_url = None
        endpoints = self.mesh.context.endpoints
        front_url = endpoints.base_url
        await self._http.stop(graceful=graceful)
        endpoints.base_url = front_url

    def __repr__(self) -> str:
        host, port = self.address
        return f"<AwsServer {host}:{port}{' serving' if self.serving else ''}>"


async def serve(
    mesh: Mesh, host: str = "127.0.0.1", port: int = DEFAULT_PORT, **options: object
) -> None:
    """Serve ``mesh``'s AWS endpoint until cancelled; ``options`` as for :class:`AwsServer`."""
    async with AwsServer(mesh, host, port, **options):  # type: ignore[arg-type]
        await asyncio.Event().wait()
