"""Storage is bound when the mesh starts, so the command line can choose it for a mesh defined
in code (``eventmesh run app:mesh --storage URL`` or ``EVENTMESH_STORAGE``)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from eventmesh import ConfigurationError, Mesh, Telemetry
from eventmesh.testing import VirtualClock

ROOT = Path(__file__).resolve().parent.parent

APP = (
    "from eventmesh import Mesh\n"
    "mesh = Mesh()\n"
    "@mesh.function\n"
    "async def hello(event, context):\n"
    "    return 'hi'\n"
    "mesh.queue('orders').subscribe(hello)\n"
)


def quiet(**settings: object) -> Mesh:
    return Mesh(clock=VirtualClock(), telemetry=Telemetry(enabled=False), **settings)  # type: ignore[arg-type]


async def test_nothing_is_opened_until_the_mesh_starts(tmp_path: Path) -> None:
    path = tmp_path / "mesh.db"
    mesh = quiet(storage=f"sqlite:///{path}")
    mesh.queue("orders")
    assert not path.exists()
    async with mesh:
        assert path.exists()


async def test_other_storage_can_be_chosen_until_it_is_bound(tmp_path: Path) -> None:
    chosen, ignored = tmp_path / "chosen.db", tmp_path / "ignored.db"
    mesh = quiet(storage=f"sqlite:///{ignored}")
    queue = mesh.queue("orders")
    mesh.use_storage(f"sqlite:///{chosen}")
    async with mesh:
        await queue.send({"id": 1})
    assert chosen.exists() and not ignored.exists()
    with sqlite3.connect(chosen) as database:
        tables = {row[0] for row in database.execute("select name from sqlite_master")}
    assert tables  # the queue's message went to the chosen file
    assert mesh.storage == f"sqlite:///{chosen}"


async def test_choosing_storage_once_bound_is_refused_with_the_reason(tmp_path: Path) -> None:
    mesh = quiet()
    async with mesh:
        with pytest.raises(ConfigurationError, match="storage is already bound to 'memory'"):
            mesh.use_storage(f"sqlite:///{tmp_path / 'late.db'}")


def test_a_bad_storage_url_is_refused_when_chosen() -> None:
    mesh = quiet()
    with pytest.raises(ConfigurationError, match="unknown option 'colour'"):
        mesh.use_storage("sqlite:///x.db?colour=blue")
    assert mesh.storage == "memory"


def _run(tmp_path: Path, *extra: str, env: dict[str, str] | None = None) -> str:
    (tmp_path / "app.py").write_text(APP)
    process = subprocess.Popen(
        [sys.executable, "-m", "eventmesh.cli", "run", "app:mesh", *extra],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )
    assert process.stdout is not None
    with process.stdout:
        first_line = process.stdout.readline()
        if "running <Mesh" in first_line:
            process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) is not None
        return first_line + process.stdout.read()


def test_run_takes_the_storage_from_the_command_line(tmp_path: Path) -> None:
    output = _run(tmp_path, "--storage", "sqlite:///flag.db")
    assert "running <Mesh storage='sqlite:///flag.db'" in output
    assert (tmp_path / "flag.db").exists()


def test_run_takes_the_storage_from_the_environment(tmp_path: Path) -> None:
    output = _run(tmp_path, env={"EVENTMESH_STORAGE": "sqlite:///env.db"})
    assert "running <Mesh storage='sqlite:///env.db'" in output
    assert (tmp_path / "env.db").exists()


def test_the_flag_wins_over_the_environment(tmp_path: Path) -> None:
    _run(tmp_path, "--storage", "sqlite:///flag.db", env={"EVENTMESH_STORAGE": "sqlite:///e.db"})
    assert (tmp_path / "flag.db").exists() and not (tmp_path / "e.db").exists()


def test_run_refuses_a_bad_storage_url_and_says_why(tmp_path: Path) -> None:
    output = _run(tmp_path, "--storage", "postgres://nowhere")
    assert "unknown storage 'postgres://nowhere'" in output


async def test_idempotent_functions_and_helpers_do_not_bind_storage_before_start(
    tmp_path: Path,
) -> None:
    from eventmesh import Idempotency

    mesh = quiet()

    @mesh.function(idempotency=Idempotency("id"))
    async def charge(event: dict[str, int], context: object) -> int:
        return event["id"]

    calls: list[int] = []

    @mesh.idempotent("id")
    async def record(event: dict[str, int]) -> int:
        calls.append(event["id"])
        return event["id"]

    chosen = tmp_path / "chosen.db"
    mesh.use_storage(f"sqlite:///{chosen}")  # still free to choose: nothing bound yet
    async with mesh:
        assert (await mesh.invoke("charge", {"id": 1})).payload == 1
        assert await record({"id": 2}) == 2 and await record({"id": 2}) == 2
    assert calls == [2]  # the second call was answered from the store
    assert chosen.exists()
