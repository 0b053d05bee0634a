"""benchmarks/aws_endpoint.py runs both sides and reports every operation (how fast each side
is, is for the benchmark, not for tests)."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parent.parent.parent / "benchmarks" / "aws_endpoint.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("aws_endpoint_bench", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


async def test_the_benchmark_measures_both_sides(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _load()
    # boto3 blocks; the endpoint runs in a thread of its own, so run the script off the loop
    status = await asyncio.to_thread(bench.main, ["--messages", "5", "--runs", "2"])
    assert status == 0
    out = capsys.readouterr().out
    assert "SQS through boto3, 5 calls per operation, 2 runs" in out
    for operation in ("SendMessage", "ReceiveMessage"):
        row = next(line for line in out.splitlines() if line.startswith(f"| {operation} |"))
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert len(cells) == 4
        assert all(len(cell.split(" / ")) == 3 for cell in cells[1:3])
        assert float(cells[3]) > 0


def test_rates_per_side_and_operation() -> None:
    bench = _load()
    rates = bench.run(3, 1)
    assert set(rates) == {"eventmesh", "moto"}
    for side in rates.values():
        assert set(side) == {"SendMessage", "ReceiveMessage"}
        assert all(len(values) == 1 and values[0] > 0 for values in side.values())
