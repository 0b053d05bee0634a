"""Run the standard set of ``eventmesh bench`` scenarios and write ``benchmarks/results.md``.

Each scenario runs in a process of its own (``python -m eventmesh.cli bench ... --json``),
eventmesh's side then its baseline, so every ratio comes from one process on one machine
state. The set runs ``--runs`` times (default 3), round by round, so a noisy minute touches
one run of each scenario rather than every run of one. The markdown has the command, the
machine, one row per scenario (the run with the median ratio), each ratio's
min / median / max, and the performance targets judged on the medians.

Run: ``uv run python benchmarks/run_all.py [--runs N] [--duration SECONDS] [--output FILE]``
(needs the bench extra: ``uv sync --extra bench``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eventmesh.bench.report import machine_line, markdown_table
from eventmesh.bench.scenarios import bus_available

HERE = Path(__file__).resolve().parent
SQLITE_URL = "sqlite:///{directory}/bench.db?synchronous=NORMAL"
"""The durable scenario's storage: a database in the run's temporary directory."""

STANDARD: list[tuple[str, list[str]]] = [
    ("invoke", ["--scenario", "invoke"]),
    ("invoke-event", ["--scenario", "invoke-event"]),
    ("queue", ["--scenario", "queue", "--batch-size", "10"]),
    ("queue-open", ["--scenario", "queue", "--batch-size", "10", "--rate", "10000"]),
    ("queue-sqlite", ["--scenario", "queue", "--batch-size", "10", "--storage", SQLITE_URL]),
    ("stream", ["--scenario", "stream", "--shards", "2"]),
    ("fanout", ["--scenario", "fanout", "--subscribers", "10"]),
    (
        "fanout-callables",
        ["--scenario", "fanout", "--subscribers", "10", "--subscriber", "callable"],
    ),
    ("bus", ["--scenario", "bus", "--rules", "10"]),
    ("bus-1000", ["--scenario", "bus", "--rules", "1000"]),
    ("schedule-jitter", ["--scenario", "schedule-jitter"]),
    ("cold-start", ["--scenario", "cold-start"]),
    ("http", ["--scenario", "http"]),
]

Result = dict[str, Any]


@dataclass
class Runs:
    """One scenario's results, one per run."""

    results: list[Result]

    def figures(self, figure: Callable[[Result], float]) -> list[float]:
        return sorted(figure(result) for result in self.results)

    def median(self, figure: Callable[[Result], float]) -> float:
        return statistics.median(figure(result) for result in self.results)

    def spread(self, figure: Callable[[Result], float], digits: int = 3) -> str:
        """``min / median / max`` of a figure over the runs."""
        values = self.figures(figure)
        low, middle, high = values[0], statistics.median(values), values[-1]
        return f"{low:.{digits}f} / {middle:.{digits}f} / {high:.{digits}f}"

    def median_run(self) -> Result:
        """The run whose ratio is the median (the lower middle one for an even count)."""
        ordered = sorted(self.results, key=_ratio_of)
        return ordered[(len(ordered) - 1) // 2]


Results = dict[str, Runs]
Check = Callable[[Results], tuple[str, bool] | None]


def _ratio_of(result: Result) -> float:
    return float(result["ratio"])


def _throughput_of(result: Result) -> float:
    return float(result["throughput"])


def run(label: str, arguments: list[str], duration: float, directory: Path) -> Result:
    output = directory / f"{label}.json"
    arguments = [argument.format(directory=directory) for argument in arguments]
    command = [
        sys.executable, "-m", "eventmesh.cli", "bench", *arguments,
        "--duration", str(duration), "--no-progress", "--json", str(output),
    ]  # fmt: skip
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    result: Result = json.loads(output.read_text())
    output.unlink()
    return result


def ratio_at_least(label: str, goal: float) -> Check:
    def check(results: Results) -> tuple[str, bool] | None:
        if label not in results:
            return None
        runs = results[label]
        return runs.spread(_ratio_of), runs.median(_ratio_of) >= goal

    return check


def invoke_unrecorded(goal: float) -> Check:
    """Warm invoke against a bare-await loop that records no latency (the recording, paid by
    both sides, flatters the recorded ratio)."""

    def figure(result: Result) -> float:
        return float(result["unrecorded"]["ratio"])

    def check(results: Results) -> tuple[str, bool] | None:
        runs = results.get("invoke")
        if runs is None:
            return None
        if any("unrecorded" not in result for result in runs.results):
            return "not measured by this eventmesh bench", False
        return runs.spread(figure, 4), runs.median(figure) >= goal

    return check


def open_queue(results: Results) -> tuple[str, bool] | None:
    """p99 within 1 ms of the same run's baseline p99, and a backlog that does not grow."""
    runs = results.get("queue-open")
    if runs is None:
        return None

    def excess(result: Result) -> float:
        return float(result["latency_ms"]["p99"] - result["baseline_latency_ms"]["p99"])

    kept_up = all(
        abs(result["backlog"]["trend_per_s"]) < 0.01 * result["parameters"]["rate"]
        for result in runs.results
    )
    return (
        f"p99 - baseline p99: {runs.spread(excess)} ms" + ("" if kept_up else "; backlog grew"),
        runs.median(excess) <= 1.0 and kept_up,
    )


def many_rules(results: Results) -> tuple[str, bool] | None:
    """The bus with 1,000 rules at half its own 10-rule throughput or better (medians)."""
    if "bus" not in results or "bus-1000" not in results:
        return None
    many = results["bus-1000"].median(_throughput_of)
    few = results["bus"].median(_throughput_of)
    share = many / few if few else 0.0
    return f"{many:,.0f} / {few:,.0f} events/s = {share:.2f}", share >= 0.5


def cold_start(results: Results) -> tuple[str, bool] | None:
    runs = results.get("cold-start")
    if runs is None:
        return None

    def overhead(result: Result) -> float:
        return float(result["cold_start"]["overhead_ms"])

    return f"{runs.spread(overhead, 4)} ms", runs.median(overhead) < 1.0


TARGETS: list[tuple[str, Check]] = [
    ("invoke: warm RequestResponse >= 0.15 of the bare await", ratio_at_least("invoke", 0.15)),
    ("invoke: >= 0.05 of a bare-await loop that records nothing", invoke_unrecorded(0.05)),
    ("invoke-event >= 0.30 of asyncio.Queue + workers", ratio_at_least("invoke-event", 0.30)),
    ("queue (batch 10) >= 0.40 of asyncio.Queue + workers", ratio_at_least("queue", 0.40)),
    ("queue open loop 10,000/s: p99 within 1 ms of the baseline's", open_queue),
    ("queue on SQLite (NORMAL) >= 0.5 of a raw sqlite3 loop", ratio_at_least("queue-sqlite", 0.5)),
    ("stream (2 shards) >= 0.30 of a per-shard queue loop", ratio_at_least("stream", 0.30)),
    ("fanout to 10 functions >= 0.30 of the baseline", ratio_at_least("fanout", 0.30)),
    ("bus (10 rules) >= 0.30 of a list of predicates", ratio_at_least("bus", 0.30)),
    ("bus (1,000 rules) >= 0.5 of its own 10-rule throughput", many_rules),
    ("cold start: overhead beyond the user's init < 1 ms", cold_start),
]


def targets_table(results: Results) -> str:
    lines = ["| target | measured (min / median / max) | met (median) |", "| --- | --- | --- |"]
    for label, check in TARGETS:
        outcome = check(results)
        if outcome is None:
            lines.append(f"| {label} | not run | - |")
        else:
            figure, met = outcome
            lines.append(f"| {label} | {figure} | {'yes' if met else 'no'} |")
    return "\n".join(lines)


def ratios_table(results: Results) -> str:
    lines = ["| row | ratio min / median / max |", "| --- | --- |"]
    lines += [f"| {label} | {runs.spread(_ratio_of)} |" for label, runs in results.items()]
    return "\n".join(lines)


def document(results: Results, duration: float, count: int) -> str:
    first = next(iter(results.values())).results[0]
    loop = first["parameters"]["loop"]
    return "\n".join(
        [
            "# eventmesh bench: the standard set",
            "",
            f"Made by `uv run python benchmarks/run_all.py --runs {count} --duration "
            f"{duration:g}` on {datetime.now(UTC):%Y-%m-%d}. Machine: "
            f"{machine_line(first['machine'])}; event loop: {loop}. Each row ran in its own "
            "process, eventmesh's side then its baseline on the same number of events; the "
            "ratio is eventmesh / baseline throughput in that run. The set ran "
            f"{count} times, round by round; each row below is the run with the median ratio. "
            "Latencies are eventmesh's, in milliseconds from each event's intended send time "
            "to its handler's finish.",
            "",
            markdown_table([runs.median_run() for runs in results.values()]),
            "",
            "## Ratios over the runs",
            "",
            ratios_table(results),
            "",
            "## Targets (judged on the medians)",
            "",
            targets_table(results),
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per scenario")
    parser.add_argument("--runs", type=int, default=3, help="times to run the set (default 3)")
    parser.add_argument("--output", type=Path, default=HERE / "results.md")
    parser.add_argument("--only", nargs="*", help="labels to run (default: all)")
    arguments = parser.parse_args()
    if arguments.runs < 1:
        parser.error("--runs must be at least 1")
    chosen = [
        (label, scenario)
        for label, scenario in STANDARD
        if not arguments.only or label in arguments.only
    ]
    if not bus_available():
        print("bus scenarios skipped: this eventmesh has no mesh.bus yet", flush=True)
        chosen = [(label, scenario) for label, scenario in chosen if not label.startswith("bus")]
    if importlib.util.find_spec("uvicorn") is None:
        print("http scenario skipped: it needs the http extra (uv sync --extra http)", flush=True)
        chosen = [(label, scenario) for label, scenario in chosen if label != "http"]
    results: Results = {}
    with tempfile.TemporaryDirectory() as directory:
        for round_number in range(1, arguments.runs + 1):
            for label, scenario in chosen:
                result = run(label, scenario, arguments.duration, Path(directory))
                results.setdefault(label, Runs([])).results.append(result)
                print(
                    f"run {round_number}  {label:<18} {result['throughput']:>12,.0f} "
                    f"{result['unit']:<14} ratio {result['ratio']:.3f}  "
                    f"p99 {result['latency_ms']['p99']:.3f} ms",
                    flush=True,
                )
    text = document(results, arguments.duration, arguments.runs)
    arguments.output.write_text(text)
    print(f"\nwrote {arguments.output}\n")
    print(text)


if __name__ == "__main__":
    main()
