"""The result as JSON (a stable schema), as a rich table, and as a markdown table.

Schema (``schema: 1``), stable; anything else is extra and lives under other keys::

    scenario        str
    parameters      {option: value}, defaults resolved
    throughput      float, eventmesh's events (or deliveries) per second
    latency_ms      {p50, p90, p99, p999, max}, eventmesh's, from the intended send time
    baseline        {name, throughput}
    ratio           throughput / baseline.throughput
    peak_rss_mb     float, the process's peak resident set when eventmesh's side ended
    machine         {cpu_count, python, platform}

A scenario may measure further baselines in the same run (``invoke``: ``unrecorded``, a
bare-await loop that records nothing); each is an extra key ``{name, throughput, ratio}``.
"""

from __future__ import annotations

import os
import platform
import resource
import sys
from collections.abc import Sequence
from typing import Any

from eventmesh.bench.recorder import SideResult

MEMORY_KEY = "redis_memory_per_pending_bytes"
"""A side's extra figure: Redis ``used_memory`` grown per pending event while filling."""

__all__ = [
    "SCHEMA_VERSION",
    "build_result",
    "comparison_markdown",
    "comparison_result",
    "machine",
    "machine_line",
    "markdown_table",
    "peak_rss_mb",
    "print_comparison",
    "print_summary",
]

SCHEMA_VERSION = 1


def peak_rss_mb() -> float:
    """The process's peak resident set size so far, in MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    return round(peak / scale, 1)


def machine() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
    }


def machine_line(info: dict[str, Any]) -> str:
    return (
        f"{info['cpu_count']} CPUs, {info['implementation']} {info['python']}, {info['platform']}"
    )


def _events(side: SideResult) -> dict[str, int]:
    return {"sent": side.sent, "handled": side.handled, "expected": side.expected}


def build_result(
    scenario: str,
    parameters: dict[str, Any],
    settings: dict[str, Any],
    unit: str,
    ours: SideResult,
    baseline: SideResult,
    rss_mb: float,
    references: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The JSON document of one run; ``references``: the scenario's further baselines."""
    throughput = round(ours.throughput, 1)
    base = round(baseline.throughput, 1)
    result: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "scenario": scenario,
        "parameters": parameters,
        "throughput": throughput,
        "latency_ms": ours.latency.as_dict(),
        "baseline": {"name": baseline.name, "throughput": base},
        "ratio": round(throughput / base, 6) if base else 0.0,
        "peak_rss_mb": rss_mb,
        "machine": machine(),
        # Extra keys:
        "settings": settings,
        "name": ours.name,
        "unit": unit,
        "events": _events(ours),
        "errors": ours.errors,
        "failures": ours.failures,
        "raised": ours.raised,
        "cold_starts": ours.cold_starts,
        "duration_s": round(ours.elapsed, 4),
        "backlog": {"max": ours.backlog_max, "trend_per_s": round(ours.backlog_trend, 1)},
        "baseline_latency_ms": baseline.latency.as_dict(),
        "baseline_events": _events(baseline),
        "baseline_errors": baseline.errors,
        "baseline_failures": baseline.failures,
        "baseline_raised": baseline.raised,
        "baseline_backlog": {
            "max": baseline.backlog_max,
            "trend_per_s": round(baseline.backlog_trend, 1),
        },
        "percentiles": {
            "ours": [[p, round(ms, 4)] for p, ms in ours.percentiles],
            "baseline": [[p, round(ms, 4)] for p, ms in baseline.percentiles],
        },
        "timeline": {
            "ours": [[round(t, 4), round(rate, 1)] for t, rate in ours.timeline],
            "baseline": [[round(t, 4), round(rate, 1)] for t, rate in baseline.timeline],
        },
    }
    for key, reference in (references or {}).items():
        other = round(float(reference["throughput"]), 1)
        result[key] = {
            "name": reference["name"],
            "throughput": other,
            "ratio": round(throughput / other, 6) if other else 0.0,
        }
    if references:
        result["references"] = sorted(references)
    memory = {
        key: side.extra[MEMORY_KEY]
        for key, side in (("ours", ours), ("baseline", baseline))
        if MEMORY_KEY in side.extra
    }
    if memory:
        result["redis_memory_per_pending_bytes"] = memory
    if scenario == "cold-start" and "cold_p50_ms" in ours.extra:
        cold = float(ours.extra.get("cold_p50_ms", 0.0))  # type: ignore[arg-type]
        warm = float(ours.extra.get("warm_p50_ms", 0.0))  # type: ignore[arg-type]
        init = float(baseline.extra.get("init_p50_ms", 0.0))  # type: ignore[arg-type]
        result["cold_start"] = {
            "cold_p50_ms": cold,
            "warm_p50_ms": warm,
            "user_init_p50_ms": init,
            "overhead_ms": round(cold - warm - init, 4),
        }
    return result


