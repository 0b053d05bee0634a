"""``async with`` for a server in front of a mesh: the server starts the mesh if it is not
running, and stops it again on the way out only if it started it (the HTTP front and the
AWS endpoint share this)."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from eventmesh._mesh import Mesh

__all__ = ["ServesMesh"]


class ServesMesh:
    """Mixed into a server with ``mesh``, ``async start()`` and ``async stop()``."""

    mesh: Mesh
    _started_mesh: bool = False

    async def start(self) -> None:
        raise NotImplementedError  # the server's own

    async def stop(self, *, graceful: bool = True) -> None:
        raise NotImplementedError  # the server's own

    async def __aenter__(self) -> Self:
        if not self.mesh.running:
            await self.mesh.start()
            self._started_mesh = True
        try:
            await self.start()
        except BaseException:
            if self._started_mesh:
                self._started_mesh = False
                await self.mesh.stop(drain=False)
            raise
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            await self.stop()
        finally:
            if self._started_mesh:
                self._started_mesh = False
                await self.mesh.stop()
