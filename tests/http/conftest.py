"""A mesh served over real HTTP: uvicorn on a free loopback port, driven by httpx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from eventmesh import Mesh, Telemetry
from eventmesh.http import HttpServer


@dataclass
class Served:
    mesh: Mesh
    server: HttpServer
    client: httpx.AsyncClient

    @property
    def url(self) -> str:
        return self.server.base_url


@pytest.fixture
def http_mesh() -> Mesh:
    """The mesh to serve, on the real clock (the access log's times are wall time)."""
    return Mesh(telemetry=Telemetry(enabled=False), drain_timeout=2.0)


@pytest.fixture
async def served(http_mesh: Mesh) -> AsyncIterator[Served]:
    """``http_mesh`` running and served on 127.0.0.1 (a free port), with a client for it."""
    async with (
        HttpServer(http_mesh, "127.0.0.1", 0) as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=30) as client,
    ):
        yield Served(http_mesh, server, client)
    assert not http_mesh.running
