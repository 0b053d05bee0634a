"""``eventmesh bench``: every scenario runs briefly and reports consistent figures.

These tests check the harness (schema, consistency, open-loop latency, outputs, messages),
never the speed: CI machines are small and noisy.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

import pytest
from bench_helpers import QUICK, bench

from eventmesh.bench.options import OptionsError, Work, parse_work
from eventmesh.bench.recorder import Recorder, summarise
from eventmesh.bench.report import markdown_table
from eventmesh.bench.scenarios import bus_available
from eventmesh.cli import main


def check_schema(result: dict[str, Any], *, sent: int, deliveries: int = 1) -> None:
    """The stable keys, positive figures, and figures that agree with each other."""
    for key in (
        "scenario",
        "parameters",
        "throughput",
        "latency_ms",
        "baseline",
        "ratio",
        "peak_rss_mb",
        "machine",
    ):
        assert key in result, key
    latency = result["latency_ms"]
    assert set(latency) == {"p50", "p90", "p99", "p999", "max"}
    assert 0 <= latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["p999"]
    assert latency["p999"] <= latency["max"] and latency["max"] > 0
    assert set(result["baseline"]) == {"name", "throughput"}
    assert result["baseline"]["name"]
    assert result["throughput"] > 0 and result["baseline"]["throughput"] > 0
    assert result["ratio"] == pytest.approx(
        result["throughput"] / result["baseline"]["throughput"], rel=1e-4
    )
    assert result["peak_rss_mb"] > 0
    assert {"cpu_count", "python", "platform"} <= set(result["machine"])
    for side in ("events", "baseline_events"):
        events = result[side]
        assert events["sent"] == sent, side
        assert events["handled"] == events["expected"] == sent * deliveries, side
    assert result["errors"] == 0 and result["baseline_errors"] == 0


@pytest.mark.parametrize(
    ("scenario", "extra", "deliveries"),
    [
        ("invoke", ["--concurrency", "4"], 1),
        ("invoke-event", [], 1),
        ("queue", ["--batch-size", "10"], 1),
        ("stream", ["--shards", "2", "--parallelization", "2"], 1),
        ("fanout", ["--subscribers", "3"], 3),
        ("fanout", ["--subscribers", "2", "--subscriber", "callable"], 2),
        ("cold-start", [], 1),
    ],
)
def test_each_scenario_reports_a_consistent_result(
    tmp_path: Path, scenario: str, extra: list[str], deliveries: int
) -> None:
    result = bench(tmp_path, "--scenario", scenario, "--events", "300", *extra)
    assert result["scenario"] == scenario
    check_schema(result, sent=300, deliveries=deliveries)
    assert result["parameters"]["mode"] == "closed"
    if scenario == "cold-start":
        assert result["cold_starts"] == 300
        assert result["cold_start"]["cold_p50_ms"] >= result["cold_start"]["warm_p50_ms"]


def test_invoke_also_reports_its_ratio_to_a_bare_await_loop_that_records_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = bench(tmp_path, "--scenario", "invoke", "--events", "300")
    unrecorded = result["unrecorded"]
    assert unrecorded["name"] == "bare await loop, nothing recorded"
    assert unrecorded["ratio"] == pytest.approx(
        result["throughput"] / unrecorded["throughput"], rel=1e-4
    )
    assert unrecorded["throughput"] > 0  # which side is faster is for benchmarks, not tests
    assert "ratio eventmesh / bare await loop, nothing recorded" in capsys.readouterr().out
    other = bench(tmp_path, "--scenario", "invoke", "--events", "30", "--handler", "sleep:0")
    assert "unrecorded" not in other  # a handler with work of its own: no such floor


def test_a_closed_loop_by_duration_gives_the_baseline_as_many_events(tmp_path: Path) -> None:
    result = bench(tmp_path, "--scenario", "queue", "--duration", "0.2")
    sent = result["events"]["sent"]
    assert sent > 0
    check_schema(result, sent=sent)
    assert result["parameters"]["duration"] == 0.2


def test_schedule_jitter_measures_fires_against_timers(tmp_path: Path) -> None:
    result = bench(
        tmp_path, "--scenario", "schedule-jitter", "--events", "20", "--concurrency", "2"
    )
    check_schema(result, sent=20)
    assert result["parameters"]["fires"] == 20 and result["parameters"]["seconds"] == 1
    assert result["parameters"]["handler"] == "cpu:200"


def test_bus_runs_or_says_it_needs_the_bus(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if bus_available():
        result = bench(tmp_path, "--scenario", "bus", "--events", "300", "--rules", "5")
        check_schema(result, sent=300)
        return
    assert main(["bench", "--scenario", "bus", "--events", "10", *QUICK]) == 2
    error = capsys.readouterr().err
    assert "mesh.bus" in error and "Traceback" not in error


def test_open_loop_latency_counts_from_the_intended_send_time(tmp_path: Path) -> None:
    # 1,000 events/s to a handler that spins 2 ms: it can do 500/s, so the queue grows and
    # the last events wait ~0.3 s. A producer that waited for the consumer (coordinated
    # omission) would report ~2 ms instead.
    result = bench(
        tmp_path,
        "--scenario",
        "invoke-event",
        "--rate",
        "1000",
        "--events",
        "300",
        "--handler",
        "cpu:2000",
    )
    check_schema(result, sent=300)
    assert result["parameters"]["mode"] == "open"
    assert result["latency_ms"]["p99"] > 25 * 2.0
    assert result["latency_ms"]["p99"] > 1.5 * result["latency_ms"]["p50"]  # grows with the queue
    assert result["backlog"]["trend_per_s"] > 100
    assert result["throughput"] < 1000


def test_the_plot_is_written_as_svg(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plot = tmp_path / "plot.svg"
    assert main(["bench", "--events", "200", "--warmup", "0", "--plot", str(plot)]) == 0
    root = ElementTree.parse(plot).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert len(root.findall("{http://www.w3.org/2000/svg}polyline")) == 4
    out = capsys.readouterr().out
    assert "ratio eventmesh / baseline" in out and "p99.9" in out


def test_a_png_plot_without_matplotlib_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Refused before the run: nothing is measured, so nothing printed but the reason."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    plot = tmp_path / "plot.png"
    output = tmp_path / "result.json"
    arguments = ["--events", "50", *QUICK, "--plot", str(plot), "--json", str(output)]
    assert main(["bench", *arguments]) == 2
    captured = capsys.readouterr()
    assert "needs matplotlib" in captured.err
    assert captured.out == "" and not output.exists()


def failing_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    (tmp_path / "bench_failing_app.py").write_text(
        "from eventmesh import Mesh, Telemetry\n"
        "mesh = Mesh(telemetry=Telemetry(enabled=False))\n"
        "calls = []\n"
        "@mesh.function\n"
        "async def work(event, context):\n"
        f"    {body}\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "bench_failing_app", raising=False)


def test_a_run_where_every_call_failed_prints_the_errors_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No throughput for a side that handled nothing: the errors instead, exit status 1. The
    mesh's side returns function errors (counted by the mesh), the bare handler raises."""
    failing_app(tmp_path, monkeypatch, "raise RuntimeError('the provider refused')")
    output = tmp_path / "result.json"
    arguments = ["bench_failing_app:mesh", "--target", "work", "--events", "20", *QUICK]
    assert main(["bench", *arguments, "--json", str(output)]) == 1
    captured = capsys.readouterr()
    assert "ratio" not in captured.out and not output.exists()
    assert captured.err.splitlines() == [
        "eventmesh bench: every call of mesh.invoke(target, payload) (app on memory) failed: "
        "20 errors, 20 handled",
        "  (the errors were counted by the mesh: function errors or lost events)",
        "eventmesh bench: every call of await handler(payload, context) (app on memory) "
        "failed: 20 errors, 0 handled",
        "  RuntimeError: the provider refused",
    ]


