"""``eventmesh bench APP:MESH --target NAME``: a function of the user's own mesh.

eventmesh's side invokes the target (RequestResponse) with the ``--payload`` event, and the
latency runs from the intended send time to the invocation's return (the handler is the
user's: it records nothing). The baseline awaits the same handler directly, with a context
built once and the state of its init hook, run once.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from pathlib import Path
from time import perf_counter
from typing import Any

import orjson

from eventmesh import Context, Mesh
from eventmesh.bench.options import BenchOptions, OptionsError
from eventmesh.bench.recorder import Recorder
from eventmesh.bench.runner import Side
from eventmesh.bench.scenarios._base import Scenario, Which, mesh_stats

__all__ = ["AppScenario", "load_mesh"]


def load_mesh(spec: str) -> Mesh:
    """``module.path:attribute`` (importable from the current directory) to its Mesh."""
    module_name, _, attribute = spec.partition(":")
    if "." not in sys.path and "" not in sys.path:
        sys.path.insert(0, ".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise OptionsError(f"cannot import {module_name!r}: {exc}") from None
    mesh = getattr(module, attribute, None)
    if not isinstance(mesh, Mesh):
        raise OptionsError(f"{spec} is not an eventmesh.Mesh")
    return mesh


def _timed(
    call: Callable[[], Awaitable[Any]], recorder: Recorder
) -> Callable[[dict[str, Any]], Coroutine[Any, Any, None]]:
    """The call, then one sample: from the event's intended time to the call's return."""
    latency, finished, clock = recorder.latencies.append, recorder.finishes.append, perf_counter

    async def timed(event: dict[str, Any]) -> None:
        await call()
        now = clock()
        latency(now - event["t"])
        finished(now)

    return timed


class AppScenario(Scenario):
    name = "app"
    summary = "a function of your mesh, RequestResponse"
    ours_name = "mesh.invoke(target, payload)"
    baseline_name = "await handler(payload, context)"
    default_concurrency = 1

    def describe(self, options: BenchOptions) -> dict[str, Any]:
        return {"concurrency": self.concurrency(options), "app": options.app}

    def _payload(self, options: BenchOptions) -> bytes:
        if options.payload is None:
            return b"{}"
        text = Path(options.payload).read_bytes()
        try:
            orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise OptionsError(f"--payload {options.payload}: not JSON ({exc})") from None
        return text

    @contextlib.asynccontextmanager
    async def open_side(
        self, options: BenchOptions, recorder: Recorder, which: Which
    ) -> AsyncIterator[Side]:
        assert options.app is not None and options.target is not None
        mesh = load_mesh(options.app)
        body = self._payload(options)
        loads = orjson.loads
        target = options.target
        if which == "ours":
            invoke = mesh.invoke
            async with mesh:
                yield Side(
                    self.ours_name,
                    _timed(lambda: invoke(target, loads(body)), recorder),
                    blocking=True,
                    stats=mesh_stats(mesh),
                )
            return
        version = mesh.get_function(target.partition(":")[0]).latest
        clock = time.monotonic
        context = Context(
            "bench-baseline", version.function.name, version.version, "arn:bench",
            version.config.memory, "bench", clock() + 24 * 3600.0, clock, False, None,
            version.config.environment,
        )  # fmt: skip
        if version.init_hook is not None:
            state = version.init_hook(context)
            context.state = await state if inspect.isawaitable(state) else state
        handler = version.handler

        async def call() -> None:
            result = handler(loads(body), context)
            if inspect.isawaitable(result):
                await result

        yield Side(self.baseline_name, _timed(call, recorder), blocking=True)
