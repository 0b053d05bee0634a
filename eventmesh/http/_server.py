"""Serving a mesh over HTTP from its own event loop: uvicorn beside the mesh, no thread.

:class:`HttpServer` binds the socket itself (so port 0 picks a free port, known before the
first request) and runs a ``uvicorn.Server`` as a task of the running loop, with uvicorn's
own signal handling left out: whoever runs the loop (``eventmesh run``, your program) decides
when to stop. Stopping closes the listening socket, lets the requests in hand finish (up to
``shutdown_timeout``, by default the mesh's ``drain_timeout``), and only then is the mesh
drained, so no request comes in while the mesh drains.

It binds to 127.0.0.1 unless told otherwise; any other address is logged with a warning, as
the mesh's functions then answer whoever reaches the machine.

Hostile or broken clients are bounded: each request (headers and body) must arrive within
``read_timeout`` (:data:`DEFAULT_READ_TIMEOUT`, see :mod:`eventmesh.http._protocol`), an idle
kept-alive connection is closed after :data:`KEEP_ALIVE_TIMEOUT`, a header block over
:data:`~eventmesh.http._requests.MAX_HEAD` is refused, and past ``limit_concurrency``
(:data:`DEFAULT_LIMIT_CONCURRENCY`) connections or requests in hand a new request is answered
503 at once rather than the process running out of sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn

from eventmesh._errors import ConfigurationError, EventMeshError
from eventmesh._mesh import Mesh
from eventmesh.http._app import MeshApp, asgi_app
from eventmesh.http._asgi_types import ASGIApp
from eventmesh.http._protocol import protocol_class
from eventmesh.http._requests import MAX_BODY, MAX_HEAD
from eventmesh.http._serving import ServesMesh

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_LIMIT_CONCURRENCY",
    "DEFAULT_READ_TIMEOUT",
    "KEEP_ALIVE_TIMEOUT",
    "HttpServer",
    "parse_address",
    "serve",
]

logger = logging.getLogger("eventmesh.http")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_READ_TIMEOUT = 60.0
"""Seconds a client has to send a whole request, headers and body (10 MB at ~1.4 Mbit/s)."""
DEFAULT_LIMIT_CONCURRENCY = 1000
"""Connections (and requests in hand) served at once; past it a request is answered 503."""
KEEP_ALIVE_TIMEOUT = 5
"""Seconds an idle kept-alive connection stays open (uvicorn's default, set explicitly)."""


def parse_address(text: str) -> tuple[str, int]:
    """``[HOST:]PORT`` (``8000``, ``127.0.0.1:8000``, ``[::1]:8000``, ``:0``) to host and
    port; the host defaults to 127.0.0.1."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = "", text
    host = host.strip("[]") or DEFAULT_HOST
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigurationError(
            f"expected [HOST:]PORT, e.g. 127.0.0.1:8000, got {text!r}"
        ) from None
    if not 0 <= port <= 65535:
        raise ConfigurationError(f"a port is 0 to 65535, got {port}")
    return host, port


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _bind(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise EventMeshError(f"cannot serve HTTP on {host}:{port}: {exc.strerror}") from exc
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        hint = ""
        if exc.errno == errno.EADDRINUSE:
            hint = " (another process listens there: choose another port, or 0 for a free one)"
        raise EventMeshError(f"cannot serve HTTP on {host}:{port}: {exc.strerror}{hint}") from exc
    return sock


_uvicorn_logger = logging.getLogger("uvicorn.error")


class _EmbeddedServer(uvicorn.Server):
    """uvicorn's server without its signal handlers: the loop's owner stops it.

    uvicorn notices ``should_exit`` on its next tick (every 0.1 s); here setting it wakes
    the loop at once, so a stop does not wait out the tick. The ticks still run (they
    refresh the Date header every second)."""

    def __init__(self, config: uvicorn.Config) -> None:
        self._exit_requested = asyncio.Event()
        super().__init__(config)

    @property
    def should_exit(self) -> bool:
        return self._exit_requested.is_set()

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        if value:
            self._exit_requested.set()
        else:
            self._exit_requested.clear()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's shutdown (stop accepting, close idle connections, let the requests in
        hand finish within ``timeout_graceful_shutdown``, then cancel what is left), without
        its fixed 0.1 s pause and with 5 ms polls instead of 0.1 s ones: a stop ends as soon
        as its last request is answered."""
        _uvicorn_logger.info("Shutting down")
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        try:
            async with asyncio.timeout(self.config.timeout_graceful_shutdown):
                await self._wait_tasks_to_complete()
        except TimeoutError:
            _uvicorn_logger.error(
                "Cancel %s running task(s), timeout graceful shutdown exceeded",
                len(self.server_state.tasks),
            )
            for task in self.server_state.tasks:
                task.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")
        if not self.force_exit:
            await self.lifespan.shutdown()

    async def _wait_tasks_to_complete(self) -> None:
        # uvicorn's state has no event to wait on: poll it (connections, then tasks)
        for pending in (self.server_state.connections, self.server_state.tasks):
            while True:
                if not pending or self.force_exit:
                    break
                await asyncio.sleep(0.005)
        for server in self.servers:
            await server.wait_closed()

    async def main_loop(self) -> None:
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit_requested.wait(), 0.1)
            should_exit = await self.on_tick(counter)


