"""What the bench tests share: quick options and a run that returns the JSON result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eventmesh.cli import main

QUICK = ["--warmup", "0", "--no-progress"]


def bench(tmp_path: Path, *arguments: str) -> dict[str, Any]:
    """Run ``eventmesh bench`` with ``arguments`` (quick), assert it exits 0, return its JSON."""
    output = tmp_path / "result.json"
    assert main(["bench", *arguments, *QUICK, "--json", str(output)]) == 0
    result: dict[str, Any] = json.loads(output.read_text())
    return result
