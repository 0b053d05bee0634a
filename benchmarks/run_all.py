"""Run the standard set of ``eventmesh bench`` scenarios and write ``benchmarks/results.md``.

Each scenario runs in a process of its own (``python -m eventmesh.cli bench ... --json``),
eventmesh's side then its baseline, so every ratio comes from one process on one machine
state. The markdown has the command, the machine, one row per scenario, and the issue's
targets with the measured figure beside each.

Run: ``uv run python benchmarks/run_all.py [--duration SECONDS] [--output FILE]``
(needs the bench extra: ``uv sync --extra bench``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eventmesh.bench.report import machine_line, markdown_table
from eventmesh.bench.scenarios import bus_available

HERE = Path(__file__).resolve().parent

STANDARD: list[tuple[str, list[str]]] = [
    ("invoke", ["--scenario", "invoke"]),
    ("invoke-event", ["--scenario", "invoke-event"]),
    ("queue", ["--scenario", "queue", "--batch-size", "10"]),
    ("queue-open", ["--scenario", "queue", "--batch-size", "10", "--rate", "10000"]),
    ("stream", ["--scenario", "stream", "--shards", "2"]),
    ("fanout", ["--scenario", "fanout", "--subscribers", "10"]),
    (
        "fanout-callables",
        ["--scenario", "fanout", "--subscribers", "10", "--subscriber", "callable"],
    ),
    ("bus", ["--scenario", "bus", "--rules", "10"]),
    ("schedule-jitter", ["--scenario", "schedule-jitter"]),
    ("cold-start", ["--scenario", "cold-start"]),
]

Results = dict[str, dict[str, Any]]


def run(label: str, arguments: list[str], duration: float, directory: Path) -> dict[str, Any]:
    output = directory / f"{label}.json"
    command = [
        sys.executable, "-m", "eventmesh.cli", "bench", *arguments,
        "--duration", str(duration), "--no-progress", "--json", str(output),
    ]  # fmt: skip
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    result: dict[str, Any] = json.loads(output.read_text())
    return result


def _ratio(label: str, goal: float) -> Callable[[Results], tuple[str, bool] | None]:
    def check(results: Results) -> tuple[str, bool] | None:
        if label not in results:
            return None
        ratio = results[label]["ratio"]
        return f"{ratio:.3f}", ratio >= goal

    return check


def _open_queue(results: Results) -> tuple[str, bool] | None:
    if "queue-open" not in results:
        return None
    result = results["queue-open"]
    p99, trend = result["latency_ms"]["p99"], result["backlog"]["trend_per_s"]
    kept_up = abs(trend) < 0.01 * result["parameters"]["rate"]
    return f"p99 {p99:.3f} ms, backlog trend {trend:+.0f}/s", p99 <= 1.0 and kept_up


def _cold_start(results: Results) -> tuple[str, bool] | None:
    if "cold-start" not in results:
        return None
    overhead = results["cold-start"]["cold_start"]["overhead_ms"]
    return f"{overhead:.4f} ms", overhead < 1.0


TARGETS: list[tuple[str, Callable[[Results], tuple[str, bool] | None]]] = [
    ("invoke: warm RequestResponse >= 10 % of the bare await", _ratio("invoke", 0.10)),
    ("queue (batch 10): >= 40 % of asyncio.Queue + workers", _ratio("queue", 0.40)),
    ("queue open loop 10,000/s: p99 <= 1 ms, no growing backlog", _open_queue),
    ("fanout to 10: >= 30 % of the baseline's deliveries/s", _ratio("fanout", 0.30)),
    ("cold start: overhead beyond the user's init < 1 ms", _cold_start),
]


def targets_table(results: Results) -> str:
    lines = ["| target | measured | met |", "| --- | --- | --- |"]
    for label, check in TARGETS:
        outcome = check(results)
        if outcome is None:
            lines.append(f"| {label} | not run | - |")
        else:
            figure, met = outcome
            lines.append(f"| {label} | {figure} | {'yes' if met else 'no'} |")
    return "\n".join(lines)


def document(results: Results, duration: float) -> str:
    first = next(iter(results.values()))
    loop = first["parameters"]["loop"]
    return "\n".join(
        [
            "# eventmesh bench: the standard set",
            "",
            f"Made by `uv run python benchmarks/run_all.py --duration {duration:g}` on "
            f"{datetime.now(UTC):%Y-%m-%d}. Machine: {machine_line(first['machine'])}; "
            f"event loop: {loop}. Each row ran in its own process, eventmesh's side then its "
            "baseline on the same number of events; the ratio is eventmesh / baseline "
            "throughput in that run. Latencies are eventmesh's, in milliseconds from each "
            "event's intended send time to its handler's finish.",
            "",
            markdown_table(list(results.values())),
            "",
            "## Targets (issue #5)",
            "",
            targets_table(results),
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per scenario")
    parser.add_argument("--output", type=Path, default=HERE / "results.md")
    parser.add_argument("--only", nargs="*", help="labels to run (default: all)")
    arguments = parser.parse_args()
    results: Results = {}
    with tempfile.TemporaryDirectory() as directory:
        for label, scenario in STANDARD:
            if arguments.only and label not in arguments.only:
                continue
            if label == "bus" and not bus_available():
                print(f"{label:<18} skipped: this eventmesh has no mesh.bus yet", flush=True)
                continue
            result = run(label, scenario, arguments.duration, Path(directory))
            results[label] = result
            print(
                f"{label:<18} {result['throughput']:>12,.0f} {result['unit']:<14} "
                f"ratio {result['ratio']:.3f}  p99 {result['latency_ms']['p99']:.3f} ms",
                flush=True,
            )
    text = document(results, arguments.duration)
    arguments.output.write_text(text)
    print(f"\nwrote {arguments.output}\n")
    print(text)


if __name__ == "__main__":
    main()
