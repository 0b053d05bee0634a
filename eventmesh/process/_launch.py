"""How an execution environment's process is started: which command, checked at declaration.

A code directory holding an executable ``bootstrap`` is a custom runtime (Lambda's
``provided`` runtimes): the bootstrap is the process, and ``_HANDLER`` tells it what to run.
Otherwise the handler is Python's ``module.function`` and the process is AWS's own runtime
interface client, ``python -m awslambdaric <handler>``, on this interpreter (so the handler
sees the packages installed alongside eventmesh).
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from eventmesh._errors import ConfigurationError

__all__ = ["INSTALL_HINT", "Launch", "check_extra", "plan_launch"]

INSTALL_HINT = 'pip install "eventmesh[process]"'
_HANDLER = re.compile(r"[^\s]{1,128}")  # Lambda's pattern for a handler
_PYTHON_HANDLER = re.compile(r"(?:[^\s.]+\.)+[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class Launch:
    """What to run: the command, the code directory (the working directory and the first
    import root), the handler string, and the runtime's name for ``AWS_EXECUTION_ENV`` (None
    for a custom runtime: Lambda sets none for the ``provided`` family)."""

    argv: tuple[str, ...]
    code: Path
    handler: str
    execution_env: str | None
    runtime_dir: str


def check_extra(*modules: str) -> None:
    """Refuse a process function when the ``process`` extra is not installed."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigurationError(
            f"process isolation needs {', '.join(missing)}, not installed: {INSTALL_HINT}"
        )


def plan_launch(handler: str, code: str | os.PathLike[str]) -> Launch:
    """The command for ``handler`` in ``code``, or a ConfigurationError saying what is wrong."""
    if not isinstance(handler, str) or not _HANDLER.fullmatch(handler):
        raise ConfigurationError(
            f"handler must be Lambda's handler string (1 to 128 characters, no spaces), "
            f"such as 'app.lambda_handler', got {handler!r}"
        )
    if not isinstance(code, str | os.PathLike):
        raise ConfigurationError(f"code must be a directory path, got {code!r}")
    directory = Path(code).resolve()
    if not directory.is_dir():
        raise ConfigurationError(f"code directory {str(code)!r} does not exist")
    bootstrap = directory / "bootstrap"
    if bootstrap.is_file():
        if not os.access(bootstrap, os.X_OK):
            raise ConfigurationError(
                f"{bootstrap} is not executable (chmod +x): a custom runtime's bootstrap is run "
                "as the environment's process"
            )
        check_extra("h11")
        return Launch((str(bootstrap),), directory, handler, None, str(directory))
    if not _PYTHON_HANDLER.fullmatch(handler):
        raise ConfigurationError(
            f"handler {handler!r} is not a Python handler 'module.function' (module may be "
            f"dotted); {directory} has no executable bootstrap for a custom runtime"
        )
    check_extra("awslambdaric", "h11")
    spec = importlib.util.find_spec("awslambdaric")
    runtime_dir = str(Path(spec.origin).parent.parent) if spec and spec.origin else str(directory)
    python = f"AWS_Lambda_python{sys.version_info.major}.{sys.version_info.minor}"
    argv = (sys.executable, "-m", "awslambdaric", handler)
    return Launch(argv, directory, handler, python, runtime_dir)
