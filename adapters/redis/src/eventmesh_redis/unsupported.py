"""Stores this adapter does not offer yet: each refuses its first use, naming what to do.

A mesh can take the protocol from another backend meanwhile:
``Mesh(storage={"queues": "redis://...", "logs": "sqlite:///mesh.db", ...})``.
"""

from __future__ import annotations

from typing import Any, NoReturn

from eventmesh import ConfigurationError

__all__ = ["NotOffered"]


class NotOffered:
    """Stands in for a store of ``protocol``: every operation raises ConfigurationError;
    ``close`` does nothing (there is nothing to close)."""

    def __init__(self, protocol: str) -> None:
        self._protocol = protocol

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise ConfigurationError(
            f"eventmesh-redis does not offer the {self._protocol} store yet; give it another "
            f"backend: Mesh(storage={{'{self._protocol}': 'sqlite:///mesh.db', ...}})"
        )

    async def _refuse_async(self, *args: Any, **kwargs: Any) -> NoReturn:
        self._refuse()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._refuse_async

    async def close(self) -> None:
        return None
