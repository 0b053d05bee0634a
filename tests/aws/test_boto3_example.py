"""examples/07_boto3_producer.py runs as documented: a boto3 producer feeding a mesh worker
that runs in another process (``eventmesh run ... --aws``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def test_example_07_feeds_a_worker_in_another_process_through_boto3() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "07_boto3_producer.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.splitlines() == [
        "worker: eventmesh run 07_boto3_producer:mesh --aws 127.0.0.1:0 (SigV4 verified)",
        "producer: sent 3 orders with boto3",
        "receipt: order 1 (2 x teapot, high priority) fulfilled by the mesh worker in another "
        "process: True",
        "receipt: order 2 (6 x cups, low priority) fulfilled by the mesh worker in another "
        "process: True",
        "receipt: order 3 (6 x saucers, low priority) fulfilled by the mesh worker in another "
        "process: True",
        "orders left in the queue: 0",
        "worker stopped (exit status 0)",
    ]
    assert "Traceback" not in done.stderr
