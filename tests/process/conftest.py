"""Fixtures for process environments: code directories written into tmp_path, a mesh on the
real clock (a process's time is real), and a check that no process outlives its mesh."""

from __future__ import annotations

import shutil
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from process_helpers import CodeDir
from process_prefix import hidden_python_environment

from eventmesh import Mesh, Telemetry

CODE_PARENT = "/var/tmp"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip the process tests, saying why, where this interpreter's environment is hidden."""
    reason = hidden_python_environment()
    if reason is None:
        return
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def code_root() -> Iterator[Path]:
    """A directory outside /tmp (each environment's private /tmp hides the host's, and
    pytest's tmp_path lives there), removed after the test."""
    root = Path(tempfile.mkdtemp(prefix="eventmesh-code-", dir=CODE_PARENT))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def code_dir(code_root: Path) -> CodeDir:
    """``code_dir(app="...python...", bootstrap="...")``: a code directory with those files
    (dedented); ``bootstrap`` is made executable."""
    count = 0

    def make(**files: str) -> Path:
        nonlocal count
        count += 1
        directory = code_root / f"code{count}"
        directory.mkdir()
        for name, text in files.items():
            path = directory / (name if name == "bootstrap" or "." in name else f"{name}.py")
            path.write_text(textwrap.dedent(text).lstrip())
            if name == "bootstrap":
                path.chmod(0o755)
        return directory

    return make


@pytest.fixture
def mesh() -> Mesh:
    """A mesh on the real clock (overrides the virtual one of tests/conftest.py)."""
    return Mesh(telemetry=Telemetry(enabled=False), drain_timeout=2.0)
