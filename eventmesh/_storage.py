"""The mesh's storage, bound when it is first needed (at the latest, when the mesh starts).

``Mesh(storage=...)`` only records what was asked for; nothing is opened until the mesh starts
or a resource first uses its store. Until then another choice may replace it, so a command
line flag (``eventmesh run app:mesh --storage sqlite:///app.db``) or the ``EVENTMESH_STORAGE``
environment variable can choose the storage of a mesh defined in code.
"""

from __future__ import annotations

from eventmesh._clock import Clock
from eventmesh._errors import ConfigurationError
from eventmesh.backends.protocols import Backend, StoredValue
from eventmesh.backends.storage import (
    Storage,
    StorageSpec,
    check_storage,
    describe_storage,
    open_storage,
)

__all__ = ["BoundValues", "StorageBinding", "StorageSpec"]


class StorageBinding:
    """What storage a mesh uses; see the module docstring."""

    def __init__(self, spec: StorageSpec, clock: Clock) -> None:
        self._spec = check_storage(spec)
        self._clock = clock
        self._backend: Storage | None = None

    @property
    def description(self) -> str:
        """What was asked for, without secrets: ``'memory'``, a URL, or a backend's type."""
        return describe_storage(self._spec)

    @property
    def bound(self) -> bool:
        return self._backend is not None

    def choose(self, spec: StorageSpec) -> None:
        """Use other storage; only before the storage is bound."""
        if self._backend is not None:
            raise ConfigurationError(
                f"storage is already bound to {self.description!r}: choose it before the mesh "
                "starts and before any resource uses its store"
            )
        self._spec = check_storage(spec)

    @property
    def backend(self) -> Backend:
        return self._bound()

    def _bound(self) -> Storage:
        backend = self._backend
        if backend is None:
            backend = self._backend = open_storage(self._spec, self._clock)
        return backend

    @property
    def bounds_store(self) -> bool:
        """Whether the mesh may bound stored work with counts of its own: only a memory
        backend it opened itself (another mesh or process sharing a store consumes what
        this count cannot see)."""
        return self._bound().in_memory

    async def close(self) -> None:
        """Close a durable store the mesh opened (a Backend passed in is shared, and memory
        storage keeps its contents for a restart of the same mesh: both stay open)."""
        if self._backend is not None:
            await self._backend.close()  # closes only what it opened, never a memory store


class BoundValues:
    """The mesh's key-value store, looked up on each use: for what is made before the mesh
    starts and must not bind the storage then (``@mesh.idempotent`` on a module's function)."""

    def __init__(self, binding: StorageBinding) -> None:
        self._binding = binding

    async def get(self, key: str) -> StoredValue | None:
        return await self._binding.backend.values.get(key)

    async def put(
        self,
        key: str,
        value: bytes,
        *,
        ttl: float | None = None,
        only_if_absent: bool = False,
        only_if_version: int | None = None,
    ) -> int | None:
        return await self._binding.backend.values.put(
            key, value, ttl=ttl, only_if_absent=only_if_absent, only_if_version=only_if_version
        )

    async def delete(self, key: str, *, only_if_version: int | None = None) -> bool:
        return await self._binding.backend.values.delete(key, only_if_version=only_if_version)

    async def close(self) -> None:
        """The mesh closes its storage; nothing to do here."""
