"""What ``Mesh(storage=...)`` accepts, opened into one :class:`Backend`.

``storage`` is one of:

* a URL (``"memory"``, ``"sqlite:///mesh.db"``, ``"redis://..."``): the four protocols on
  that backend (see :mod:`eventmesh.backends.registry`);
* a :class:`Backend` already open, shared with whoever opened it (another mesh of the process,
  a test): the mesh uses it and never closes it;
* a mapping from protocol to URL or Backend, ``{"queues": ..., "logs": ..., "values": ...,
  "blobs": ...}``, for engines that offer some protocols only (RabbitMQ's queues with another
  backend's key-value store). A protocol not named is kept in memory; a URL named for several
  protocols is opened once, and they share that backend.

:func:`open_storage` returns a :class:`Storage`, a Backend whose ``close()`` closes exactly
the backends it opened, once each (an in-memory one has nothing to close), and whose
``in_memory`` is true only when every protocol is a memory store it opened itself: only then
may the mesh bound queues and logs by counting what it sends, since no one else can consume
from them.

Everything is checked before anything is opened (mapping keys and values, schemes, factories
importable), so a mistake in the third protocol does not leave the first one open.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from eventmesh._clock import Clock
from eventmesh._errors import ConfigurationError
from eventmesh.backends.protocols import Backend
from eventmesh.backends.registry import check_backend_url, open_backend
from eventmesh.backends.urls import shown_url

__all__ = [
    "PROTOCOLS",
    "Storage",
    "StorageSpec",
    "check_storage",
    "describe_storage",
    "open_storage",
]

PROTOCOLS = ("queues", "logs", "values", "blobs")
"""The Backend attributes a storage mapping may name, one per protocol."""

StorageSpec = str | Backend | Mapping[str, str | Backend]

_DEFAULT = "memory"


@dataclass(slots=True)
class Storage(Backend):
    """The stores a mesh runs on, with the backends it opened for them (and must close)."""

    opened: tuple[Backend, ...] = field(default=())

    async def check(self) -> None:
        """Each backend this storage opened checks itself (see :meth:`Backend.check`)."""
        for backend in self.opened:
            await backend.check()

    async def close(self) -> None:
        """Close each backend this storage opened, once; a Backend passed in stays open.

        A backend kept in this process's memory (``in_memory``) holds nothing to release and
        is left open: closing it ends its long polls for good, yet a mesh started again, or
        another mesh handed these stores (a second worker, a restart in a test), keeps using it.
        """
        await _close(self.opened)


async def _close(backends: tuple[Backend, ...]) -> None:
    for backend in backends:
        if not backend.in_memory:
            await backend.close()


def _spec_error(storage: object) -> ConfigurationError:
    return ConfigurationError(
        "storage: 'memory', 'sqlite:///path/to/mesh.db', another installed backend's URL, a "
        "Backend, or a mapping of 'queues', 'logs', 'values', 'blobs' to those; "
        f"got {storage!r}"
    )


def _per_protocol(storage: object) -> dict[str, str | Backend]:
    """The URL or Backend of each protocol, checked."""
    if isinstance(storage, str | Backend):
        return dict.fromkeys(PROTOCOLS, storage)
    if not isinstance(storage, Mapping):
        raise _spec_error(storage)
    unknown = sorted(str(key) for key in storage if key not in PROTOCOLS)
    if unknown:
        raise ConfigurationError(
            f"storage: unknown protocol {', '.join(map(repr, unknown))} "
            f"(known: {', '.join(PROTOCOLS)})"
        )
    chosen: dict[str, str | Backend] = {}
    for protocol in PROTOCOLS:
        value: Any = storage.get(protocol, _DEFAULT)
        if not isinstance(value, str | Backend):
            raise ConfigurationError(
                f"storage[{protocol!r}]: a storage URL or a Backend, got {value!r}"
            )
        chosen[protocol] = value
    return chosen


def check_storage(storage: object) -> StorageSpec:
    """``storage`` checked without opening anything: its shape, and each URL's scheme and
    options (as far as its backend can check them unopened); returned as given."""
    _urls(_per_protocol(storage))
    return storage  # type: ignore[return-value]


def _urls(chosen: dict[str, str | Backend]) -> list[str]:
    """The distinct URLs of ``chosen``, each checked, in protocol order."""
    urls: list[str] = []
    for value in chosen.values():
        if isinstance(value, str) and value not in urls:
            check_backend_url(value)
            urls.append(value)
    return urls


def open_storage(storage: StorageSpec, clock: Clock) -> Storage:
    """Open what ``storage`` describes (a URL, a Backend or a per-protocol mapping) on
    ``clock``; see the module's docstring for the rules."""
    chosen = _per_protocol(storage)
    urls = _urls(chosen)  # an unknown scheme or a bad option is refused before opening any
    opened: dict[str, Backend] = {}
    try:
        for url in urls:
            opened[url] = open_backend(url, clock)
    except BaseException:
        _close_soon(list(opened.values()))
        raise
    stores = {
        protocol: getattr(opened[value] if isinstance(value, str) else value, protocol)
        for protocol, value in chosen.items()
    }
    in_memory = all(isinstance(value, str) and opened[value].in_memory for value in chosen.values())
    return Storage(**stores, in_memory=in_memory, opened=tuple(opened.values()))


def _close_soon(backends: list[Backend]) -> None:
    """Close what was opened before a later backend failed to open.

    Opening is synchronous (a mesh is built outside the event loop as often as inside), and
    closing is not: run the closes now when no loop runs here, or as a task of the running loop.
    """
    if not backends:
        return

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(_close(tuple(backends)))
        return
    task = loop.create_task(_close(tuple(backends)))
    _closing.add(task)
    task.add_done_callback(_closing.discard)


_closing: set[asyncio.Task[None]] = set()  # keeps the close tasks alive until they finish


def describe_storage(storage: object) -> str:
    """``storage`` as a mesh shows it (its ``repr``, logs): URLs with their secrets masked."""
    if isinstance(storage, str):
        return shown_url(storage)
    if isinstance(storage, Mapping):
        return ", ".join(
            f"{protocol}={describe_storage(storage[protocol])}"
            for protocol in PROTOCOLS
            if protocol in storage
        )
    return type(storage).__name__
