"""The ``eventmesh`` command: one module per subcommand, found by :data:`COMMAND_MODULES`.

Each module holds a :class:`~eventmesh.cli._command.Command` named ``COMMAND``: its name, its
help, how it declares its arguments and how it runs. A new subcommand is a new module and one
line in :data:`COMMAND_MODULES`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import threading
import time
from collections.abc import Sequence

from eventmesh import __version__
from eventmesh._errors import EventMeshError
from eventmesh.cli._command import Command
from eventmesh.cli._settings import CliError

__all__ = ["COMMAND_MODULES", "main"]

COMMAND_MODULES: tuple[str, ...] = ("demo", "run", "invoke", "generate_event", "bench")
"""Modules of this package, by name, each holding a ``COMMAND``, in the order of ``--help``."""


def _commands() -> list[Command]:
    return [importlib.import_module(f"{__name__}.{name}").COMMAND for name in COMMAND_MODULES]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``eventmesh`` with ``argv`` (default: the process's); returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="eventmesh", description="Run event-driven services the way AWS Lambda runs functions."
    )
    parser.add_argument("--version", action="version", version=f"eventmesh {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    by_name: dict[str, Command] = {}
    for command in _commands():
        command.add_arguments(
            subparsers.add_parser(
                command.name, help=command.help, description=command.description or command.help
            )
        )
        by_name[command.name] = command
    arguments = parser.parse_args(argv)
    status = _run(by_name[arguments.command], arguments)
    if argv is None:  # the process's own command line: the process is ours to end
        _exit_if_a_handler_hangs(status)
    return status


def _run(command: Command, arguments: argparse.Namespace) -> int:
    try:
        return command.run(arguments)
    except CliError as exc:
        print(f"eventmesh: {exc}", file=sys.stderr)
        return exc.status
    except EventMeshError as exc:
        print(f"eventmesh: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C before the command's own signal handling began
        print("eventmesh: interrupted", file=sys.stderr)
        return 130  # 128 + SIGINT, as a shell reports it


def _exit_if_a_handler_hangs(status: int) -> None:
    """End the process now when a plain ``def`` handler still runs in its thread (it overran
    its timeout, or the command was interrupted; a thread cannot be stopped): Python would
    wait for it at exit, forever for a handler that never returns."""
    if "eventmesh._invoker" not in sys.modules:
        return  # the command ran no function
    from eventmesh._invoker import HANDLER_THREADS

    deadline = time.monotonic() + 0.5  # idle handler threads end as soon as they are told
    for thread in threading.enumerate():
        if thread.name.startswith(HANDLER_THREADS):
            thread.join(max(0.0, deadline - time.monotonic()))
    if any(t.name.startswith(HANDLER_THREADS) and t.is_alive() for t in threading.enumerate()):
        logging.getLogger("eventmesh").warning(
            "a handler still runs in its thread (past its timeout, or interrupted: a thread "
            "cannot be stopped): exiting without waiting for it"
        )
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
