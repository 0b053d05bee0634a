"""Shared fixtures: a virtual clock and a mesh driven by it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from eventmesh import Mesh, Telemetry
from eventmesh.testing import VirtualClock

# The conformance kit's fixtures, for tests/conformance (pytest accepts pytest_plugins only in
# the top-level conftest; the fixtures do nothing for a test that does not ask for them).
pytest_plugins = ["eventmesh.testing.conformance.plugin"]


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def mesh(clock: VirtualClock) -> Mesh:
    """A mesh on the virtual clock, not started: register functions, then `async with`."""
    return Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=2.0)


@pytest.fixture
async def running(mesh: Mesh) -> AsyncIterator[Mesh]:
    """Unused by default; tests that register first and then start use `async with mesh`."""
    async with mesh:
        yield mesh


@pytest.fixture(params=["hand-off", "store"])
def event_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test both ways an Event invocation can travel on memory storage: handed to the
    workers directly (the default) and through the store (as on durable storage)."""
    from eventmesh._async_queue import AsyncInvocationQueue

    monkeypatch.setattr(AsyncInvocationQueue, "hand_off", request.param == "hand-off")
    return str(request.param)
