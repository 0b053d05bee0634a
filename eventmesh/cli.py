"""The ``eventmesh`` command: ``demo``, ``run`` and ``bench``."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import signal
import sys
from collections.abc import Sequence

from eventmesh import __version__
from eventmesh._errors import EventMeshError
from eventmesh._mesh import Mesh
from eventmesh.bench.options import add_arguments as add_bench_arguments

__all__ = ["main"]


def _load_mesh(spec: str) -> Mesh:
    """``module.path:attribute`` to the Mesh it names."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise SystemExit(f"eventmesh run: expected MODULE:ATTRIBUTE (e.g. app:mesh), got {spec!r}")
    sys.path.insert(0, ".")
    module = importlib.import_module(module_name)
    mesh = getattr(module, attribute, None)
    if not isinstance(mesh, Mesh):
        raise SystemExit(f"eventmesh run: {spec} is not an eventmesh.Mesh")
    return mesh


async def _run_until_signalled(mesh: Mesh) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with mesh:
        logging.getLogger("eventmesh").info("running %r; Ctrl-C to stop", mesh)
        await stop.wait()
    logging.getLogger("eventmesh").info("stopped")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="eventmesh", description="Run event-driven services the way AWS Lambda runs functions."
    )
    parser.add_argument("--version", action="version", version=f"eventmesh {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="a tour of the runtime on a virtual clock")
    run = commands.add_parser("run", help="run a mesh as a worker until SIGINT or SIGTERM")
    run.add_argument("app", help="MODULE:ATTRIBUTE naming the Mesh, e.g. app:mesh")
    run.add_argument("--log-level", default="INFO")
    add_bench_arguments(
        commands.add_parser(
            "bench",
            help="throughput and latency of a scenario or of your mesh, beside a baseline",
            description="Measure a scenario (or a function of APP:MESH) and its baseline in "
            "one run: throughput, latency percentiles from the intended send time, the ratio.",
        )
    )
    arguments = parser.parse_args(argv)
    try:
        if arguments.command == "demo":
            from eventmesh._demo import run_demo

            asyncio.run(run_demo())
        elif arguments.command == "run":
            logging.basicConfig(level=arguments.log_level.upper(), format="%(message)s")
            asyncio.run(_run_until_signalled(_load_mesh(arguments.app)))
        elif arguments.command == "bench":
            from eventmesh.bench.command import run_command

            return run_command(arguments)
    except EventMeshError as exc:
        print(f"eventmesh: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
