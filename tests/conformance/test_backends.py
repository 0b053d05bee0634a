"""The backend builders: which keep everything in this process."""

from __future__ import annotations

from pathlib import Path

from eventmesh.backends.memory import memory_backend
from eventmesh.backends.sqlite import sqlite_backend
from eventmesh.testing import VirtualClock


async def test_the_memory_backend_keeps_everything_in_this_process() -> None:
    """``in_memory`` is what makes the mesh bound queues and logs with ``max_pending``."""
    backend = memory_backend(VirtualClock())
    assert backend.in_memory is True
    await backend.close()


async def test_the_sqlite_backend_is_not_in_memory(tmp_path: Path) -> None:
    backend = sqlite_backend(tmp_path / "mesh.db", VirtualClock(), synchronous="NORMAL")
    assert backend.in_memory is False
    await backend.close()
