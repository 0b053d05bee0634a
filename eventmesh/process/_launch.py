"""How an execution environment's process is started: which command, checked at declaration.

The runtime, when named (:class:`LaunchOptions`), decides: ``python3.x`` is AWS's own runtime
interface client, ``python -m awslambdaric <handler>``, on this interpreter (so the handler
sees the packages installed alongside eventmesh), whatever files the code directory holds;
``provided``, ``provided.al2`` and ``provided.al2023`` (Lambda's custom runtimes) run the
executable ``bootstrap`` of the code directory, else of a layer (Lambda looks in
``/var/task``, then ``/opt``), and ``_HANDLER`` tells it what to run. Other runtimes do not run
here. Unnamed, the code directory decides: an executable ``bootstrap`` is a custom runtime,
otherwise the handler is Python's ``module.function``.

Layers are directories, as Lambda extracts them into ``/opt``, in order, a later one's files
over an earlier one's: their ``python/lib/python3.x/site-packages`` and ``python`` folders are
a Python handler's import path after the code directory (``PYTHONPATH``, the last layer
first), their ``bin`` folders end ``PATH`` and their ``lib`` folders end ``LD_LIBRARY_PATH``,
as ``/opt/bin`` and ``/opt/lib`` do on Lambda. Nothing is mounted at ``/opt`` itself: a
bootstrap that names ``/opt/...`` literally does not find its layer.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from eventmesh._errors import ConfigurationError

__all__ = [
    "CUSTOM_RUNTIMES",
    "INSTALL_HINT",
    "Launch",
    "LaunchOptions",
    "check_extra",
    "find_bootstrap",
    "plan_launch",
    "runtime_kind",
]

INSTALL_HINT = 'pip install "eventmesh[process]"'
_HANDLER = re.compile(r"[^\s]{1,128}")  # Lambda's pattern for a handler
_PYTHON_HANDLER = re.compile(r"(?:[^\s.]+\.)+[A-Za-z_][A-Za-z0-9_]*")
_PYTHON_RUNTIME = re.compile(r"python3\.\d+")
CUSTOM_RUNTIMES = ("provided", "provided.al2", "provided.al2023")
"""Lambda's OS-only runtimes: the function (or a layer) brings its ``bootstrap``."""


def runtime_kind(runtime: str) -> str | None:
    """``"python"``, ``"provided"``, or None for a runtime that does not run here."""
    if _PYTHON_RUNTIME.fullmatch(runtime):
        return "python"
    if runtime in CUSTOM_RUNTIMES:
        return "provided"
    return None


@dataclass(frozen=True, slots=True)
class LaunchOptions:
    """What a function declares beyond its handler and code: Lambda's runtime (None: decided
    by the code directory) and its layer directories, in Lambda's order."""

    runtime: str | None = None
    layers: tuple[str | os.PathLike[str], ...] = ()


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
    runtime: str = ""
    """Lambda's name of the runtime: the one declared, else ``python3.x`` of this interpreter
    or ``provided.al2023``."""
    layers: tuple[Path, ...] = ()

    @property
    def is_python(self) -> bool:
        return self.execution_env is not None

    def layer_variables(self) -> dict[str, list[str]]:
        """The search paths the layers add, by variable, in order (see the module
        docstring); only folders that exist."""
        newest_first = tuple(reversed(self.layers))
        python = f"python{sys.version_info.major}.{sys.version_info.minor}"
        found: dict[str, list[str]] = {"PYTHONPATH": [], "PATH": [], "LD_LIBRARY_PATH": []}
        if self.is_python:
            for sub in (Path("python") / "lib" / python / "site-packages", Path("python")):
                found["PYTHONPATH"] += [str(d / sub) for d in newest_first if (d / sub).is_dir()]
        found["PATH"] = [str(d / "bin") for d in newest_first if (d / "bin").is_dir()]
        found["LD_LIBRARY_PATH"] = [str(d / "lib") for d in newest_first if (d / "lib").is_dir()]
        return found


def check_extra(*modules: str) -> None:
    """Refuse a process function when the ``process`` extra is not installed."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigurationError(
            f"process isolation needs {', '.join(missing)}, not installed: {INSTALL_HINT}"
        )


def _directories(layers: tuple[str | os.PathLike[str], ...]) -> tuple[Path, ...]:
    found = []
    for layer in layers:
        if not isinstance(layer, str | os.PathLike):
            raise ConfigurationError(f"a layer must be a directory path, got {layer!r}")
        directory = Path(layer).resolve()
        if not directory.is_dir():
            raise ConfigurationError(f"layer directory {str(layer)!r} does not exist")
        found.append(directory)
    return tuple(found)


def find_bootstrap(directory: Path, layers: tuple[Path, ...]) -> Path | None:
    """The bootstrap Lambda would run: the code directory's, else the last layer's."""
    for place in (directory, *reversed(layers)):
        if (place / "bootstrap").is_file():
            return place / "bootstrap"
    return None


def plan_launch(
    handler: str, code: str | os.PathLike[str], options: LaunchOptions | None = None
) -> Launch:
    """The command for ``handler`` in ``code``, or a ConfigurationError saying what is wrong."""
    options = options or LaunchOptions()
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
    layers = _directories(tuple(options.layers))
    runtime = options.runtime
    kind = None if runtime is None else runtime_kind(runtime)
    if runtime is not None and kind is None:
        raise ConfigurationError(
            f"runtime {runtime!r} does not run here: python3.x runs on this interpreter, "
            f"{', '.join(CUSTOM_RUNTIMES)} run the function's bootstrap"
        )
    bootstrap = find_bootstrap(directory, layers) if kind == "provided" else None
    if kind is None and (directory / "bootstrap").is_file():
        bootstrap = directory / "bootstrap"
    if kind == "provided" and bootstrap is None:
        raise ConfigurationError(
            f"runtime {runtime} runs an executable bootstrap, and neither {directory} nor a "
            "layer has one"
        )
    if bootstrap is not None:
        if not os.access(bootstrap, os.X_OK):
            raise ConfigurationError(
                f"{bootstrap} is not executable (chmod +x): a custom runtime's bootstrap is run "
                "as the environment's process"
            )
        check_extra("h11")
        return Launch(
            (str(bootstrap),), directory, handler, None, str(directory),
            runtime or "provided.al2023", layers,
        )  # fmt: skip
    if not _PYTHON_HANDLER.fullmatch(handler):
        raise ConfigurationError(
            f"handler {handler!r} is not a Python handler 'module.function' (module may be "
            f"dotted); {directory} has no executable bootstrap for a custom runtime"
        )
    check_extra("awslambdaric", "h11")
    spec = importlib.util.find_spec("awslambdaric")
    runtime_dir = str(Path(spec.origin).parent.parent) if spec and spec.origin else str(directory)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    argv = (sys.executable, "-m", "awslambdaric", handler)
    return Launch(
        argv, directory, handler, f"AWS_Lambda_{version}", runtime_dir, runtime or version, layers
    )
