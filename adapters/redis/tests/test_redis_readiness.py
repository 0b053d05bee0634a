"""The HTTP front's readiness on Redis: a real server that stops, is paused, and comes back."""

from __future__ import annotations

import httpx
from outage_tools import PASSWORD, PrivateServer

from eventmesh import Mesh, Telemetry
from eventmesh.http import HttpServer


async def test_readiness_follows_a_real_redis_server(private_server: PrivateServer) -> None:
    mesh = Mesh(telemetry=Telemetry(enabled=False), drain_timeout=1.0)
    mesh.use_storage(private_server.url() + "?timeout=1")
    async with (
        HttpServer(mesh, port=0) as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=30) as client,
    ):
        assert (await client.get("/health/ready")).status_code == 200
        private_server.pause()  # the connection stays open, nothing answers
        try:
            paused = await client.get("/health/ready")
        finally:
            private_server.resume()
        assert paused.status_code == 503
        assert set(paused.json()["down"]) == {"backend"}
        private_server.stop()  # down: the connection is refused
        down = await client.get("/health/ready")
        assert down.status_code == 503
        assert PASSWORD not in down.text and PASSWORD not in paused.text
        assert (await client.get("/health")).status_code == 200  # alive, not ready
    # The mesh's own stop with its backend gone is the adapter's business, not readiness's.
