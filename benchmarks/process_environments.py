"""Process execution environments against the in-process path: a markdown table.

Runs the three ``--isolation process`` scenarios of ``eventmesh bench`` (``invoke``,
``cold-start``, ``cpu-scaling``), each in a process of its own, ``--runs`` times round by
round (so a noisy minute touches one run of each rather than every run of one), and prints
each figure's min / median / max over the runs, where a cold start's time goes, and issue
15's targets judged on the medians. Kept apart from ``run_all.py``: its three rounds of every
scenario would take about two and a half minutes longer, and these figures are not ratios.

Run: ``uv run python benchmarks/process_environments.py [--runs N] [--duration S]
[--cold-starts N] [--output FILE]`` (needs the bench and process extras).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eventmesh.bench.report import machine_line

Result = dict[str, Any]
Figure = Callable[[Result], float]


def commands(duration: float, cold_starts: int) -> dict[str, list[str]]:
    """The bench's arguments for each scenario (the command lines the README shows)."""
    return {
        "invoke": ["--scenario", "invoke", "--isolation", "process", "--duration", f"{duration:g}"],
        "cold-start": [
            "--scenario", "cold-start", "--isolation", "process", "--events", str(cold_starts),
        ],
        "cpu-scaling": [
            "--scenario", "cpu-scaling", "--isolation", "process", "--duration", f"{duration:g}",
        ],
    }  # fmt: skip


def run(arguments: list[str], directory: Path) -> Result:
    output = directory / "result.json"
    command = [
        sys.executable, "-m", "eventmesh.cli", "bench", *arguments,
        "--no-progress", "--json", str(output),
    ]  # fmt: skip
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    result: Result = json.loads(output.read_text())
    output.unlink()
    return result


def spread(results: list[Result], figure: Figure, digits: int = 3) -> str:
    values = sorted(figure(result) for result in results)
    return (
        f"{values[0]:.{digits}f} / {statistics.median(values):.{digits}f} / {values[-1]:.{digits}f}"
    )


def median(results: list[Result], figure: Figure) -> float:
    return statistics.median(figure(result) for result in results)


def _at(*path: str) -> Figure:
    def figure(result: Result) -> float:
        value: Any = result
        for key in path:
            value = value[key]
        return float(value)

    return figure


FIGURES: list[tuple[str, str, Figure, int]] = [
    ("invoke", "warm invoke p50, process environment (ms)", _at("latency_ms", "p50"), 3),
    ("invoke", "warm invoke p50, in-process (ms)", _at("baseline_latency_ms", "p50"), 4),
    ("invoke", "overhead p50: process - in-process (ms)", _at("process", "overhead_ms", "p50"), 3),
    ("invoke", "overhead p90 (ms)", _at("process", "overhead_ms", "p90"), 3),
    ("invoke", "overhead p99 (ms)", _at("process", "overhead_ms", "p99"), 3),
    ("invoke", "CPU per warm call, process: in the mesh's process (us)",
     _at("process", "cpu_per_call_us", "mesh_us"), 0),
    ("invoke", "CPU per warm call, process: in the environment's process (us)",
     _at("process", "cpu_per_call_us", "environment_us"), 0),
    ("invoke", "CPU per warm call, in-process (us)",
     _at("process", "cpu_per_call_us", "in_process_us"), 1),
    ("invoke", "warm invokes/s, process environment", _at("throughput"), 0),
    ("invoke", "warm invokes/s, in-process", _at("baseline", "throughput"), 0),
    ("cold-start", "Init Duration, min (ms)", _at("process", "init_duration_ms", "min"), 1),
    ("cold-start", "Init Duration, median (ms)", _at("process", "init_duration_ms", "median"), 1),
    ("cold-start", "Init Duration, max (ms)", _at("process", "init_duration_ms", "max"), 1),
    ("cold-start", "in-process cold start's Init Duration, median (ms)",
     _at("process", "in_process_init_duration_ms", "median"), 4),
    ("cpu-scaling", "CPU-bound, process: 1 environment (invokes/s)",
     _at("process", "process", "throughput_1"), 0),
    ("cpu-scaling", "CPU-bound, process: 2 environments (invokes/s)",
     _at("process", "process", "throughput_2"), 0),
    ("cpu-scaling", "CPU-bound, process: 2 / 1", _at("process", "process", "scaling"), 2),
    ("cpu-scaling", "CPU-bound, in-process def: 1 thread (invokes/s)",
     _at("process", "in_process", "throughput_1"), 0),
    ("cpu-scaling", "CPU-bound, in-process def: 2 threads (invokes/s)",
     _at("process", "in_process", "throughput_2"), 0),
    ("cpu-scaling", "CPU-bound, in-process def: 2 / 1", _at("process", "in_process", "scaling"), 2),
]  # fmt: skip

