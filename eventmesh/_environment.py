"""Execution environments and their pool, one pool per function version.

An environment handles one invocation at a time. The first invocation it serves runs the
function's init hook (a cold start); later ones reuse its state (warm starts). A crash or a
timeout resets it, so the next invocation initialises it again; an environment idle for
longer than the pool's idle timeout is reclaimed. Provisioned environments are initialised
when the mesh starts and are never reclaimed.

The pool does no locking: the invoker's concurrency accounting already bounds how many
environments are busy, and everything here runs on the event loop's thread.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eventmesh._function import FunctionVersion

__all__ = ["Environment", "EnvironmentPool"]

_instance_ids = itertools.count(1)


class Environment:
    """One execution environment: the init hook's state and what it is running now."""

    __slots__ = (
        "deadline",
        "generation",
        "initialised",
        "last_used",
        "log_stream_name",
        "memory_probe",
        "pool",
        "provisioned",
        "state",
        "step_began",
        "task",
        "timed_out",
        "timeout",
    )

    def __init__(self, pool: EnvironmentPool, *, provisioned: bool = False) -> None:
        self.pool = pool
        self.provisioned = provisioned
        self.generation = pool.generation
        """The pool's generation when this environment was made: one made before the pool's
        latest :meth:`~EnvironmentPool.retire` is not reused."""
        self.initialised = False
        self.state: Any = None
        self.last_used = 0.0
        instance = next(_instance_ids)
        self.log_stream_name = f"[{pool.version.version}]{instance:032x}"
        # Set while an invocation runs, for the deadline watcher.
        self.task: asyncio.Task[Any] | None = None
        self.deadline = 0.0
        self.timeout = 0.0
        self.timed_out = False
        self.step_began = 0.0
        self.memory_probe: Callable[[], int | None] | None = None
        """Max Memory Used in MB, for the REPORT line, when the environment's state can
        measure it (an environment that is a process); kept across a reset, so the REPORT
        of the invocation that crashed it still has the figure."""
        """When the handler's latest step began, if it has waited at least once (see
        eventmesh._trampoline); earlier than the invocation's start otherwise."""

    def on_deadline(self) -> None:
        """Called by the deadline watcher: stop what this environment is running."""
        task = self.task
        if task is not None and not self.timed_out:
            self.timed_out = True
            task.cancel(f"eventmesh: deadline of {self.timeout:g} s reached")

    def reset(self) -> None:
        """After a crash or a timeout: the next invocation initialises again."""
        self.initialised = False
        self.state = None

    def __repr__(self) -> str:
        status = "warm" if self.initialised else "cold"
        return f"<Environment {self.log_stream_name} {status}>"


class EnvironmentPool:
    """The environments of one function version: idle ones first, newest-used on top."""

    __slots__ = (
        "generation",
        "idle_timeout",
        "on_new_environment",
        "on_reclaim",
        "provisioned",
        "ready",
        "size",
        "version",
    )

    def __init__(self, version: FunctionVersion, idle_timeout: float) -> None:
        self.version = version
        self.idle_timeout = idle_timeout
        self.ready: list[Environment] = []
        """The idle environments, newest-used last. The invoker's hot path pops one and
        appends it back itself, as :meth:`take` and :meth:`give_back` would (for a warm
        environment that was never watched: its ``task`` is None already)."""
        self.size = 0
        self.provisioned = 0
        self.generation = 0
        """Counts :meth:`retire` calls; environments of an older generation are retired."""
        self.on_new_environment: Callable[[], None] | None = None
        self.on_reclaim: Callable[[Environment], None] | None = None
        """Told of every environment the pool lets go (reclaimed when idle, or discarded),
        when an environment holds something to release (a process, say)."""

    def take(self) -> Environment:
        """An idle environment (warm if it has been initialised) or a new one."""
        if self.ready:
            return self.ready.pop()
        self.size += 1
        if self.on_new_environment is not None:
            self.on_new_environment()
        return Environment(self)

    def give_back(self, environment: Environment, now: float) -> None:
        """An invocation ended and its environment is reusable: idle it, unless it was retired
        while the invocation ran (then it is let go)."""
        if environment.generation != self.generation:
            environment.task = None
            self.discard(environment)
            return
        environment.last_used = now
        environment.task = None
        self.ready.append(environment)

    def discard(self, environment: Environment) -> None:
        """Forget an environment that cannot be reused (its thread still runs, say)."""
        self.size -= 1
        if environment.provisioned and environment.generation == self.generation:
            self.provisioned -= 1  # (a retired one was uncounted when it was retired)
        if self.on_reclaim is not None:
            self.on_reclaim(environment)

    def retire(self) -> int:
        """Let every environment made so far go: the idle ones now, the busy ones when their
        invocation ends (it finishes where it began); the next invocation starts a new
        environment, cold. What a code change needs: an environment's code is loaded when it
        starts. Returns how many idle environments were let go. Provisioned ones no longer
        count as provisioned: :meth:`provision` makes their replacements."""
        self.generation += 1
        self.provisioned = 0
        idle = self.ready[:]
        self.ready.clear()
        for environment in idle:
            self.discard(environment)
        return len(idle)

    @property
    def busy(self) -> int:
        """Environments running an invocation (or starting) now."""
        return self.size - len(self.ready)

    def provision(self, count: int) -> list[Environment]:
        """New environments to initialise now and keep, up to ``count`` provisioned ones."""
        new = []
        while self.provisioned < count:
            environment = Environment(self, provisioned=True)
            self.size += 1
            self.provisioned += 1
            new.append(environment)
        return new

    def reap(self, now: float) -> int:
        """Reclaim on-demand environments idle for longer than the idle timeout."""
        # The same sum as in oldest_idle()'s callers, so "due" and "reclaimed" always agree.
        keep = [e for e in self.ready if e.provisioned or e.last_used + self.idle_timeout > now]
        reclaimed = len(self.ready) - len(keep)
        if reclaimed:
            if self.on_reclaim is not None:
                for environment in self.ready:
                    if not (environment.provisioned or environment in keep):
                        self.on_reclaim(environment)
            self.ready[:] = keep
            self.size -= reclaimed
        return reclaimed

    def oldest_idle(self) -> float | None:
        """When the least recently used idle on-demand environment was last used."""
        times = [e.last_used for e in self.ready if not e.provisioned]
        return min(times) if times else None

    @property
    def idle(self) -> int:
        return len(self.ready)