def _ms(value: float) -> str:
    """Milliseconds to four significant digits: 0.0031 and 12.35 alike."""
    return f"{value:.4g}"


def _rate(value: float) -> str:
    return f"{value:,.0f}"


def print_summary(result: dict[str, Any], *, file: Any = None) -> None:
    """The summary table, on stdout unless ``file`` is given."""
    from rich.console import Console
    from rich.table import Table

    console = Console(file=file or sys.stdout)
    unit = result["unit"]
    table = Table(title=f"eventmesh bench: {result['scenario']}", title_justify="left")
    table.add_column("")
    table.add_column(f"eventmesh\n{result['name']}", justify="right")
    table.add_column(f"baseline\n{result['baseline']['name']}", justify="right")
    table.add_row(
        f"throughput ({unit})",
        _rate(result["throughput"]),
        _rate(result["baseline"]["throughput"]),
    )
    ours, base = result["latency_ms"], result["baseline_latency_ms"]
    for key, label in (("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p999", "p99.9")):
        table.add_row(f"latency {label} (ms)", _ms(ours[key]), _ms(base[key]))
    table.add_row("latency max (ms)", _ms(ours["max"]), _ms(base["max"]))
    events, base_events = result["events"], result["baseline_events"]
    table.add_row(
        "handled / expected",
        f"{events['handled']:,} / {events['expected']:,}",
        f"{base_events['handled']:,} / {base_events['expected']:,}",
    )
    table.add_row("errors", str(result["errors"]), str(result["baseline_errors"]))
    table.add_row("cold starts", str(result["cold_starts"]), "-")
    table.add_row(
        "backlog max (trend/s)",
        f"{result['backlog']['max']:,} ({result['backlog']['trend_per_s']:+,.0f})",
        f"{result['baseline_backlog']['max']:,} "
        f"({result['baseline_backlog']['trend_per_s']:+,.0f})",
    )
    console.print(table)
    console.print(f"[bold]ratio eventmesh / baseline: {result['ratio']:.3f}[/bold]")
    for key in result.get("references", []):
        reference = result[key]
        console.print(
            f"[bold]ratio eventmesh / {reference['name']} "
            f"({_rate(reference['throughput'])} {unit}): {reference['ratio']:.3f}[/bold]"
        )
    if "cold_start" in result:
        cold = result["cold_start"]
        console.print(
            f"cold start overhead (cold - warm - user init, medians): {cold['overhead_ms']:.3f} ms"
        )
    for line in result.get("summary_lines", []):
        console.print(line)
    memory = result.get("redis_memory_per_pending_bytes")
    if memory:
        console.print(
            "Redis memory per pending event (INFO used_memory, before and after the fill): "
            + ", ".join(f"{side} {value:,.0f} B" for side, value in memory.items())
        )
    console.print(
        f"peak RSS {result['peak_rss_mb']:.1f} MiB; {machine_line(result['machine'])}; "
        f"loop {result['parameters']['loop']}"
    )