class HttpServer(ServesMesh):
    """Serves ``mesh`` (its :func:`~eventmesh.http.asgi_app`, or ``app``) on ``host:port``.

    ``async with HttpServer(mesh, port=0) as server:`` starts the mesh if it is not running
    (and stops it on the way out), then serves; :attr:`base_url` says where. Or call
    :meth:`start` and :meth:`stop` around a mesh you run yourself. ``public_url``: the URL
    clients reach the server at, when not ``base_url`` (behind a proxy, say); the mesh
    writes it into what it sends (an SNS signing certificate's URL). ``read_timeout`` and
    ``limit_concurrency``: see the module docstring (None for no limit).
    """

    def __init__(
        self,
        mesh: Mesh,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        *,
        app: ASGIApp | None = None,
        max_body: int = MAX_BODY,
        shutdown_timeout: float | None = None,
        public_url: str | None = None,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        limit_concurrency: int | None = DEFAULT_LIMIT_CONCURRENCY,
    ) -> None:
        if not isinstance(read_timeout, int | float) or not read_timeout > 0:
            raise ConfigurationError(f"read_timeout must be seconds > 0, got {read_timeout!r}")
        if limit_concurrency is not None and (
            not isinstance(limit_concurrency, int)
            or isinstance(limit_concurrency, bool)
            or limit_concurrency < 1
        ):
            raise ConfigurationError(
                f"limit_concurrency must be a whole number > 0 or None, got {limit_concurrency!r}"
            )
        if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
            raise ConfigurationError(f"port must be 0 to 65535, got {port!r}")
        if not isinstance(host, str) or not host:
            raise ConfigurationError(f"host must be an address or a name, got {host!r}")
        self.mesh = mesh
        self.host = host
        self.port = port
        self.app: ASGIApp = app if app is not None else asgi_app(mesh, max_body=max_body)
        self.shutdown_timeout = shutdown_timeout
        self.public_url = public_url.rstrip("/") if public_url else None
        self.read_timeout = float(read_timeout)
        self.limit_concurrency = limit_concurrency
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._bound: tuple[str, int] | None = None
        self._base_url: str | None = None
        self._started_mesh = False

    # -- where -----------------------------------------------------------------------------
    @property
    def address(self) -> tuple[str, int]:
        """The host and port served (the port chosen, for port 0); before start, as asked."""
        return self._bound or (self.host, self.port)

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running server (a wildcard host as loopback)."""
        if self._base_url is None:
            raise EventMeshError("the HTTP server is not serving")
        return self._base_url

    @property
    def serving(self) -> bool:
        return self._server is not None and self._server.started and not self._server.should_exit

    # -- start and stop --------------------------------------------------------------------
    async def start(self) -> None:
        """Bind and serve; returns once the server accepts connections."""
        if self._server is not None:
            raise EventMeshError("the HTTP server is already serving")
        sock = _bind(self.host, self.port)
        bound = sock.getsockname()
        self._bound = (bound[0], bound[1])
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            http=protocol_class(self.read_timeout),
            h11_max_incomplete_event_size=MAX_HEAD,
            timeout_keep_alive=KEEP_ALIVE_TIMEOUT,
            limit_concurrency=self.limit_concurrency,
            log_config=None,
            access_log=False,
            ws="none",
            server_header=False,
            timeout_graceful_shutdown=max(
                1,
                round(
                    self.shutdown_timeout
                    if self.shutdown_timeout is not None
                    else self.mesh.drain_timeout
                ),
            ),
        )
        server = _EmbeddedServer(config)
        self._server = server
        self._task = asyncio.create_task(server.serve(sockets=[sock]), name="eventmesh-http")
        while not server.started:
            if self._task.done():
                self._server, task, self._task = None, self._task, None
                sock.close()
                error = task.exception() if not task.cancelled() else None
                raise EventMeshError(f"the HTTP server did not start: {error!r}")
            await asyncio.sleep(0.005)
        self._base_url = self._url()
        endpoints = self.mesh.context.endpoints
        if not (isinstance(self.app, MeshApp) and self.app.base_url is not None):
            endpoints.base_url = self._base_url  # an app told its URL keeps it
        where = f"http://{_url_host(self._bound[0])}:{self._bound[1]}"
        if is_loopback(self._bound[0]):
            logger.info("serving HTTP on %s", where)
        else:
            logger.warning(
                "serving HTTP on %s: not a loopback address, so anyone who reaches this "
                "machine can call the mesh's APIs",
                where,
            )

    def _url(self) -> str:
        if self.public_url is not None:
            return self.public_url
        assert self._bound is not None
        host = self._bound[0]
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1" if host == "0.0.0.0" else "::1"
        return f"http://{_url_host(host)}:{self._bound[1]}"

    async def stop(self, *, graceful: bool = True) -> None:
        """Stop accepting, let the requests in hand finish (``graceful``), stop serving.

        Not graceful: the connections are closed at once and the requests in hand cancelled.
        A stop of a server that does not serve does nothing."""
        server, task = self._server, self._task
        if server is None or task is None:
            return
        server.should_exit = True
        if not graceful:
            server.force_exit = True
        try:
            if graceful:
                await asyncio.shield(task)
            else:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        except asyncio.CancelledError:
            server.force_exit = True
            task.cancel()
            raise
        except Exception:
            logger.exception("the HTTP server failed while stopping")
        finally:
            if task.done():
                self._server = self._task = None
                endpoints = self.mesh.context.endpoints
                if endpoints.base_url == self._base_url:
                    endpoints.base_url = None
                self._base_url = None
                logger.info("stopped serving HTTP")

    def __repr__(self) -> str:
        host, port = self.address
        return f"<HttpServer {_url_host(host)}:{port}{' serving' if self.serving else ''}>"


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


async def serve(
    mesh: Mesh, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, **options: Any
) -> None:
    """Serve ``mesh`` until cancelled (starting and stopping the mesh if it is not running):
    ``await eventmesh.http.serve(mesh, port=8000)``; ``options`` as for :class:`HttpServer`."""
    async with HttpServer(mesh, host, port, **options):
        await asyncio.Event().wait()
