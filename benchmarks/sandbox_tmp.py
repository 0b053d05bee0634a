"""What a process environment's private /tmp costs: sandbox creation and close, per mechanism.

Creates and closes sandboxes (128 MB, 512 MB of ephemeral storage) alternately with the
disk-backed /tmp (``ext4-loop``) and the tmpfs (``tmpfs-namespace``), a child writing 1 MB to
/tmp in between, and prints the median and 90th percentile of the wall time and the median CPU
time of this process for each step. The template image is formatted before the runs (its cost,
the first environment's of each size in a process, is timed apart in fresh processes). Needs
root, loop devices and ``unshare``.

Run: ``uv run python benchmarks/sandbox_tmp.py [--runs N] [--first N]``.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from eventmesh.process import _loop_tmp
from eventmesh.process.sandbox import Sandbox, detect_capabilities

_WRITE = "open('/tmp/x', 'wb').write(bytes(1 << 20))"
_FIRST = """
import sys, tempfile, time
from pathlib import Path
from eventmesh.process.sandbox import Sandbox
root = Path(tempfile.mkdtemp(prefix="eventmesh-bench-tmp-"))
started = time.perf_counter()
first = Sandbox("a", 128, int(sys.argv[1]), root / "a")
middle = time.perf_counter()
second = Sandbox("b", 128, int(sys.argv[1]), root / "b")
print((middle - started) * 1000, (time.perf_counter() - middle) * 1000)
first.close(); second.close()
"""


Samples = dict[tuple[str, str], list[tuple[float, float]]]


@contextlib.contextmanager
def _timed(samples: Samples, key: tuple[str, str]) -> Iterator[None]:
    """Adds (wall ms, CPU ms of this process) of the block to ``samples[key]``."""
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    samples.setdefault(key, []).append((wall * 1000, cpu * 1000))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40, help="sandboxes of each kind")
    parser.add_argument("--first", type=int, default=5, help="fresh processes per size")
    arguments = parser.parse_args()
    caps = detect_capabilities()
    if caps.loop_mkfs is None or caps.namespace_programs is None:
        sys.exit("this machine offers no disk-backed /tmp (root, loop devices, unshare)")
    kinds = {"ext4-loop": caps, "tmpfs-namespace": replace(caps, loop_mkfs=None)}
    root = Path(tempfile.mkdtemp(prefix="eventmesh-bench-tmp-"))
    Sandbox("warm", 128, 512, root / "warm", capabilities=caps).close()  # the template
    samples: Samples = {}
    for run in range(arguments.runs):
        for kind in sorted(kinds, reverse=bool(run % 2)):
            with _timed(samples, (kind, "create")):
                sandbox = Sandbox(
                    f"e{run}", 128, 512, root / f"{kind}{run}", capabilities=kinds[kind]
                )
            assert sandbox.mechanisms.tmp == kind, sandbox.mechanisms
            subprocess.run(sandbox.wrap([sys.executable, "-S", "-c", _WRITE]), check=True)
            with _timed(samples, (kind, "close")):
                sandbox.close()
    _loop_tmp.wait_detached()
    print(f"{'mechanism':16} {'step':6} {'wall p50':>9} {'wall p90':>9} {'CPU p50':>8}  (ms)")
    for (kind, step), values in sorted(samples.items()):
        walls = sorted(wall for wall, _ in values)
        cpu = statistics.median(cpu for _, cpu in values)
        p90 = walls[int(len(walls) * 0.9)]
        print(f"{kind:16} {step:6} {statistics.median(walls):9.1f} {p90:9.1f} {cpu:8.1f}")
    for size in (512, 10240):
        firsts = []
        for _ in range(arguments.first):
            done = subprocess.run(
                [sys.executable, "-c", _FIRST, str(size)],
                capture_output=True,
                text=True,
                check=True,
            )
            firsts.append(tuple(float(value) for value in done.stdout.split()))
        print(
            f"first environment of {size} MB in a process (mkfs of the template): "
            f"{statistics.median(first for first, _ in firsts):.1f} ms, the next "
            f"{statistics.median(second for _, second in firsts):.1f} ms (medians)"
        )


if __name__ == "__main__":
    main()
