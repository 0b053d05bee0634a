"""Liveness and readiness.

Liveness (``GET /health``) answers 200 whenever the process serves HTTP at all. Readiness
(``GET /health/ready``) answers 200 only when the mesh runs and its backend answers a read
within :data:`PROBE_TIMEOUT`; otherwise 503 with a JSON body naming what is down, so a load
balancer or an orchestrator sends traffic only to a worker that can serve it.

The backend is probed by writing a key nobody reads to its key-value store, with a short
expiry: one round trip to the storage every backend has (memory, SQLite, Redis). A write,
not a read: a SQLite database another process holds locked still answers reads, but the
mesh cannot work on it, and readiness must say so. What the store said when it failed is
shown with any URL's credentials masked.
"""

from __future__ import annotations

import asyncio
from typing import Any

from eventmesh._http_messages import HttpResponse
from eventmesh._redact import redact_text
from eventmesh.resources.context import ResourceContext

__all__ = ["PROBE_KEY", "PROBE_TIMEOUT", "PROBE_TTL", "liveness", "readiness"]

PROBE_KEY = "eventmesh:http:readiness-probe"
PROBE_TTL = 60.0
"""Seconds the probe's key lives (each probe writes it anew)."""
PROBE_TIMEOUT = 2.0
"""Seconds the backend has to answer the probe."""


async def _probe(context: ResourceContext) -> None:
    backend = context.backend
    await backend.values.put(PROBE_KEY, b"1", ttl=PROBE_TTL)
    await backend.check()  # what a write does not show (a SQLite file removed under it)


def liveness() -> HttpResponse:
    return HttpResponse.json(200, {"status": "ok"})


async def readiness(context: ResourceContext, timeout: float | None = None) -> HttpResponse:
    """200 when the mesh runs and its backend answers within ``timeout`` (default
    :data:`PROBE_TIMEOUT`), else 503 naming what is down."""
    timeout = PROBE_TIMEOUT if timeout is None else timeout
    down: dict[str, str] = {}
    if not context.running:
        down["mesh"] = "not running"
    else:
        try:
            await asyncio.wait_for(_probe(context), timeout)
        except TimeoutError:
            down["backend"] = f"no answer within {timeout:g} s"
        except Exception as exc:  # any failure of the store is "down", with what it said
            down["backend"] = redact_text(f"{type(exc).__name__}: {exc}")
    if down:
        body: dict[str, Any] = {"status": "unavailable", "down": down}
        return HttpResponse.json(503, body, [("cache-control", "no-store")])
    return HttpResponse.json(
        200,
        {"status": "ready", "mesh": "running", "backend": "ok"},
        [("cache-control", "no-store")],
    )
