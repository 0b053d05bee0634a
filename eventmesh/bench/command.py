"""``eventmesh bench``: check the dependencies and options, run both sides, report.

Exit status: 0 done; 2 for what the user must change first (a missing dependency, an
invalid option, a scenario this version cannot run, a PNG plot without matplotlib). Errors
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
    """
    from eventmesh.bench.recorder import Recorder
    from eventmesh.bench.report import build_result, peak_rss_mb

    ours = await scenario.run(options, "ours", Recorder(), progress)
    rss = peak_rss_mb()
    same_amount = options.replace(events=max(ours.sent, 1), duration=None)
    baseline = await scenario.run(same_amount, "baseline", Recorder(), progress)
    settings = scenario.describe(options)
    parameters = {**options.parameters(), **settings}
    return build_result(scenario.name, parameters, settings, scenario.unit, ours, baseline, rss)


def run_command(arguments: argparse.Namespace) -> int:
    """The ``bench`` subcommand; returns the exit status."""
    missing = missing_dependencies()
    if missing:
        return _fail(INSTALL_HINT.format(missing=" and ".join(missing)))
    from eventmesh.bench.plot import PlotError, write_plot
    from eventmesh.bench.progress import NullProgress, RichProgress
    from eventmesh.bench.report import print_summary
    from eventmesh.bench.scenarios import ScenarioUnavailable, get_scenario

    progress: ProgressHook = NullProgress()
    try:
        options = from_namespace(arguments)
        scenario = get_scenario(options.scenario)
        scenario.check(options)
        if options.rate is not None and not scenario.supports_open_loop:
            raise OptionsError(f"{scenario.name} has no open-loop mode: drop --rate")
        factory = _loop_factory(options.loop)
        if options.progress:
            progress = RichProgress()
        try:
            with asyncio.Runner(loop_factory=factory) as runner:
                result = runner.run(benchmark(scenario, options, progress))
        finally:
            progress.end()
    except (OptionsError, ScenarioUnavailable) as exc:
        return _fail(str(exc))
    result["parameters"]["loop"] = options.loop
    print_summary(result)
    if options.json is not None:
        options.json.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    if options.plot is not None:
        try:
            write_plot(result, options.plot)
        except PlotError as exc:
            return _fail(str(exc))
    return 0
