"""Options settable by flag or by ``EVENTMESH_*`` environment variable; the flag wins.

Each option names its variable in its ``--help`` line. A variable's value is read when the
command runs and checked as the flag's would be: a bad value is a usage error naming the
variable (exit status 2), as a bad flag is.
"""

from __future__ import annotations

import argparse
import os
import shlex
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "CliError",
    "check_environment",
    "env_flag",
    "env_option",
    "from_environment",
    "truth",
]

_TRUE = frozenset(("1", "true", "yes", "on"))
_FALSE = frozenset(("0", "false", "no", "off", ""))


class CliError(Exception):
    """What the command prints as one line (``eventmesh: ...``) before exiting with
    ``status``: 2 for a usage error (a bad option value, a path that does not exist), 1 for an
    application that cannot be loaded or run."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def truth(text: str, variable: str) -> bool:
    """An environment variable's yes or no."""
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise CliError(f"{variable}={text!r}: expected 1/true/yes or 0/false/no", 2)


def env_option(
    parser: argparse.ArgumentParser,
    *flags: str,
    env: str,
    help: str,
    convert: Callable[[str], Any] | None = None,
    check: Callable[[str], Any] | None = None,
    **keywords: Any,
) -> None:
    """``parser.add_argument(*flags, ...)`` whose default is ``$env`` (converted by
    ``convert``, or checked by ``check``, which raises CliError; a bad value a usage error
    naming the variable, raised by :func:`check_environment` when this subcommand runs) when
    it is set."""
    default = keywords.pop("default", None)
    raw = os.environ.get(env)
    if raw is not None and raw != "":
        if check is not None:
            try:
                check(raw)
            except CliError as exc:
                _refuse(parser, f"{env}={raw!r}: {exc}")
        if convert is None:
            default = raw
        else:
            try:
                default = convert(raw)
            except (ValueError, argparse.ArgumentTypeError) as exc:
                _refuse(parser, f"{env}={raw!r}: {exc}")
    if convert is not None:
        keywords["type"] = convert
    parser.add_argument(*flags, default=default, help=f"{help} [${env}]", **keywords)


def env_flag(parser: argparse.ArgumentParser, flag: str, *, env: str, help: str) -> None:
    """A yes-or-no option: ``--flag`` / ``--no-flag``, default from ``$env``."""
    raw = os.environ.get(env)
    default = False
    if raw is not None:
        try:
            default = truth(raw, env)
        except CliError as exc:
            _refuse(parser, str(exc))
    parser.add_argument(
        flag, action=argparse.BooleanOptionalAction, default=default, help=f"{help} [${env}]"
    )


def _refuse(parser: argparse.ArgumentParser, message: str) -> None:
    errors = [*(parser.get_default("environment_errors") or []), message]
    parser.set_defaults(environment_errors=errors)


def check_environment(arguments: argparse.Namespace) -> None:
    """The first bad ``EVENTMESH_*`` value this subcommand read, as a usage error."""
    errors = getattr(arguments, "environment_errors", None)
    if errors:
        raise CliError(errors[0], 2)


def from_environment(given: Sequence[str] | None, env: str) -> list[str]:
    """A repeatable option's values: the flags' when given, else ``$env`` split as a shell
    would (so ``EVENTMESH_PARAMETER_OVERRIDES="Stage=dev Name='a b'"`` holds two)."""
    if given:
        return list(given)
    raw = os.environ.get(env, "")
    try:
        return shlex.split(raw)
    except ValueError as exc:
        raise CliError(f"{env}={raw!r}: {exc}", 2) from None
