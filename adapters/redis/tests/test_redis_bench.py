"""``eventmesh bench --storage redis://...``: each Redis scenario runs beside its raw redis-py
loop on the same server, and leaves no key behind. Shape only, never speed."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
from redis_test_server import SERVER, require_redis

from eventmesh.backends.urls import shown_url
from eventmesh.cli import main


@pytest.fixture
def redis_storage() -> str:
    """A storage URL under a prefix of this test's own (bench adds a run suffix to it)."""
    server = asyncio.run(require_redis(SERVER))
    return f"{server}?prefix=benchtest-{uuid.uuid4().hex[:8]}"


def run_bench(tmp_path: Path, storage: str, *arguments: str) -> dict[str, Any]:
    output = tmp_path / "result.json"
    command = ["bench", *arguments, "--storage", storage, "--warmup", "0", "--no-progress"]
    assert main([*command, "--json", str(output)]) == 0
    result: dict[str, Any] = json.loads(output.read_text())
    return result


def leftover_keys(storage: str) -> list[bytes]:
    prefix = storage.partition("prefix=")[2]
    client = redis.Redis.from_url(storage.partition("?")[0])
    try:
        return list(client.scan_iter(match=f"{{{prefix}*", count=1000))
    finally:
        client.close()


@pytest.mark.parametrize(
    ("scenario", "amount", "extra", "deliveries"),
    [
        ("queue", ["--backlog", "300"], [], 1),
        ("stream", ["--backlog", "300"], ["--shards", "2"], 1),
        ("queue", ["--events", "100"], [], 1),
        ("invoke-event", ["--events", "100"], [], 1),
        ("fanout", ["--events", "50"], ["--subscribers", "2"], 2),
    ],
)
def test_each_redis_scenario_runs_beside_a_raw_redis_loop_and_cleans_up(
    tmp_path: Path,
    redis_storage: str,
    scenario: str,
    amount: list[str],
    extra: list[str],
    deliveries: int,
) -> None:
    result = run_bench(tmp_path, redis_storage, "--scenario", scenario, *amount, *extra)
    sent = int(amount[1])
    assert result["baseline"]["name"].startswith("raw redis-py")
    for side in ("events", "baseline_events"):
        assert result[side]["handled"] == result[side]["expected"] == sent * deliveries, side
    assert result["errors"] == 0 and result["baseline_errors"] == 0
    assert result["throughput"] > 0 and result["baseline"]["throughput"] > 0
    assert result["parameters"]["storage"] == shown_url(redis_storage)  # as given, masked
    if amount[0] == "--backlog":
        memory = result["redis_memory_per_pending_bytes"]
        assert set(memory) == {"ours", "baseline"} and memory["ours"] > 0
    assert leftover_keys(redis_storage) == []


def test_redis_is_compared_with_memory_in_one_table(tmp_path: Path, redis_storage: str) -> None:
    result = run_bench(
        tmp_path, f"memory,{redis_storage}", "--scenario", "queue", "--backlog", "200"
    )
    names = [row["baseline"]["name"] for row in result["comparison"]]
    assert names[0].startswith("asyncio.Queue") and names[1].startswith("raw redis-py")
    assert result["comparison"][1]["memory_per_pending_bytes"] > 0
    assert leftover_keys(redis_storage) == []
