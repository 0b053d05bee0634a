"""What was created through the AWS endpoint, kept in the mesh's key-value store.

A queue made with ``CreateQueue`` exists in the process that served the call; the catalog
records it as ``(kind, name, settings)`` so that every worker sharing the mesh's storage
(``sqlite://``, ``redis://``) finds it, and a durable mesh has it again after a restart:

* :func:`record` and :func:`forget` as resources are created, changed and deleted;
* :func:`load` when a call names a resource this process does not have: re-created here if
  another worker recorded it;
* :func:`restore` once as the endpoint starts: every recorded resource re-created.

Each service module registers how to rebuild its kinds with :func:`register_kind` (a kind
is a string of the module's choosing, ``"sqs.queue"``, ``"sns.subscription"``); ``after``
orders kinds that need others (subscriptions after the topics and queues they name).
Settings are JSON values.

The records live under one key, updated by compare-and-set (``only_if_version``), so two
workers creating at once both land. Resources declared in code (``mesh.queue("orders")``)
are not recorded: the code declares them in every worker already.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from eventmesh._errors import EventMeshError

if TYPE_CHECKING:
    from eventmesh._mesh import Mesh

__all__ = [
    "CATALOG_KEY",
    "Restorer",
    "forget",
    "load",
    "lookup",
    "record",
    "recorded",
    "register_kind",
    "restore",
]

logger = logging.getLogger("eventmesh.aws")

CATALOG_KEY = "eventmesh.aws.catalog"
"""The key-value store key holding every record: ``{kind: {name: settings}}`` as JSON."""

_ATTEMPTS = 1000  # compare-and-set rounds before giving up (each lost round is a write won)

Restorer = Callable[["Mesh", str, Mapping[str, Any]], Awaitable[None]]
"""Re-creates one recorded resource in a mesh: called with the mesh, the name, the settings."""


@dataclass(frozen=True, slots=True)
class _Kind:
    restore: Restorer
    after: tuple[str, ...]


_KINDS: dict[str, _Kind] = {}


def register_kind(kind: str, restore: Restorer, *, after: Sequence[str] = ()) -> None:
    """Say how a recorded resource of ``kind`` is re-created; ``after``: kinds restored first."""
    existing = _KINDS.get(kind)
    if existing is not None and existing.restore is not restore:
        raise ValueError(f"catalog kind {kind!r} is already registered")
    _KINDS[kind] = _Kind(restore, tuple(after))


async def _read(mesh: Mesh) -> tuple[int | None, dict[str, dict[str, Any]]]:
    stored = await mesh.context.backend.values.get(CATALOG_KEY)
    if stored is None:
        return None, {}
    records: dict[str, dict[str, Any]] = orjson.loads(stored.value)
    return stored.version, records


async def _update(mesh: Mesh, change: Callable[[dict[str, dict[str, Any]]], bool]) -> bool:
    """Apply ``change`` to the records and write them back unless another writer got there
    first (then read and apply again). ``change`` returns whether it changed anything."""
    values = mesh.context.backend.values
    for _ in range(_ATTEMPTS):
        version, records = await _read(mesh)
        if not change(records):
            return False
        data = orjson.dumps(records)
        if version is None:
            written = await values.put(CATALOG_KEY, data, only_if_absent=True)
        else:
            written = await values.put(CATALOG_KEY, data, only_if_version=version)
        if written is not None:
            return True
    raise EventMeshError(f"the AWS catalog could not be updated after {_ATTEMPTS} attempts")


async def record(mesh: Mesh, kind: str, name: str, settings: Mapping[str, Any]) -> None:
    """Record (or replace) the resource ``name`` of ``kind`` with its ``settings``."""
    value = orjson.loads(orjson.dumps(dict(settings)))  # JSON now, not at the next write

    def change(records: dict[str, dict[str, Any]]) -> bool:
        of_kind = records.setdefault(kind, {})
        if of_kind.get(name) == value:
            return False
        of_kind[name] = value
        return True

    await _update(mesh, change)


async def forget(mesh: Mesh, kind: str, name: str) -> bool:
    """Remove the record of ``name`` of ``kind``; False when there was none."""

    def change(records: dict[str, dict[str, Any]]) -> bool:
        of_kind = records.get(kind, {})
        if name not in of_kind:
            return False
        del of_kind[name]
        if not of_kind:
            del records[kind]
        return True

    return await _update(mesh, change)


async def recorded(mesh: Mesh, kind: str) -> dict[str, dict[str, Any]]:
    """Every record of ``kind``, name to settings, in the order they were first recorded."""
    return (await _read(mesh))[1].get(kind, {})


async def lookup(mesh: Mesh, kind: str, name: str) -> dict[str, Any] | None:
    """The settings recorded for ``name`` of ``kind``, or None."""
    return (await recorded(mesh, kind)).get(name)


async def load(mesh: Mesh, kind: str, name: str) -> bool:
    """Re-create ``name`` of ``kind`` in this mesh if it is recorded (made by another worker
    sharing the storage, or before a restart); False when it is not, or when this process
    cannot make it (logged as :func:`restore` does), so the call answers not found, not 500."""
    settings = await lookup(mesh, kind, name)
    if settings is None:
        return False
    known = _KINDS.get(kind)
    if known is None:
        logger.warning("AWS catalog: no service restores %r resources; skipped", kind)
        return False
    try:
        await known.restore(mesh, name, settings)
    except Exception as exc:
        logger.error("AWS catalog: restoring %s %r failed: %s", kind, name, exc)
        return False
    return True


def _ordered(kinds: Sequence[str]) -> list[str]:
    """``kinds`` with each after those it names in ``after`` (registration order otherwise)."""
    done: list[str] = []

    def visit(kind: str, path: tuple[str, ...]) -> None:
        if kind in done or kind in path:
            return
        for before in _KINDS[kind].after:
            if before in _KINDS:
                visit(before, (*path, kind))
        done.append(kind)

    for kind in kinds:
        visit(kind, ())
    return done


async def restore(mesh: Mesh) -> list[tuple[str, str]]:
    """Re-create every recorded resource in ``mesh`` (as the endpoint starts); returns what
    was restored as ``(kind, name)``. A record that cannot be restored (a kind no module
    registers, settings the resource refuses, a name taken by another kind) is logged and
    skipped: it never stops the others nor the endpoint."""
    records = (await _read(mesh))[1]
    restored: list[tuple[str, str]] = []
    for kind in records:
        if kind not in _KINDS:
            logger.warning("AWS catalog: no service restores %r resources; skipped", kind)
    for kind in _ordered([k for k in _KINDS if k in records]):
        for name, settings in records.get(kind, {}).items():
            try:
                await _KINDS[kind].restore(mesh, name, settings)
            except Exception as exc:
                logger.error("AWS catalog: restoring %s %r failed: %s", kind, name, exc)
            else:
                restored.append((kind, name))
    return restored