STAGES: list[tuple[str, Figure]] = [
    ("call to the handler's module imported (in the mesh)",
     _at("process", "call_to_handler_imported_ms", "median")),
    ("handler's module imported to the first /next (in the mesh)",
     _at("process", "handler_imported_to_first_next_ms", "median")),
    ("spawn: fork + exec + exit of `true` (timed apart)", _at("process", "stages", "spawn_ms")),
    ("interpreter start: `python -c`, less the spawn (timed apart)",
     _at("process", "stages", "interpreter_ms")),
    ("sandbox wrapper: cgroup, `unshare`, private /tmp (timed apart)",
     _at("process", "stages", "sandbox_wrapper_ms")),
    ("awslambdaric import (timed apart)", _at("process", "stages", "awslambdaric_import_ms")),
]  # fmt: skip

TARGETS: list[tuple[str, str, Figure, Callable[[float], bool], int]] = [
    ("warm overhead p50 under 0.5 ms", "invoke", _at("process", "overhead_ms", "p50"),
     lambda value: value < 0.5, 3),
    ("cold start (Init Duration, median) under 300 ms", "cold-start",
     _at("process", "init_duration_ms", "median"), lambda value: value < 300.0, 1),
    ("CPU-bound: 2 environments >= 1.6 x one", "cpu-scaling",
     _at("process", "process", "scaling"), lambda value: value >= 1.6, 2),
]  # fmt: skip


def document(results: dict[str, list[Result]], arguments: argparse.Namespace) -> str:
    first = results["invoke"][0]
    count = len(results["invoke"])
    lines = [
        "# eventmesh bench: process execution environments",
        "",
        f"Made by `uv run python benchmarks/process_environments.py --runs {arguments.runs} "
        f"--duration {arguments.duration:g} --cold-starts {arguments.cold_starts}` on "
        f"{datetime.now(UTC):%Y-%m-%d}. Machine: {machine_line(first['machine'])}. "
        f"Each figure: min / median / max over {count} runs, round by round, each scenario in "
        "a process of its own, eventmesh's side then the in-process baseline in that run.",
        "",
        "| scenario | figure | min / median / max |",
        "| --- | --- | ---: |",
    ]
    for scenario, label, figure, digits in FIGURES:
        lines.append(f"| {scenario} | {label} | {spread(results[scenario], figure, digits)} |")
    lines += [
        "",
        "## Where a cold start's time goes (medians; min / median / max over the runs)",
        "",
        "| stage | ms |",
        "| --- | ---: |",
    ]
    for label, figure in STAGES:
        lines.append(f"| {label} | {spread(results['cold-start'], figure, 1)} |")
    sandbox = results["cold-start"][0]["process"]["stages"]["sandbox"]
    lines += [
        "",
        f"Sandbox of the stages timed apart: {sandbox}.",
        "",
        "## Targets (judged on the medians)",
        "",
        "| target | min / median / max | met |",
        "| --- | ---: | --- |",
    ]
    for label, scenario, figure, met, digits in TARGETS:
        runs = results[scenario]
        verdict = "yes" if met(median(runs, figure)) else "no"
        lines.append(f"| {label} | {spread(runs, figure, digits)} | {verdict} |")
    lines += ["", "Commands:", ""]
    for arguments_ in commands(arguments.duration, arguments.cold_starts).values():
        lines.append(f"    uv run eventmesh bench {' '.join(arguments_)}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="times to run the set (default 3)")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per side")
    parser.add_argument("--cold-starts", type=int, default=20, help="cold starts per run")
    parser.add_argument("--output", type=Path, help="also write the markdown to this file")
    arguments = parser.parse_args()
    if arguments.runs < 1 or arguments.cold_starts < 1:
        parser.error("--runs and --cold-starts must be at least 1")
    chosen = commands(arguments.duration, arguments.cold_starts)
    results: dict[str, list[Result]] = {name: [] for name in chosen}
    with tempfile.TemporaryDirectory() as directory:
        for round_ in range(arguments.runs):
            for name, bench_arguments in chosen.items():
                print(f"run {round_ + 1}/{arguments.runs}: {name}", file=sys.stderr)
                results[name].append(run(bench_arguments, Path(directory)))
    text = document(results, arguments)
    if arguments.output is not None:
        arguments.output.write_text(text)
    print(text, end="")


if __name__ == "__main__":
    main()