def test_calls_that_raise_are_counted_once_and_not_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Half the calls raise: the run still reports, each raised call is one error (not a
    second time as a missing sample), and the samples expected are the other half."""
    failing_app(
        tmp_path,
        monkeypatch,
        "calls.append(1)\n    if len(calls) % 2 == 0:\n        raise RuntimeError('every other')",
    )
    result = bench(tmp_path, "bench_failing_app:mesh", "--target", "work", "--events", "20")
    assert result["baseline_errors"] == result["baseline_raised"] == 10
    assert result["baseline_events"] == {"sent": 20, "handled": 10, "expected": 10}
    assert result["baseline_failures"] == ["RuntimeError: every other"]
    assert result["errors"] == 10 and result["raised"] == 0  # function errors, not raised


@pytest.mark.parametrize("module", ["hdrh", "rich"])
def test_missing_dependencies_are_named_with_how_to_install_them(
    module: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in list(sys.modules):
        if name == module or name.startswith(module + "."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)  # import now raises ImportError
    assert main(["bench", "--events", "10"]) == 2
    error = capsys.readouterr().err
    assert "pip install 'eventmesh[bench]'" in error and "uv sync --extra bench" in error
    assert {"hdrh": "hdrhistogram", "rich": "rich"}[module] in error
    assert "Traceback" not in error


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--scenario", "invoke", "app:mesh"], "not both"),
        (["--scenario", "cold-start", "--rate", "10"], "no --rate"),
        (["--handler", "fast"], "--handler"),
        (["--events", "0"], "at least 1"),
        (["--plot", "out.jpg"], ".svg or a .png"),
        (["app:mesh"], "--target"),
    ],
)
def test_invalid_options_exit_2_with_a_message(
    arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", *arguments, *QUICK]) == 2
    assert message in capsys.readouterr().err


def test_uvloop_missing_is_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)
    assert main(["bench", "--events", "10", "--loop", "uvloop", *QUICK]) == 2
    assert "pip install uvloop" in capsys.readouterr().err


def test_a_function_of_your_own_mesh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "bench_user_app.py").write_text(
        "from eventmesh import Mesh, Telemetry\n"
        "mesh = Mesh(telemetry=Telemetry(enabled=False))\n"
        "@mesh.function\n"
        "async def greet(event, context):\n"
        "    return {'hello': event['name'], 'state': context.state}\n"
        "@greet.init\n"
        "async def setup(context):\n"
        "    return 'ready'\n"
    )
    (tmp_path / "event.json").write_text('{"name": "bench"}')
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "bench_user_app", raising=False)
    result = bench(
        tmp_path, "bench_user_app:mesh", "--target", "greet", "--payload", "event.json",
        "--events", "200",
    )  # fmt: skip
    check_schema(result, sent=200)
    assert result["scenario"] == "app" and result["parameters"]["app"] == "bench_user_app:mesh"


def test_parse_work() -> None:
    assert parse_work("noop") == Work()
    assert parse_work("sleep:5") == Work("sleep", 0.005)
    assert parse_work("cpu:250") == Work("cpu", 250e-6)
    assert str(parse_work("cpu:250")) == "cpu:250"
    for bad in ("sleep", "cpu:-1", "noop:3", "spin:4"):
        with pytest.raises(OptionsError):
            parse_work(bad)


def test_summarise_from_synthetic_samples() -> None:
    # 300 events meant at 1,000/s, handled at 500/s: the backlog grows by 500 a second.
    recorder = Recorder()
    for index in range(300):
        intended, finished = index / 1000, (index + 1) / 500
        recorder.record(finished - intended, finished)
    recorder.sent = 300
    side = summarise("synthetic", recorder, 0.0, expected=300, produced_until=0.3)
    assert side.throughput == pytest.approx(500)
    assert side.latency.max == pytest.approx(301.0, rel=2e-3)
    assert side.latency.p50 == pytest.approx(151, rel=0.02)
    assert side.backlog_trend == pytest.approx(500, rel=0.05)
    assert sum(rate for _, rate in side.timeline) * (0.6 / len(side.timeline)) == pytest.approx(300)


def test_markdown_table_has_one_row_per_result(tmp_path: Path) -> None:
    result = bench(tmp_path, "--events", "100")
    table = markdown_table([result, result])
    lines = table.splitlines()
    assert len(lines) == 4 and lines[2].startswith("| invoke | closed loop, concurrency 1 |")


@pytest.mark.parametrize(("scenario", "extra"), [("queue", []), ("stream", ["--shards", "2"])])
def test_a_backlog_is_filled_before_the_consumers_start_then_drained(
    tmp_path: Path, scenario: str, extra: list[str]
) -> None:
    result = bench(tmp_path, "--scenario", scenario, "--backlog", "400", *extra)
    check_schema(result, sent=400)
    assert result["parameters"]["mode"] == "backlog" and result["parameters"]["backlog"] == 400
    assert result["events"]["handled"] == result["baseline_events"]["handled"] == 400


def test_a_backlog_is_refused_where_no_consumer_can_wait(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["bench", "--scenario", "invoke", "--backlog", "10", *QUICK]) == 2
    assert "cannot pre-fill a backlog" in capsys.readouterr().err
    assert main(["bench", "--scenario", "queue", "--backlog", "10", "--rate", "5", *QUICK]) == 2
    assert "drop --rate" in capsys.readouterr().err


def test_storages_are_compared_in_one_table_and_one_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "b.db"
    plot = tmp_path / "compare.svg"
    output = tmp_path / "compare.json"
    storages = f"memory,sqlite:///{database}"
    arguments = ["--scenario", "queue", "--events", "200", "--storage", storages]
    assert main(["bench", *arguments, *QUICK, "--json", str(output), "--plot", str(plot)]) == 0
    document = json.loads(output.read_text())
    assert [row["storage"] for row in document["comparison"]] == storages.split(",")
    for row, result in zip(document["comparison"], document["results"], strict=True):
        assert result["events"]["handled"] == result["baseline_events"]["handled"] == 200
        assert row["throughput"] == result["throughput"] > 0 and row["ratio"] == result["ratio"]
    assert "queue by storage" in capsys.readouterr().out
    lines = ElementTree.parse(plot).getroot().findall(".//{http://www.w3.org/2000/svg}polyline")
    assert len(lines) == 2 * 2  # latency and throughput, one line per storage
    from eventmesh.bench.report import comparison_markdown

    table = comparison_markdown(document)
    assert table.count("\n") == 3 and "sqlite:///" in table


def test_an_empty_storage_in_a_list_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--scenario", "queue", "--storage", "memory,", *QUICK]) == 2
    assert "empty entry" in capsys.readouterr().err


async def test_fill_backlog_stores_everything_before_the_consumers_start() -> None:
    from eventmesh.bench.runner import Side, fill_backlog
    from eventmesh.bench.workload import event_factory

    recorder = Recorder()
    stored: list[dict[str, Any]] = []
    started_with: list[int] = []

    async def fill(events: list[dict[str, Any]]) -> None:
        assert not started_with, "filled after the consumers started"
        stored.extend(events)

    async def start() -> None:
        started_with.append(len(stored))

    async def call(event: dict[str, Any]) -> None:
        raise AssertionError("a backlog is filled through fill, not call")

    side = Side("test", call, blocking=False, fill=fill, start=start)
    production = await fill_backlog(side, 1234, event_factory(0), recorder)
    assert started_with == [1234] and recorder.sent == 1234 and production.sent == 1234
    assert all(event["t"] <= production.started for event in stored)
