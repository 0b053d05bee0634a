"""Install a small distribution for a test: modules plus a ``*.dist-info`` with entry points.

That is all :mod:`importlib.metadata` needs to find a distribution's entry points, so a test
can register a third-party backend (or a broken one) exactly as ``pip install`` would, in a
directory of ``tmp_path`` put on ``sys.path``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest


def write_distribution(
    site: Path,
    name: str,
    modules: Mapping[str, str],
    entry_points: Mapping[str, Mapping[str, str]],
) -> None:
    """Write the distribution ``name`` into ``site``: each module (dotted name -> source; a
    package is ``pkg/__init__``) and ``entry_points`` (group -> {name: "module:attr"})."""
    for module, source in modules.items():
        path = site.joinpath(*module.split(".")).with_suffix(".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    info = site / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    sections = [
        f"[{group}]\n" + "".join(f"{key} = {value}\n" for key, value in points.items())
        for group, points in entry_points.items()
    ]
    (info / "entry_points.txt").write_text("\n".join(sections))


def install(
    monkeypatch: pytest.MonkeyPatch,
    site: Path,
    name: str,
    modules: Mapping[str, str],
    entry_points: Mapping[str, Mapping[str, str]],
) -> None:
    """Write the distribution into ``site`` and put ``site`` on ``sys.path`` for this test
    (the modules it imports are forgotten afterwards)."""
    write_distribution(site, name, modules, entry_points)
    if str(site) not in sys.path:
        monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    for module in modules:
        top = module.split(".")[0]
        for loaded in [m for m in sys.modules if m == top or m.startswith(f"{top}.")]:
            monkeypatch.delitem(sys.modules, loaded)
