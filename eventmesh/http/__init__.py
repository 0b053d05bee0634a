"""The HTTP front (the face): serves the gateway (:mod:`eventmesh.gateway`) over ASGI.

``asgi_app(mesh)`` is an ASGI 3 application to mount anywhere (Starlette, FastAPI, any ASGI
server); :class:`HttpServer` and :func:`serve` run it with uvicorn in the mesh's own event
loop, as ``eventmesh run app:mesh --http 127.0.0.1:8000`` does. Needs the ``http`` extra
(``pip install "eventmesh[http]"``).
"""

from eventmesh.http._access_log import access_logger
from eventmesh.http._app import MeshApp, asgi_app
from eventmesh.http._requests import MAX_BODY
from eventmesh.http._server import HttpServer, parse_address, serve

__all__ = [
    "MAX_BODY",
    "HttpServer",
    "MeshApp",
    "access_logger",
    "asgi_app",
    "parse_address",
    "serve",
]
