"""The AWS endpoint's catalog: resources recorded in the mesh's key-value store, seen by every
mesh on the same storage and re-created after a restart; and Mesh.remove_resource."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from eventmesh import Mesh
from eventmesh.aws import catalog
from eventmesh.telemetry import Telemetry

KIND = "test.queue"
LATER = "test.after"
built: list[tuple[str, str]] = []


async def _make_queue(mesh: Mesh, name: str, settings: Mapping[str, Any]) -> None:
    built.append((KIND, name))
    mesh.queue(name, visibility_timeout=settings["visibility"])


async def _make_later(mesh: Mesh, name: str, settings: Mapping[str, Any]) -> None:
    built.append((LATER, name))
    if settings.get("fail"):
        raise ValueError("refused")


catalog.register_kind(LATER, _make_later, after=[KIND])
catalog.register_kind(KIND, _make_queue)


@pytest.fixture(autouse=True)
def _reset() -> None:
    built.clear()


def _mesh(path: Path) -> Mesh:
    return Mesh(storage=f"sqlite:///{path}", telemetry=Telemetry(enabled=False))


async def test_records_are_shared_by_meshes_on_one_file_and_kept_across_restarts(
    tmp_path: Path,
) -> None:
    path = tmp_path / "mesh.db"
    async with _mesh(path) as first, _mesh(path) as second:
        await catalog.record(first, KIND, "orders", {"visibility": 5})
        assert await catalog.lookup(second, KIND, "orders") == {"visibility": 5}
        assert await catalog.load(second, KIND, "orders") is True
        assert second.queue("orders").visibility_timeout == 5
        assert await catalog.load(second, KIND, "missing") is False
        # Replaced in place, forgotten once.
        await catalog.record(second, KIND, "orders", {"visibility": 7})
        assert await catalog.recorded(first, KIND) == {"orders": {"visibility": 7}}
        assert await catalog.forget(first, KIND, "orders") is True
        assert await catalog.forget(first, KIND, "orders") is False
        await catalog.record(first, KIND, "kept", {"visibility": 9})
    async with _mesh(path) as again:
        assert await catalog.restore(again) == [(KIND, "kept")]
        assert again.queue("kept").visibility_timeout == 9


async def test_concurrent_records_all_land(tmp_path: Path) -> None:
    path = tmp_path / "mesh.db"
    async with _mesh(path) as first, _mesh(path) as second:
        await asyncio.gather(
            *(catalog.record(m, KIND, f"q{i}", {"visibility": i}) for i, m in
              enumerate([first, second] * 10))
        )  # fmt: skip
        assert len(await catalog.recorded(first, KIND)) == 20


async def test_restore_orders_kinds_and_skips_what_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with Mesh(telemetry=Telemetry(enabled=False)) as mesh:
        await catalog.record(mesh, LATER, "bad", {"fail": True})
        await catalog.record(mesh, LATER, "good", {})
        await catalog.record(mesh, KIND, "q", {"visibility": 1})
        await catalog.record(mesh, "unknown.kind", "x", {})
        with caplog.at_level(logging.WARNING, logger="eventmesh.aws"):
            restored = await catalog.restore(mesh)
        assert restored == [(KIND, "q"), (LATER, "good")]
        assert built == [(KIND, "q"), (LATER, "bad"), (LATER, "good")]
        assert "restoring test.after 'bad' failed: refused" in caplog.text
        assert "no service restores 'unknown.kind'" in caplog.text


def test_a_kind_registered_twice_with_another_restorer_is_refused() -> None:
    with pytest.raises(ValueError, match="already registered"):
        catalog.register_kind(KIND, _make_later)


async def test_remove_resource_stops_and_frees_the_name() -> None:
    async with Mesh(telemetry=Telemetry(enabled=False)) as mesh:
        queue = mesh.queue("gone", visibility_timeout=3)
        await asyncio.sleep(0)  # its start runs in the background
        assert await mesh.remove_resource("gone") is True
        assert queue._sweeper is None  # stopped
        assert await mesh.remove_resource("gone") is False
        assert mesh.context.find_resource("gone") is None
        assert mesh.queue("gone", visibility_timeout=4).visibility_timeout == 4


async def test_load_of_a_record_this_process_cannot_make_is_logged_and_not_found(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A call naming it then answers the service's not-found error, not a 500."""
    async with Mesh(telemetry=Telemetry(enabled=False)) as mesh:
        await catalog.record(mesh, LATER, "bad", {"fail": True})
        with caplog.at_level(logging.WARNING, logger="eventmesh.aws"):
            assert await catalog.load(mesh, LATER, "bad") is False
        assert "restoring test.after 'bad' failed: refused" in caplog.text
        assert await catalog.load(mesh, "unknown.kind", "x") is False
