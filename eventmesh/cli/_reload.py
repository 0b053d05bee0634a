"""``eventmesh run --reload``: a function whose code changes runs the new code, nothing lost.

The code folders and layers of the mesh's process functions (a template's functions;
``handler=`` and ``code=`` ones, and ``isolation="process"`` ones, of ``MODULE:ATTRIBUTE``) are
watched (watchfiles). When a file under one changes, each function whose code is there retires
its execution environments (:meth:`~eventmesh.process._function.ProcessFunction.reload_code`):
invocations running finish in their old process, which then ends; idle processes end at once;
the next invocation starts a new process, cold, which loads the new files (the changed
files' cached bytecode is removed first, so an edit that keeps a file's size within the same
second is not hidden by it). Queued events
(a function's asynchronous queue, messages a mapping has not taken yet) stay where they are
and run on the new code.

What cannot be swapped in a running process is not: a change to the template, or to the
module of ``MODULE:ATTRIBUTE`` (its in-process functions are objects of this process), is
logged as needing a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from pathlib import Path

from eventmesh.cli._app import LoadedApp
from eventmesh.cli._settings import CliError
from eventmesh.process._function import ProcessFunction

__all__ = ["Reloader"]

logger = logging.getLogger("eventmesh.reload")

IGNORED = (r".*\.db$", r".*\.db-(wal|shm|journal)$", r".*\.sqlite3?$", r".*\.log$")
"""Files written while the application runs (its SQLite storage, say), not code."""


class Reloader:
    """Watches one application's code until :meth:`stop`."""

    def __init__(self, app: LoadedApp) -> None:
        try:
            import watchfiles  # noqa: F401
        except ImportError as exc:
            raise CliError(
                f"--reload needs watchfiles ({exc}): pip install 'eventmesh[sam]'", 2
            ) from None
        self.functions: dict[Path, list[ProcessFunction]] = {}
        for function in app.mesh.functions.values():
            if isinstance(function, ProcessFunction):
                for folder in (function.code, *function.layers):  # both load at start
                    self.functions.setdefault(folder.resolve(), []).append(function)
        self.restart_files = [
            path.resolve() for path in (app.template, app.module_file) if path is not None
        ]
        self._stop = asyncio.Event()

    @property
    def paths(self) -> list[Path]:
        return [*self.functions, *self.restart_files]

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        from watchfiles import Change, DefaultFilter, awatch

        paths = self.paths
        if not paths:
            logger.info("--reload: nothing to watch (no process function, no template)")
            return
        logger.info("--reload: watching %s", ", ".join(map(str, paths)))
        watch_filter = DefaultFilter(
            ignore_entity_patterns=(*DefaultFilter.ignore_entity_patterns, *IGNORED)
        )
        while not self._stop.is_set():
            # A watched folder or file deleted is no longer watched, even once made again (a
            # build or a checkout replacing a folder, an editor saving by renaming): the
            # watch starts again once every path exists, and what came back counts as changed.
            present = [path for path in paths if path.exists()]
            missing = [path for path in paths if path not in present]
            again = asyncio.Event()
            helpers = [asyncio.ensure_future(_relay(self._stop, again))]
            if missing:
                helpers.append(asyncio.ensure_future(_when_present(missing, again)))
            try:
                if not present:
                    await again.wait()
                else:
                    async for changes in awatch(
                        *present, watch_filter=watch_filter, stop_event=again, debounce=200,
                        step=50,
                    ):  # fmt: skip
                        self.apply(Path(path) for _, path in changes)  # absolute
                        gone = {Path(path) for change, path in changes if change == Change.deleted}
                        if gone & set(present):
                            break
            finally:
                for helper in helpers:
                    helper.cancel()
            back = [path for path in missing if path.exists()]
            if back and not self._stop.is_set():
                self.apply(back)

    def apply(self, changed: Iterable[Path]) -> list[ProcessFunction]:
        """Reload the functions whose code holds a changed file; say what needs a restart.
        Returns the functions reloaded."""
        files = sorted(set(changed))
        reloaded: list[ProcessFunction] = []
        for restart in self.restart_files:
            if restart in files:
                logger.warning(
                    "%s changed: restart eventmesh run to apply it (functions' code reloads "
                    "by itself; the %s does not)",
                    restart,
                    "template" if restart.suffix != ".py" else "module's in-process functions",
                )
        for folder, functions in self.functions.items():
            inside = [file for file in files if file == folder or folder in file.parents]
            if not inside:
                continue
            for file in inside:
                _forget_bytecode(file)
            for function in functions:
                if function in reloaded:
                    continue
                ended, busy = function.reload_code()
                reloaded.append(function)
                logger.info(
                    "reloaded %s: %s changed; new invocations start with the new code "
                    "(%d idle environments ended, %d running finish on the old code)",
                    function.name,
                    inside[0].relative_to(folder) if inside[0] != folder else folder,
                    ended,
                    busy,
                    extra={"function_name": function.name},
                )
        return reloaded


async def _relay(source: asyncio.Event, target: asyncio.Event) -> None:
    await source.wait()
    target.set()


async def _when_present(paths: list[Path], event: asyncio.Event) -> None:
    """Set ``event`` once every one of ``paths`` exists again."""
    while not all(path.exists() for path in paths):  # noqa: ASYNC110 (the disk has no event)
        await asyncio.sleep(0.2)
    event.set()


def _forget_bytecode(source: Path) -> None:
    """Remove the cached bytecode of a changed ``.py`` file. Python trusts a ``.pyc`` whose
    recorded source size and mtime (whole seconds) match: an edit that keeps the size, made
    within the second the old code was compiled, would otherwise run the old code."""
    if source.suffix != ".py":
        return
    for cached in (source.parent / "__pycache__").glob(f"{source.stem}.*.pyc"):
        with contextlib.suppress(OSError):
            cached.unlink()
