"""The paths the mesh itself serves on its HTTP front, under ``/_eventmesh/``.

Resources below the front (a topic's signing certificate and subscription confirmations, say)
register a handler for a path here through their context, and ask for the absolute URL to
write into what they send; the front (:mod:`eventmesh.http`) answers those paths before any
API's routes and sets :attr:`MeshEndpoints.base_url` when it starts serving.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from eventmesh._errors import ConfigurationError
from eventmesh._http_messages import HttpRequest, HttpResponse

__all__ = ["ENDPOINT_PREFIX", "EndpointHandler", "MeshEndpoints"]

ENDPOINT_PREFIX = "/_eventmesh/"

EndpointHandler = Callable[[HttpRequest], Awaitable[HttpResponse]]


class MeshEndpoints:
    """Handlers by exact path; see the module docstring."""

    def __init__(self) -> None:
        self._handlers: dict[str, EndpointHandler] = {}
        self._base_url: str | None = None
        self._waiters: list[asyncio.Future[None]] = []

    @property
    def base_url(self) -> str | None:
        """``scheme://host:port`` of the running front, None while no front serves."""
        return self._base_url

    @base_url.setter
    def base_url(self, value: str | None) -> None:
        self._base_url = value
        if value is not None:
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def serving(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds (real time) for a front to serve; whether one does.

        For what must carry the front's URL but may be sent as the mesh starts, before
        ``eventmesh run --http`` (or :class:`~eventmesh.http.HttpServer`) starts serving."""
        if self._base_url is not None:
            return True
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            return False
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
        return True

    def add(self, path: str, handler: EndpointHandler) -> None:
        """Serve ``path`` (which must start with ``/_eventmesh/``) with ``handler``."""
        if not path.startswith(ENDPOINT_PREFIX):
            raise ConfigurationError(f"a mesh endpoint's path starts with {ENDPOINT_PREFIX}")
        existing = self._handlers.get(path)
        if existing is not None and existing != handler:
            raise ConfigurationError(f"the mesh already serves {path}")
        self._handlers[path] = handler

    def find(self, path: str) -> EndpointHandler | None:
        return self._handlers.get(path)

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` on the front (``http://127.0.0.1`` before one runs)."""
        return (self.base_url or "http://127.0.0.1") + path
