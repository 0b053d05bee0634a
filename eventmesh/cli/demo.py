"""``eventmesh demo``: a tour of the runtime on a virtual clock."""

from __future__ import annotations

import argparse
import asyncio

from eventmesh.cli._command import Command

__all__ = ["COMMAND"]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo takes no arguments."""


def _run(arguments: argparse.Namespace) -> int:
    from eventmesh._demo import run_demo

    asyncio.run(run_demo())
    return 0


COMMAND = Command("demo", "a tour of the runtime on a virtual clock", _add_arguments, _run)
