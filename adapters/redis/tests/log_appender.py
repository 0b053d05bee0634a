"""A worker process for the log tests: appends to one shard and prints what it was given.

Run as ``python -m log_appender URL NAME COUNT`` (with this directory on ``PYTHONPATH``):
appends COUNT records ``NAME:i`` (partition key NAME) to shard ``0`` of stream ``s``, mostly
one per append and now and then three in one, and prints the sequences it got back as one JSON
list.
"""

from __future__ import annotations

import asyncio
import sys

import orjson

from eventmesh import RealClock
from eventmesh_redis import redis_backend_from_url


async def append_many(url: str, name: str, count: int) -> list[int]:
    backend = redis_backend_from_url(url, RealClock())
    got: list[int] = []
    try:
        i = 0
        while i < count:
            size = 3 if i % 3 == 2 and i + 3 <= count else 1
            batch: list[tuple[bytes, str, dict[str, str]]] = [
                (f"{name}:{i + j}".encode(), name, {}) for j in range(size)
            ]
            got += [record.sequence for record in await backend.logs.append("s", "0", batch)]
            i += size
    finally:
        await backend.close()
    return got


if __name__ == "__main__":
    url, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    print(orjson.dumps(asyncio.run(append_many(url, name, count))).decode())
