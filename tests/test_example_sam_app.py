"""examples/08_sam_app: a SAM application run with `eventmesh run template.yaml`, driven with
HTTP and boto3 as its README says (real worker process, process functions, real servers)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from eventmesh.process.sandbox import under_host_tmp
from tests.process_prefix import skip_if_hidden

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "08_sam_app"


@skip_if_hidden
@pytest.mark.skipif(
    under_host_tmp(str(EXAMPLE)),
    reason="the example's code folders are under /tmp, which process environments hide",
)
def test_the_sam_example_runs_its_whole_pipeline() -> None:
    pytest.importorskip("boto3")
    done = subprocess.run(
        [sys.executable, str(EXAMPLE / "drive.py")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert out.count("POST /orders {") == 2
    assert out.count("-> 202 {") == 2
    assert 'POST /orders \'not json\' -> 400 {"message": "need item and quantity"}' in out
    assert out.count("notification from the topic: {'receipt': 'receipts/") == 2
    assert "receipts in bucket receiptsbucket: 2" in out
    assert 'GET the Report function\'s URL -> 200 {"receipts":2}' in out
    assert "application stopped (exit status 0)" in out
