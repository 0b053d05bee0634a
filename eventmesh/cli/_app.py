"""What ``eventmesh run`` and ``eventmesh invoke`` run: a Mesh named ``MODULE:ATTRIBUTE``, or
a SAM (or CloudFormation) template built into a new mesh.

The argument is a template when it ends in ``.yaml``, ``.yml``, ``.json`` or ``.template``, or
names an existing file; otherwise it is ``MODULE:ATTRIBUTE``. With no argument,
``./template.yaml`` (or ``./template.yml``), as ``sam`` looks for. Whatever cannot be loaded is
a :class:`~eventmesh.cli._settings.CliError`: one line, no traceback.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import sys
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from eventmesh._errors import EventMeshError
from eventmesh._mesh import Mesh
from eventmesh.cli._settings import CliError

if TYPE_CHECKING:
    from eventmesh.sam import Application

__all__ = ["DEFAULT_TEMPLATES", "LoadedApp", "find_app", "is_template", "load_app"]

logger = logging.getLogger("eventmesh")

TEMPLATE_SUFFIXES = (".yaml", ".yml", ".json", ".template")
DEFAULT_TEMPLATES = ("template.yaml", "template.yml")


@dataclass(slots=True)
class LoadedApp:
    """The mesh to run and where it came from."""

    spec: str
    mesh: Mesh
    template: Path | None = None
    application: Application | None = None
    module_file: Path | None = None
    """The file of ``MODULE`` for ``MODULE:ATTRIBUTE``."""
    parameters: dict[str, str] = field(default_factory=dict)


def is_template(spec: str) -> bool:
    return spec.lower().endswith(TEMPLATE_SUFFIXES) or Path(spec).is_file()


def find_app(spec: str | None) -> str:
    """The argument given, else ``./template.yaml`` (or ``.yml``) when there is one."""
    if spec:
        return spec
    for name in DEFAULT_TEMPLATES:
        if Path(name).is_file():
            return name
    raise CliError(
        "no application given and no template.yaml here: name a template "
        "(eventmesh run template.yaml) or a mesh (eventmesh run app:mesh)",
        status=2,
    )


def load_app(
    spec: str,
    *,
    parameters: Mapping[str, str] | None = None,
    strict: bool = False,
    region: str | None = None,
    storage: str | None = None,
) -> LoadedApp:
    """Load ``spec`` (see the module's docstring), on ``storage`` when given (a URL)."""
    if is_template(spec):
        return _load_template(spec, dict(parameters or {}), strict, region, storage)
    if parameters:
        raise CliError("--parameter-overrides applies to a template, not to MODULE:ATTRIBUTE", 2)
    if strict:
        raise CliError("--strict applies to a template, not to MODULE:ATTRIBUTE", 2)
    loaded = _load_mesh(spec)
    if storage is not None:
        try:
            loaded.mesh.use_storage(storage)
        except EventMeshError as exc:
            raise CliError(f"--storage: {exc}", 2) from None
    return loaded


def _load_template(
    spec: str, parameters: dict[str, str], strict: bool, region: str | None, storage: str | None
) -> LoadedApp:
    path = Path(spec)
    if not path.exists():
        raise CliError(f"no template {spec} (no such file)", status=2)
    if not path.is_file():
        raise CliError(f"{spec} is not a file: a template is a .yaml or .json file", status=2)
    try:
        from eventmesh.sam import load_template
    except ImportError as exc:
        raise CliError(
            f"running a template needs the sam extra ({exc}): pip install 'eventmesh[sam]'"
        ) from None
    try:
        mesh = Mesh(storage=storage or "memory", region=region or "us-east-1")
    except EventMeshError as exc:
        raise CliError(f"--storage/--region: {exc}", 2) from None
    try:
        application = load_template(path, parameters=parameters, mesh=mesh, strict=strict)
    except EventMeshError as exc:
        message = str(exc)
        named = message.startswith((spec, str(path), str(path.resolve())))
        raise CliError(message if named else f"{spec}: {message}") from None
    except ImportError as exc:
        raise CliError(
            f"{spec}: needs the sam extra ({exc}): pip install 'eventmesh[sam]'"
        ) from None
    except Exception as exc:  # the translator's own errors, or ours: one line, not a traceback
        logger.debug("loading %s failed", spec, exc_info=True)
        raise CliError(
            f"{spec}: {type(exc).__name__}: {exc} (--log-level DEBUG shows where)"
        ) from None
    return LoadedApp(spec, mesh, path.resolve(), application, parameters=parameters)


_MODULE_PART = re.compile(r"\w+")
"""A module name's part: importlib imports ``07_boto3_producer`` (examples/), which is no
identifier."""


def _load_mesh(spec: str) -> LoadedApp:
    """``module.path:attribute`` to the Mesh it names."""
    module_name, _, attribute = spec.partition(":")
    if (
        not module_name
        or not attribute
        or not all(_MODULE_PART.fullmatch(part) for part in module_name.split("."))
        or not attribute.isidentifier()
    ):
        raise CliError(
            f"expected a template file or MODULE:ATTRIBUTE (e.g. app:mesh), got {spec!r}", 2
        )
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, "")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            raise CliError(
                f"no module named {exc.name!r} (from {spec}): run from the folder that holds "
                "it, or add that folder to PYTHONPATH",
                status=2,
            ) from None
        raise CliError(f"importing {module_name} failed: {_where(exc)}") from None
    except Exception as exc:
        raise CliError(f"importing {module_name} failed: {_where(exc)}") from None
    if not hasattr(module, attribute):
        raise CliError(f"{spec} is not an eventmesh.Mesh: {module_name} has no {attribute}")
    mesh = getattr(module, attribute)
    if not isinstance(mesh, Mesh):
        raise CliError(f"{spec} is not an eventmesh.Mesh (it is a {type(mesh).__name__})")
    file = getattr(module, "__file__", None)
    return LoadedApp(spec, mesh, module_file=Path(file).resolve() if file else None)


def _where(exc: BaseException) -> str:
    """``ZeroDivisionError: division by zero (app.py, line 3)``: the error and the innermost
    line of the application's code that raised it."""
    text = f"{type(exc).__name__}: {exc}"
    frames = traceback.extract_tb(exc.__traceback__)
    own = [frame for frame in frames if "importlib" not in frame.filename]
    if own:
        frame = own[-1]
        text += f" ({frame.filename}, line {frame.lineno})"
    return text
