"""``eventmesh bench``: throughput and latency of a scenario or of an application's mesh."""

from __future__ import annotations

import argparse

from eventmesh.bench.options import add_arguments
from eventmesh.cli._command import Command

__all__ = ["COMMAND"]


def _run(arguments: argparse.Namespace) -> int:
    from eventmesh.bench.command import run_command

    return run_command(arguments)


COMMAND = Command(
    "bench",
    "throughput and latency of a scenario or of your mesh, beside a baseline",
    add_arguments,
    _run,
    description="Measure a scenario (or a function of APP:MESH) and its baseline in one run: "
    "throughput, latency percentiles from the intended send time, the ratio.",
)
