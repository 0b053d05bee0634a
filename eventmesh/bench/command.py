"""``eventmesh bench``: check the dependencies and options, run both sides, report.

Exit status: 0 done; 1 when every call of a side failed (the errors are printed, not a
throughput); 2 for what the user must change first (a missing dependency, an invalid
option, a scenario this version cannot run, a PNG plot without matplotlib, checked before the
run). Errors
from eventmesh itself (say an unknown ``--storage``) reach the ``eventmesh`` command, which
prints them and exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from eventmesh.bench.options import BenchOptions, OptionsError, from_namespace

if TYPE_CHECKING:
    from eventmesh.bench.progress import ProgressHook
    from eventmesh.bench.scenarios import Scenario

__all__ = ["INSTALL_HINT", "benchmark", "missing_dependencies", "run_command"]

REQUIRED = (("hdrh.histogram", "hdrhistogram"), ("rich", "rich"))
"""(module to import, package that provides it): the ``bench`` extra."""

INSTALL_HINT = (
    "eventmesh bench needs {missing}, in the 'bench' extra: pip install 'eventmesh[bench]' "
    "(in a checkout of eventmesh: uv sync --extra bench)"
)


def missing_dependencies() -> list[str]:
    """The packages of the ``bench`` extra that cannot be imported."""
    missing = []
    for module, package in REQUIRED:
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(package)
    return missing


def _all_failed(result: dict[str, Any]) -> list[str]:
    """What to say about each side of ``result`` whose every call failed (no throughput to
    report then): how many errors, and the first ones. Every call failed when none was
    handled, or when each one handled was an error the side itself counted (a function error
    of an invocation, which returns rather than raises)."""
    lines: list[str] = []
    sides = (
        ("", result["name"], result["events"], result["errors"]),
        (
            "baseline_",
            result["baseline"]["name"],
            result["baseline_events"],
            result["baseline_errors"],
        ),
    )
    storage = result["parameters"].get("storage", "memory")
    for prefix, name, events, errors in sides:
        failures: list[str] = result.get(f"{prefix}failures", [])
        reported = errors - result.get(f"{prefix}raised", 0)
        if errors and (not events["handled"] or reported >= events["handled"]):
            lines.append(
                f"eventmesh bench: every call of {name} ({result['scenario']} on {storage}) "
                f"failed: {errors} errors, {events['handled']} handled"
            )
            lines += [f"  {failure}" for failure in failures] or [
                "  (the errors were counted by the mesh: function errors or lost events)"
            ]
    return lines


def _fail(message: str) -> int:
    print(f"eventmesh bench: {message}", file=sys.stderr)
    return 2


def _loop_factory(loop: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if loop == "asyncio":
        return None
    try:
        uvloop: Any = importlib.import_module("uvloop")
    except ImportError:
        raise OptionsError("--loop uvloop needs uvloop: pip install uvloop") from None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


async def benchmark(
    scenario: Scenario, options: BenchOptions, progress: ProgressHook
) -> dict[str, Any]:
    """Run eventmesh's side, then the baseline on the same number of events; the result.

    The baseline is sent as many events as eventmesh's side was (a closed loop by duration
    would otherwise make the much faster baseline record millions of samples for nothing).
    On Redis both sides run under a key prefix of this run's own, deleted afterwards; on
    SQLite on databases of the run's own, deleted afterwards (a named path must not exist).
    """
    from eventmesh.backends.urls import shown_url
    from eventmesh.bench.scenarios.storage import is_redis, is_sqlite

    given = options.storage
    if is_redis(given):
        from eventmesh.bench.redis_raw import delete_prefix, run_prefix

        url, prefix = run_prefix(given)
        try:
            result = await _both_sides(scenario, options.replace(storage=url), progress)
        finally:
            await delete_prefix(url, prefix)
    elif is_sqlite(given):
        from eventmesh.bench.sqlite_raw import bench_database

        with bench_database(given) as url:
            result = await _both_sides(scenario, options.replace(storage=url), progress)
        baseline = result["baseline"]
        if not baseline["name"].startswith("raw "):
            # No raw sqlite3 loop for this scenario: say the ratio includes SQLite's cost.
            baseline["name"] += " (in memory, no SQLite)"
    else:
        result = await _both_sides(scenario, options, progress)
    # An SQLite URL carries a path and settings, no secret: shown whole, so that runs at
    # two synchronous levels stay apart in a comparison table.
    result["parameters"]["storage"] = given if is_sqlite(given) else shown_url(given)
    return result


async def _both_sides(
    scenario: Scenario, options: BenchOptions, progress: ProgressHook
) -> dict[str, Any]:
    from eventmesh.bench.recorder import Recorder
    from eventmesh.bench.report import build_result, peak_rss_mb

    ours = await scenario.run(options, "ours", Recorder(), progress)
    rss = peak_rss_mb()
    same_amount = options
    if options.backlog is None:
        same_amount = options.replace(events=max(ours.sent, 1), duration=None)
    baseline = await scenario.run(same_amount, "baseline", Recorder(), progress)
    references = await scenario.references(same_amount, max(ours.sent, 1))
    settings = scenario.describe(options)
    parameters = {**options.parameters(), **settings}
    result = build_result(
        scenario.name, parameters, settings, scenario.unit, ours, baseline, rss, references
    )
    scenario.conclude(result, ours, baseline)
    return result


def run_command(arguments: argparse.Namespace) -> int:
    """The ``bench`` subcommand; returns the exit status."""
    missing = missing_dependencies()
    if missing:
        return _fail(INSTALL_HINT.format(missing=" and ".join(missing)))
    from eventmesh.bench.plot import (
        PlotError,
        check_plot_path,
        write_comparison_plot,
        write_plot,
    )
    from eventmesh.bench.progress import NullProgress, RichProgress
    from eventmesh.bench.report import comparison_result, print_comparison, print_summary
    from eventmesh.bench.scenarios import ScenarioUnavailable, get_scenario

    progress: ProgressHook = NullProgress()
    results: list[dict[str, Any]] = []
    try:
        options = from_namespace(arguments)
        scenario = get_scenario(options.scenario, options.isolation)
        scenario.check(options)
        if options.rate is not None and not scenario.supports_open_loop:
            raise OptionsError(f"{scenario.name} has no open-loop mode: drop --rate")
        if options.backlog is not None and not scenario.supports_backlog:
            raise OptionsError(f"{scenario.name} cannot pre-fill a backlog: drop --backlog")
        if options.plot is not None:
            check_plot_path(options.plot)
        factory = _loop_factory(options.loop)
        if options.progress:
            progress = RichProgress()
        try:
            with asyncio.Runner(loop_factory=factory) as runner:
                for storage in options.storages:
                    each = options.replace(storage=storage)
                    results.append(runner.run(benchmark(scenario, each, progress)))
        finally:
            progress.end()
    except (OptionsError, ScenarioUnavailable, PlotError) as exc:
        return _fail(str(exc))
    failed = [message for result in results for message in _all_failed(result)]
    if failed:
        print("\n".join(failed), file=sys.stderr)
        return 1
    for result in results:
        result["parameters"]["loop"] = options.loop
        print_summary(result)
    document = results[0] if len(results) == 1 else comparison_result(results)
    if len(results) > 1:
        print_comparison(document)
    if options.json is not None:
        options.json.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    if options.plot is not None:
        try:
            if len(results) == 1:
                write_plot(document, options.plot)
            else:
                write_comparison_plot(document, options.plot)
        except PlotError as exc:
            return _fail(str(exc))
    return 0
