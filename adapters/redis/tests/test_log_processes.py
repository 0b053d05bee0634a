"""Several OS processes appending to one shard: one order, no gap, no sequence given twice."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import orjson

from eventmesh import RealClock
from eventmesh_redis import redis_backend_from_url

HERE = Path(__file__).resolve().parent


async def test_appenders_in_three_processes_share_one_order(redis_url: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), *sys.path]))}
    names, count = ["p0", "p1", "p2"], 120
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "log_appender",
            redis_url,
            name,
            str(count),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        for name in names
    ]
    outputs = [await process.communicate() for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0], outputs
    given = {name: orjson.loads(out) for name, (out, _) in zip(names, outputs, strict=True)}

    backend = redis_backend_from_url(redis_url, RealClock())
    try:
        records = await backend.logs.read("s", "0", after=0, limit=1000)
        assert await backend.logs.bounds("s", "0") == (0, 3 * count)
    finally:
        await backend.close()
    assert [record.sequence for record in records] == list(range(1, 3 * count + 1))
    arrivals = [record.arrival for record in records]
    assert arrivals == sorted(arrivals)  # one shard, one order, on one clock
    for name in names:
        mine = [record for record in records if record.partition_key == name]
        assert [record.data for record in mine] == [f"{name}:{i}".encode() for i in range(count)]
        assert [record.sequence for record in mine] == given[name]  # as each append returned
