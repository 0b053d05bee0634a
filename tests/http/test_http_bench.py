"""``eventmesh bench --scenario http``: the front against a bare ASGI app, for a short run."""

from __future__ import annotations

from pathlib import Path

from tests.bench_helpers import bench


def test_the_http_scenario_measures_both_sides_on_real_connections(tmp_path: Path) -> None:
    result = bench(tmp_path, "--scenario", "http", "--events", "200", "--concurrency", "4")
    assert result["scenario"] == "http"
    assert result["baseline"]["name"] == "bare ASGI app, same uvicorn server"
    assert result["throughput"] > 0 and result["baseline"]["throughput"] > 0
    for side in ("events", "baseline_events"):
        assert result[side]["sent"] == result[side]["handled"] == 200, side
    assert result["errors"] == 0 and result["baseline_errors"] == 0
    assert result["parameters"]["concurrency"] == 4
    latency = result["latency_ms"]
    assert 0 < latency["p50"] <= latency["max"]


def test_the_http_scenario_by_duration(tmp_path: Path) -> None:
    result = bench(tmp_path, "--scenario", "http", "--duration", "0.3")
    assert result["events"]["sent"] > 0
    assert result["errors"] == 0 and result["baseline_errors"] == 0