def _describe(result: dict[str, Any]) -> str:
    """What tells runs of one scenario apart: the loop, the rate, the scenario's settings."""
    parameters = result["parameters"]
    settings = result.get("settings", {})
    mode = settings.get("mode", parameters["mode"])
    parts = [f"{mode} loop" if mode in ("open", "closed") else mode]
    if parameters.get("rate") is not None and mode == "open":
        parts.append(f"{parameters['rate']:g}/s")
    for key, value in settings.items():
        if (key == "handler" and value == "noop") or key == "mode":
            continue
        if key == "concurrency" and mode == "open":
            continue
        parts.append(f"{key.replace('_', ' ')} {value}")
    if parameters.get("payload_size"):
        parts.append(f"payload {parameters['payload_size']} B")
    return ", ".join(parts)


def markdown_table(results: Sequence[dict[str, Any]]) -> str:
    """One row per result: rates, the ratio, eventmesh's latency percentiles and the
    baseline's p99."""
    lines = [
        "| scenario | parameters | eventmesh | baseline | ratio | p50 ms | p99 ms | p99.9 ms "
        "| max ms | baseline p99 ms |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for result in results:
        latency = result["latency_ms"]
        baseline = result["baseline"]
        lines.append(
            f"| {result['scenario']} | {_describe(result)} "
            f"| {_rate(result['throughput'])} {result['unit']} "
            f"| {baseline['name']}: {_rate(baseline['throughput'])} "
            f"| {result['ratio']:.3f} | {latency['p50']:.3f} | {latency['p99']:.3f} "
            f"| {latency['p999']:.3f} | {latency['max']:.3f} "
            f"| {result['baseline_latency_ms']['p99']:.3f} |"
        )
    return "\n".join(lines)


def comparison_result(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One document for one scenario run on several storages: a row per storage (its
    throughput, latency, baseline and ratio) and each storage's whole result."""
    rows = []
    for result in results:
        memory = result.get("redis_memory_per_pending_bytes", {})
        rows.append(
            {
                "storage": result["parameters"]["storage"],
                "throughput": result["throughput"],
                "latency_ms": result["latency_ms"],
                "baseline": result["baseline"],
                "ratio": result["ratio"],
                "errors": result["errors"],
                "memory_per_pending_bytes": memory.get("ours"),
            }
        )
    first = results[0]
    return {
        "schema": SCHEMA_VERSION,
        "scenario": first["scenario"],
        "unit": first["unit"],
        "machine": first["machine"],
        "comparison": rows,
        "results": list(results),
    }


def print_comparison(document: dict[str, Any], *, file: Any = None) -> None:
    """The storages side by side, on stdout unless ``file`` is given."""
    from rich.console import Console
    from rich.table import Table

    console = Console(file=file or sys.stdout)
    table = Table(title=f"eventmesh bench: {document['scenario']} by storage", title_justify="left")
    table.add_column("storage", overflow="fold")  # whole: sqlite://...?synchronous=... differ
    for header in (f"throughput ({document['unit']})", "p50 ms", "p99 ms"):
        table.add_column(header, justify="right")
    table.add_column("baseline")
    table.add_column("ratio", justify="right")
    for row in document["comparison"]:
        table.add_row(
            row["storage"],
            _rate(row["throughput"]),
            _ms(row["latency_ms"]["p50"]),
            _ms(row["latency_ms"]["p99"]),
            f"{row['baseline']['name']}: {_rate(row['baseline']['throughput'])}",
            f"{row['ratio']:.3f}",
        )
    console.print(table)


def comparison_markdown(document: dict[str, Any]) -> str:
    """The storages side by side as a markdown table."""
    lines = [
        f"| storage | {document['unit']} | p50 ms | p99 ms | baseline | ratio |",
        "| --- | ---: | ---: | ---: | --- | ---: |",
    ]
    for row in document["comparison"]:
        baseline = row["baseline"]
        lines.append(
            f"| {row['storage']} | {_rate(row['throughput'])} | {row['latency_ms']['p50']:.3f} "
            f"| {row['latency_ms']['p99']:.3f} | {baseline['name']}: "
            f"{_rate(baseline['throughput'])} | {row['ratio']:.3f} |"
        )
    return "\n".join(lines)
