"""``eventmesh bench --isolation process``: the scenarios with process execution environments
run with real processes and report their figures beside the in-process path; options they
cannot take are refused before anything runs.

As in test_bench.py, the harness is checked (schema, counts, what is printed), never the
speed: which side is faster, and by how much, is for the benchmarks.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from bench_helpers import QUICK, bench
from process_prefix import skip_if_hidden

from eventmesh.bench.cpu_meter import CpuMeter, child_cpu_seconds
from eventmesh.bench.scenarios import PROCESS_SCENARIOS, SCENARIOS, get_scenario
from eventmesh.bench.scenarios._process import BENCH_MODULE, code_directory
from eventmesh.cli import main
from eventmesh.process.sandbox import open_sandbox

pytestmark = skip_if_hidden


def check_counts(result: dict[str, Any], sent: int) -> None:
    for side in ("events", "baseline_events"):
        events = result[side]
        assert events["sent"] == sent, side
        assert events["handled"] == events["expected"] == sent, side
    assert result["errors"] == 0 and result["baseline_errors"] == 0
    assert result["parameters"]["isolation"] == "process"
    assert result["settings"]["isolation"] == "process"


def test_invoke_in_a_process_environment_against_in_process_in_one_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = bench(tmp_path, "--scenario", "invoke", "--isolation", "process", "--events", "200")
    check_counts(result, 200)
    assert result["name"] == "mesh.invoke, process environment (warm)"
    assert result["baseline"]["name"] == "mesh.invoke, in-process (warm)"
    assert result["cold_starts"] == 0  # its environment started before the measurement
    overhead = result["process"]["overhead_ms"]
    assert set(overhead) == {"p50", "p90", "p99"}
    assert overhead["p50"] == pytest.approx(
        result["latency_ms"]["p50"] - result["baseline_latency_ms"]["p50"], abs=2e-4
    )
    assert result["process"]["target_p50_ms"] == 0.5
    cpu = result["process"]["cpu_per_call_us"]
    assert set(cpu) == {"mesh_us", "environment_us", "in_process_us"}
    assert cpu["environment_us"] >= 0 and cpu["mesh_us"] > 0 and cpu["in_process_us"] > 0
    out = capsys.readouterr().out
    assert "process isolation's overhead per warm invocation" in out
    assert "CPU per warm call" in out


def test_cold_start_of_a_python_environment_reports_init_duration_and_its_stages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = bench(tmp_path, "--scenario", "cold-start", "--isolation", "process", "--events", "3")
    check_counts(result, 3)
    assert result["cold_starts"] == 3  # every sample a new environment
    process = result["process"]
    init = process["init_duration_ms"]
    assert 0 < init["min"] <= init["median"] <= init["max"]
    # The handler's module is imported inside the init: both parts are within it.
    imported = process["call_to_handler_imported_ms"]
    assert imported["min"] > 0 and imported["max"] <= process["cold_invocation_ms"]["max"]
    assert process["handler_imported_to_first_next_ms"]["min"] > 0
    stages = process["stages"]
    assert stages["rounds"] == 10 and stages["spawn_ms"] > 0 and stages["sandbox"]
    for key in ("interpreter_ms", "sandbox_wrapper_ms", "awslambdaric_import_ms"):
        assert isinstance(stages[key], float), key
    assert "cold_start" not in result  # the in-process scenario's overhead figure is not ours
    out = capsys.readouterr().out
    assert "Init Duration of a process environment over 3 cold starts" in out
    assert "awslambdaric import" in out


def test_cpu_scaling_runs_each_side_at_concurrency_1_then_2(tmp_path: Path) -> None:
    result = bench(tmp_path, "--scenario", "cpu-scaling", "--events", "20", "--handler", "cpu:500")
    check_counts(result, 20)  # the reported run is the one at concurrency 2
    assert result["settings"]["concurrency"] == "1 and 2"
    assert result["settings"]["loop_iterations"] >= 1
    for side in ("process", "in_process"):
        figures = result["process"][side]
        assert figures["throughput_1"] > 0 and figures["throughput_2"] > 0
        assert figures["scaling"] == pytest.approx(
            figures["throughput_2"] / figures["throughput_1"], rel=1e-3
        )
    assert result["process"]["target_scaling"] == 1.6


def test_the_code_directory_is_visible_to_a_sandboxed_process_and_removed_after() -> None:
    with code_directory() as code:
        assert (code / f"{BENCH_MODULE}.py").is_file()
        with (
            tempfile.TemporaryDirectory() as root,
            open_sandbox("bench-test", 128, 512, Path(root) / "env") as sandbox,
        ):
            assert not sandbox.hides(code)
    assert not code.exists()


def test_the_cpu_meter_reads_a_child_s_cpu_time_and_divides_by_the_calls() -> None:
    spin = "import time\nuntil = time.process_time() + 0.3\nwhile time.process_time() < until: pass"
    child = subprocess.Popen([sys.executable, "-c", spin + "\nimport sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)  # fmt: skip
    try:
        meter = CpuMeter()
        meter.start()
        assert child.pid in child_cpu_seconds()
        deadline = time.monotonic() + 60.0
        while child_cpu_seconds().get(child.pid, 0.0) < 0.3 and time.monotonic() < deadline:
            time.sleep(0.05)  # until the child has burnt its 0.3 s of CPU
        meter.calls = 2
        meter.stop()
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(60)
    # Per call: what the child burnt while the meter ran (most of its 0.3 s, plus its start
    # at most) halved, so under the 0.3 s a meter that did not divide would report.
    assert 0 < meter.children_us < 0.25e6
    assert child.pid not in child_cpu_seconds()  # a child that ended is not read


def test_the_isolation_picks_the_scenario() -> None:
    assert get_scenario("invoke") is SCENARIOS["invoke"]
    assert get_scenario("invoke", "in_process") is SCENARIOS["invoke"]
    assert get_scenario("invoke", "process") is PROCESS_SCENARIOS["invoke"]
    assert get_scenario("cold-start", "process") is PROCESS_SCENARIOS["cold-start"]
    assert get_scenario("cpu-scaling") is PROCESS_SCENARIOS["cpu-scaling"]  # its only one


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--scenario", "queue", "--isolation", "process"],
            "--isolation process: queue does not run in process environments; the scenarios "
            "that do: cold-start, cpu-scaling, invoke",
        ),
        (
            ["--scenario", "cpu-scaling", "--isolation", "in_process"],
            "--isolation in_process: cpu-scaling does not run in the mesh's process",
        ),
        (["app:mesh", "--target", "f", "--isolation", "process"], "drop --isolation"),
        (["--isolation", "threads"], "invalid choice"),
        (["--scenario", "invoke", "--isolation", "process", "--handler", "cpu:100"], "--handler"),
        (["--scenario", "cold-start", "--isolation", "process", "--rate", "5"], "no --rate"),
        (["--scenario", "cold-start", "--isolation", "process", "--handler", "sleep:1"], "empty"),
        (["--scenario", "cpu-scaling", "--concurrency", "4"], "drop --concurrency"),
        (["--scenario", "cpu-scaling", "--rate", "100"], "no --rate"),
        (["--scenario", "cpu-scaling", "--handler", "sleep:1"], "cpu:US"),
        (["--scenario", "cpu-scaling", "--backlog", "10"], "cannot pre-fill a backlog"),
    ],
)
def test_options_a_process_scenario_cannot_take_exit_2_with_a_message(
    arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        status = main(["bench", *arguments, *QUICK])
    except SystemExit as exit_:  # argparse's own refusal
        status = int(exit_.code or 0)
    assert status == 2
    assert message in capsys.readouterr().err


def test_without_the_process_extra_it_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "awslambdaric", None)
    assert main(["bench", "--scenario", "invoke", "--isolation", "process", *QUICK]) == 2
    err = capsys.readouterr().err
    assert "needs awslambdaric" in err and "pip install 'eventmesh[process]'" in err
