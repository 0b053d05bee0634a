"""The middleware of a mesh: its own list and each function's, composed once per start.

Order, from the outside in: telemetry (while it is on), the mesh's middleware in list order,
the function's own in list order, the function's idempotency, then the call that runs the
handler in an execution environment. A function with none of these gets no chain at all,
and its invocations take the invoker's direct path.

The chains are composed when the mesh starts (a function registered while it runs is
composed then) and stay fixed while it runs: adding middleware to a running mesh is refused,
since invocations already under way would run through one stack and later ones through
another, and a middleware that keeps state (a cache, a count, a circuit breaker) would see
only part of the traffic.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from eventmesh._errors import ConfigurationError
from eventmesh._invocation import CallHandler, Middleware, check_middleware, compose
from eventmesh.middleware.telemetry import Telemetry, TelemetryMiddleware

if TYPE_CHECKING:
    from eventmesh._function import Function

__all__ = ["MiddlewareStack"]


class MiddlewareStack:
    """The mesh-wide middleware, the functions they apply to, and when they are fixed."""

    __slots__ = ("_functions", "_innermost", "_mesh_wide", "_telemetry", "running")

    def __init__(self, middleware: Iterable[Middleware] | None, telemetry: Telemetry) -> None:
        self._mesh_wide: list[Middleware] = list(check_middleware(middleware, "Mesh"))
        self._telemetry = telemetry
        self._functions: list[Function] = []
        self._innermost: CallHandler | None = None
        self.running = False

    @property
    def mesh_wide(self) -> tuple[Middleware, ...]:
        return tuple(self._mesh_wide)

    def add(self, middleware: Middleware) -> None:
        """Add a mesh-wide middleware, innermost of the mesh's own; refused while running."""
        if self.running:
            raise ConfigurationError(
                f"cannot add middleware {middleware!r} to a running mesh: each function's "
                "chain was composed when the mesh started, and invocations under way would "
                "not see it while later ones would; add it before `async with mesh` (or "
                "pass Mesh(middleware=[...]))"
            )
        self._mesh_wide.extend(check_middleware([middleware], "add_middleware"))

    def register(self, function: Function) -> None:
        """A function whose chain this stack composes (at once, if the mesh runs)."""
        self._functions.append(function)
        if self.running and self._innermost is not None:
            self._compose(function, self._innermost)

    def start(self, innermost: CallHandler) -> None:
        """Compose every function's chain around ``innermost`` and fix them until stop."""
        self._innermost = innermost
        for function in self._functions:
            self._compose(function, innermost)
        self.running = True

    def stop(self) -> None:
        self.running = False

    def layers(self, function: Function) -> Sequence[Middleware]:
        """A function's middleware, outermost first."""
        layers: list[Middleware] = []
        if self._telemetry.enabled:
            layers.append(TelemetryMiddleware(self._telemetry))
        layers.extend(self._mesh_wide)
        layers.extend(function.middleware)
        return layers

    def _compose(self, function: Function, innermost: CallHandler) -> None:
        layers = self.layers(function)
        function.chain = compose(layers, innermost) if layers else None
