"""Declaring a process function: by Lambda's handler string, or from a decorated ``def``.

``mesh.function(name=..., handler="app.lambda_handler", code="src/")`` runs the handler as
Lambda does, each execution environment its own process; ``@mesh.function(isolation=
"process")`` on a plain ``def`` that can be imported by its module path runs that
``module.function`` the same way. What Lambda's Python runtime has no notion of is refused
here, with the reason: an ``async def`` handler, an init hook (module-level code is Lambda's
init), a function defined in ``__main__`` or inside another function.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eventmesh._errors import ConfigurationError
from eventmesh._function import LATEST, Function, FunctionConfig, FunctionVersion, is_async_callable
from eventmesh.process._adapter import ProcessRuntime, ProcessSettings
from eventmesh.process._launch import LaunchOptions, plan_launch
from eventmesh.process._variables import check_environment

if TYPE_CHECKING:
    from eventmesh._context import Context
    from eventmesh._environment import Environment
    from eventmesh._function import Handler, InitHook
    from eventmesh._invocation import Middleware

__all__ = ["ISOLATIONS", "ProcessFunction", "check_isolation", "handler_of"]

ISOLATIONS = ("in_process", "process")


class ProcessFunction(Function):
    """A function whose execution environments are processes (see :mod:`eventmesh.process`).

    ``handler`` is the handler string and ``code`` the code directory; calling the object
    calls the decorated ``def`` directly when there is one, as for any function."""

    isolation = "process"

    def __init__(
        self,
        name: str,
        handler: str,
        code: str | os.PathLike[str],
        config: FunctionConfig,
        settings: ProcessSettings,
        middleware: Sequence[Middleware] = (),
        original: Callable[[Any, Context], Any] | None = None,
        options: LaunchOptions | None = None,
    ) -> None:
        check_environment(config.environment)
        launch = plan_launch(handler, code, options)
        settings.check_visible(launch)
        self.runtime = ProcessRuntime(name, launch, settings, self._storage_of)
        self.original = original
        super().__init__(name, self.runtime.handle, config, middleware)
        self.latest = FunctionVersion(
            self, LATEST, self.runtime.handle, self.runtime.initialise, config
        )

    @property
    def handler_string(self) -> str:
        return self.runtime.launch.handler

    @property
    def code(self) -> Path:
        return self.runtime.launch.code

    @property
    def runtime_name(self) -> str:
        """Lambda's name of the runtime that runs it (``python3.12``, ``provided.al2023``)."""
        return self.runtime.launch.runtime

    @property
    def layers(self) -> tuple[Path, ...]:
        return self.runtime.launch.layers

    def _storage_of(self, version: str) -> int:
        """The ``/tmp`` size (MB) of an environment of ``version``."""
        return self.version(version).config.ephemeral_storage

    def __call__(self, event: Any, context: Context) -> Any:
        if self.original is None:
            raise TypeError(
                f"function {self.name!r} runs {self.handler_string!r} in its own processes: "
                "invoke it through the mesh"
            )
        return self.original(event, context)

    def init(self, hook: InitHook) -> InitHook:
        raise ConfigurationError(_NO_INIT_HOOK)

    def update_code(self, handler: Handler) -> None:
        raise ConfigurationError(
            f"function {self.name!r} runs in processes: its code is {self.code}, read when an "
            "environment starts; change the files there (new environments load them)"
        )

    def update_configuration(self, **changes: Any) -> None:
        """Change ``$LATEST``'s settings: its idle environments' processes end now (new ones
        start with the new settings); busy ones end when the mesh stops."""
        if "environment" in changes:
            check_environment(changes["environment"] or {})
        old = self.latest
        super().update_configuration(**changes)
        pool = old.pool
        if pool is not None and old is not self.latest:
            while pool.ready:
                pool.discard(pool.ready.pop())

    def reload_code(self) -> tuple[int, int]:
        """The files under :attr:`code` changed: new invocations start new processes, which
        load them; invocations running finish in their old process, which then ends; queued
        events wait as before. Returns (idle processes ended now, busy ones ending after
        their invocation)."""
        return self.retire_environments()

    def on_reclaim(self, environment: Environment) -> None:
        self.runtime.reclaim(environment.log_stream_name)


_NO_INIT_HOOK = (
    "an init hook has no meaning under Lambda's Python runtime, which process isolation runs: "
    "put the initialisation at module level (it runs once per execution environment, at the "
    "cold start), or use isolation='in_process'"
)


def handler_of(target: Callable[..., Any], name: str) -> tuple[str, Path]:
    """The handler string and import root that run ``target`` in a process, or a
    ConfigurationError saying why it cannot be."""
    if is_async_callable(target):
        raise ConfigurationError(
            f"function {name!r}: an async def handler cannot run with isolation='process': "
            "Lambda's Python runtime calls a plain def handler(event, context); make it a "
            "plain def, or use isolation='in_process'"
        )
    module_name = getattr(target, "__module__", None)
    qualname = getattr(target, "__qualname__", "")
    short = getattr(target, "__name__", "")
    if not inspect.isfunction(target) or qualname != short or short == "<lambda>":
        raise ConfigurationError(
            f"function {name!r}: isolation='process' needs a plain def at the top level of a "
            f"module (the process imports module.function), got {target!r}"
        )
    if module_name in (None, "__main__"):
        raise ConfigurationError(
            f"function {name!r}: {short} is defined in __main__, which a new process cannot "
            "import by name: move it to a module, or use isolation='in_process'"
        )
    module = sys.modules.get(module_name)
    file = getattr(module, "__file__", None)
    if module is None or file is None or getattr(module, short, None) is not target:
        raise ConfigurationError(
            f"function {name!r}: {module_name}.{short} cannot be imported by that path "
            "(isolation='process' imports it in a new process)"
        )
    root = Path(file).resolve().parent
    depth = module_name.count(".") + (1 if Path(file).name == "__init__.py" else 0)
    for _ in range(depth):
        root = root.parent
    return f"{module_name}.{short}", root


def check_isolation(isolation: str | None) -> None:
    if isolation is not None and isolation not in ISOLATIONS:
        raise ConfigurationError(f"isolation must be 'in_process' or 'process', got {isolation!r}")
