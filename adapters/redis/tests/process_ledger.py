"""The ledger worker processes of the multi-process tests write, and the test reads.

A worker app started by a test finds the ledger in its environment: ``LEDGER_URL`` (the Redis
server) and ``LEDGER_KEY`` (a key under the test's own prefix, so the test's clean-up deletes
it). Every handler invocation appends one JSON entry per record to the list ``LEDGER_KEY``,
with the writer's pid and wall time, so the test sees what each process did even after it was
killed. :func:`flag` and :func:`wait_flag` are the signals a test and its workers trade.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import orjson
import redis.asyncio as aioredis

__all__ = ["flag", "flag_value", "key", "record", "wait_flag"]

_clients: dict[str, aioredis.Redis] = {}


def key(suffix: str = "") -> str:
    """The ledger's list (``suffix`` empty) or a signal key beside it."""
    base = os.environ["LEDGER_KEY"]
    return f"{base}:{suffix}" if suffix else base


def _client() -> aioredis.Redis:
    """This process's client (made in its event loop, on first use)."""
    if not _clients:
        _clients["client"] = aioredis.Redis.from_url(os.environ["LEDGER_URL"])
    return _clients["client"]


async def record(*entries: dict[str, Any]) -> None:
    """Append ``entries`` (each with this process's pid and the wall time) in one command."""
    stamp = {"pid": os.getpid(), "t": time.time()}
    await _client().rpush(key(), *[orjson.dumps({**entry, **stamp}) for entry in entries])


async def flag(name: str, value: str = "1") -> None:
    await _client().set(key(name), value.encode())


async def flag_value(name: str) -> str | None:
    """The value the flag ``name`` was set to, or None when it is not set."""
    found = await _client().get(key(name))
    return None if found is None else found.decode()


async def wait_flag(name: str, within: float) -> bool:
    """True once the flag ``name`` is set, False if ``within`` seconds pass first."""
    deadline = time.monotonic() + within
    while not await _client().exists(key(name)):
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.02)
    return True
