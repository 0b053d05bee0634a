"""The ``eventmesh`` command: one module per subcommand, found by :data:`COMMAND_MODULES`.

Each module holds a :class:`~eventmesh.cli._command.Command` named ``COMMAND``: its name, its
help, how it declares its arguments and how it runs. A new subcommand is a new module and one
line in :data:`COMMAND_MODULES`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
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
    try:
        return by_name[arguments.command].run(arguments)
    except CliError as exc:
        print(f"eventmesh: {exc}", file=sys.stderr)
        return exc.status
    except EventMeshError as exc:
        print(f"eventmesh: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C before the command's own signal handling began
        print("eventmesh: interrupted", file=sys.stderr)
        return 130  # 128 + SIGINT, as a shell reports it
