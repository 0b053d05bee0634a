"""The command line (`eventmesh demo`, `eventmesh run`) and the examples run as documented."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from eventmesh.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_the_demo_shows_cold_warm_retries_and_the_failure_record(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "[cold start]" in out and "[warm start]" in out
    assert "t=   60s  charge order 4: attempt 2" in out
    assert '"condition": "RetriesExhausted"' in out
    assert '"approximateInvokeCount": 3' in out


def test_example_01_runs() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "01_functions.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "RequestResponse -> 200 {'charged': 1, 'db': 'pool'} (cold start)" in done.stdout
    assert "(warm start)" in done.stdout
    assert "DryRun -> 204" in done.stdout
    assert "audit: RetriesExhausted" in done.stdout


def test_run_serves_a_mesh_until_sigterm(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(
        "from eventmesh import Mesh\n"
        "mesh = Mesh()\n"
        "@mesh.function\n"
        "async def hello(event, context):\n"
        "    return 'hi'\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "eventmesh.cli", "run", "app:mesh"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert process.stdout is not None
    with process.stdout:
        first_line = process.stdout.readline()
        assert "running <Mesh" in first_line  # logged once the signal handlers are in place
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert "stopped" in process.stdout.read()


def test_run_refuses_something_that_is_not_a_mesh(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("mesh = 42\n")
    done = subprocess.run(
        [sys.executable, "-m", "eventmesh.cli", "run", "app:mesh"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode != 0
    assert "is not an eventmesh.Mesh" in done.stderr


def test_example_05_routes_orders_and_charges_once() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "05_order_routing.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert "put_events: 1 failed entry: InvalidArgument" in lines
    assert lines.count("payment: charging 1500.0 EUR for A-1") == 1
    assert "payment: charging 40.0 EUR for A-2" in lines
    assert lines.count("vat: A-1 in FR, VAT on 1500.0 EUR") == 2
    assert sum(line.startswith("review: fraud check queued") for line in lines) == 2
    assert lines[-1] == "orders charged: ['A-1', 'A-2'] (A-1 once, despite the duplicate)"
