"""What a process environment asks of its sandbox, and a sandbox that does nothing.

A sandbox belongs to one execution environment, not to one process: it outlives a reset (a
timeout or a crash replaces the process, and Lambda keeps ``/tmp`` then) and is closed when
the environment is reclaimed. Memory limits, a private ``/tmp`` and Max Memory Used are the
sandbox's business (``eventmesh.process.sandbox``, whose ``open_sandbox`` fits
:data:`SandboxFactory`); the process environment only calls these methods at the right
moments, synchronously, on the event loop's thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

__all__ = ["NoSandbox", "ProcessOutcome", "Sandbox", "SandboxFactory"]


@dataclass(frozen=True, slots=True)
class ProcessOutcome:
    """How a process of the environment ended, as far as memory goes."""

    memory_killed: bool
    max_memory_used_mb: int | None


class Sandbox(Protocol):
    def wrap(self, argv: list[str]) -> list[str]:
        """The command to spawn instead of ``argv``, for each process of the environment."""
        ...

    def environment(self) -> dict[str, str]:
        """Variables to add to the process's environment (``TMPDIR``, say)."""
        ...

    def attach(self, pid: int) -> None:
        """Right after each spawn: put the process under the limits."""
        ...

    def max_memory_used_mb(self) -> int | None:
        """The most memory the environment's process used so far, for the REPORT line."""
        ...

    def outcome(self, returncode: int) -> ProcessOutcome:
        """After the process ended: was it killed for its memory?"""
        ...

    def reset(self) -> None:
        """Between two processes of the environment (``/tmp`` kept)."""
        ...

    def close(self) -> None:
        """The environment is reclaimed: release everything (its ``/tmp`` goes)."""
        ...


SandboxFactory = Callable[[str, int, int, Path], Sandbox]
"""``(environment id, memory MB, ephemeral storage MB, root directory) -> Sandbox``."""


class NoSandbox:
    """No limits, no private ``/tmp``: the process shares the machine's."""

    def __init__(
        self, environment_id: str, memory_mb: int, ephemeral_storage_mb: int, root: Path
    ) -> None:
        self.environment_id = environment_id

    def wrap(self, argv: list[str]) -> list[str]:
        return argv

    def environment(self) -> dict[str, str]:
        return {}

    def attach(self, pid: int) -> None:
        pass

    def max_memory_used_mb(self) -> int | None:
        return None

    def outcome(self, returncode: int) -> ProcessOutcome:
        return ProcessOutcome(memory_killed=False, max_memory_used_mb=None)

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass
