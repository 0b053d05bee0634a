"""The ``bench`` command's arguments: declared on an argparse parser, checked into BenchOptions.

This module imports nothing beyond the standard library, so the command line can describe
``bench`` even when the benchmark's own dependencies are missing.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "SCENARIO_NAMES",
    "BenchOptions",
    "OptionsError",
    "ISOLATIONS",
    "Work",
    "add_arguments",
    "from_namespace",
    "parse_work",
]

SCENARIO_NAMES = (
    "invoke",
    "invoke-event",
    "queue",
    "stream",
    "fanout",
    "bus",
    "schedule-jitter",
    "cold-start",
    "cpu-scaling",
    "http",
)
ISOLATIONS = ("in_process", "process")
DEFAULT_DURATION = 3.0
DEFAULT_WARMUP = 0.5

WorkKind = Literal["noop", "sleep", "cpu"]


class OptionsError(ValueError):
    """An argument that cannot be used; the message says why (shown without a traceback)."""


@dataclass(frozen=True)
class Work:
    """What a benchmark handler does before it records: nothing, await a sleep, or spin."""

    kind: WorkKind = "noop"
    seconds: float = 0.0

    def __str__(self) -> str:
        if self.kind == "noop":
            return "noop"
        if self.kind == "sleep":
            return f"sleep:{self.seconds * 1e3:g}"
        return f"cpu:{self.seconds * 1e6:g}"


def parse_work(spec: str) -> Work:
    """``noop``, ``sleep:MS`` (milliseconds awaited) or ``cpu:US`` (microseconds of spinning)."""
    kind, _, amount = spec.partition(":")
    if kind == "noop" and not amount:
        return Work()
    if kind in ("sleep", "cpu") and amount:
        try:
            value = float(amount)
        except ValueError:
            value = -1.0
        if value >= 0 and math.isfinite(value):
            scale = 1e-3 if kind == "sleep" else 1e-6
            return Work(kind, value * scale)  # type: ignore[arg-type]
    raise OptionsError(f"--handler must be noop, sleep:MS or cpu:US, got {spec!r}")


@dataclass(frozen=True)
class BenchOptions:
    """Everything a run needs, validated. ``None`` means "the scenario's default"."""

    scenario: str = "invoke"
    app: str | None = None
    target: str | None = None
    payload: Path | None = None
    duration: float | None = None
    events: int | None = None
    backlog: int | None = None
    rate: float | None = None
    concurrency: int | None = None
    payload_size: int = 0
    handler: Work | None = None
    storage: str = "memory"
    loop: str = "asyncio"
    warmup: float = DEFAULT_WARMUP
    batch_size: int | None = None
    shards: int = 1
    parallelization: int = 1
    subscribers: int = 10
    subscriber: str = "function"
    rules: int = 10
    isolation: str | None = None
    """``--isolation``: where the function's handler runs (None: the scenario's default)."""
    json: Path | None = None
    plot: Path | None = None
    progress: bool = True

    @property
    def open_loop(self) -> bool:
        return self.rate is not None

    @property
    def storages(self) -> list[str]:
        """``--storage`` as a list: several, comma-separated, are compared in one table."""
        return [part.strip() for part in self.storage.split(",")]

    def planned_duration(self) -> float | None:
        """Seconds to run for, when the run is bounded by time rather than by a count."""
        if self.events is not None or self.backlog is not None:
            return None
        return DEFAULT_DURATION if self.duration is None else self.duration

    def planned_events(self) -> int | None:
        """Events to send, when known up front: ``--backlog``, ``--events``, or rate x
        duration."""
        if self.backlog is not None:
            return self.backlog
        if self.events is not None:
            return self.events
        if self.rate is not None:
            duration = self.planned_duration() or DEFAULT_DURATION
            return max(1, round(self.rate * duration))
        return None

    def parameters(self) -> dict[str, Any]:
        """The options as JSON values (paths and the handler as strings)."""
        values = asdict(self)
        values["handler"] = None if self.handler is None else str(self.handler)
        for key in ("payload", "json", "plot"):
            values[key] = None if values[key] is None else str(values[key])
        values["mode"] = (
            "open" if self.open_loop else "backlog" if self.backlog is not None else "closed"
        )
        del values["progress"]
        return values

    def replace(self, **changes: Any) -> BenchOptions:
        values = {name: getattr(self, name) for name in self.__dataclass_fields__}
        values.update(changes)
        return BenchOptions(**values)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``bench``'s arguments on ``parser`` (the ``eventmesh bench`` subparser)."""
    parser.add_argument(
        "app",
        nargs="?",
        metavar="APP:MESH",
        help="benchmark a function of your own mesh (MODULE:ATTRIBUTE) instead of a scenario",
    )
    parser.add_argument(
        "--scenario",
        choices=SCENARIO_NAMES,
        help="what to measure (default: invoke); each runs its baseline in the same process",
    )
    parser.add_argument("--target", help="with APP:MESH: the function to invoke (name[:qualifier])")
    parser.add_argument("--payload", type=Path, help="with APP:MESH: a JSON file, the event")
    amount = parser.add_mutually_exclusive_group()
    amount.add_argument(
        "--duration", type=float, help=f"seconds to run each side (default {DEFAULT_DURATION:g})"
    )
    amount.add_argument("--events", type=int, help="events to send instead of a duration")
    amount.add_argument(
        "--backlog",
        type=int,
        help="pre-fill N events while the consumers wait, then measure how fast they drain "
        "them (queue, stream)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        help="open loop: events per second on a fixed schedule (default: closed loop, as fast "
        "as it goes)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        help="closed loop: events in flight at most (callers for invoke; default per scenario)",
    )
    parser.add_argument(
        "--payload-size", type=int, default=0, help="bytes of padding in each event (default 0)"
    )
    parser.add_argument(
        "--handler",
        help="what the handler does: noop, sleep:MS or cpu:US (default noop; for "
        "schedule-jitter, the load's work, default cpu:200)",
    )
    parser.add_argument(
        "--storage",
        default="memory",
        help="the mesh's storage (default memory); several, comma-separated, are compared in "
        "one table and one plot; with redis://... the baseline is a raw redis-py loop on the "
        "same server",
    )
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument(
        "--warmup",
        type=float,
        default=DEFAULT_WARMUP,
        help=f"seconds of unmeasured warm-up per side (default {DEFAULT_WARMUP:g})",
    )
    parser.add_argument("--batch-size", type=int, help="queue and stream mappings' batch size")
    parser.add_argument("--shards", type=int, default=1, help="stream: shards (default 1)")
    parser.add_argument(
        "--parallelization", type=int, default=1, help="stream: batches in flight per shard"
    )
    parser.add_argument(
        "--subscribers", type=int, default=10, help="fanout: subscribers (default 10)"
    )
    parser.add_argument(
        "--subscriber",
        choices=("function", "callable"),
        default="function",
        help="fanout: subscribe functions (Event invocations) or async callables",
    )
    parser.add_argument("--rules", type=int, default=10, help="bus: rules, one matching")
    parser.add_argument(
        "--isolation",
        choices=ISOLATIONS,
        help="where the handler runs: in the mesh's process (the default) or in process "
        "execution environments speaking Lambda's Runtime API (invoke, cold-start, "
        "cpu-scaling), measured against the in-process path in the same run",
    )
    parser.add_argument("--json", type=Path, help="write the result as JSON to this file")
    parser.add_argument("--plot", type=Path, help="write a plot (.svg, or .png with matplotlib)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _positive(name: str, value: float | None, *, zero: bool = False) -> None:
    if value is None:
        return
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        raise OptionsError(f"{name} must be a {'non-negative' if zero else 'positive'} number")


def from_namespace(arguments: argparse.Namespace) -> BenchOptions:
    """Check the parsed arguments and turn them into BenchOptions (OptionsError if invalid)."""
    if arguments.app is not None and arguments.scenario is not None:
        raise OptionsError("give either --scenario NAME or APP:MESH, not both")
    if arguments.app is not None:
        if ":" not in arguments.app:
            raise OptionsError(f"expected APP:MESH (e.g. app:mesh), got {arguments.app!r}")
        if not arguments.target:
            raise OptionsError("APP:MESH needs --target NAME, the function to invoke")
    elif arguments.target is not None or arguments.payload is not None:
        raise OptionsError("--target and --payload go with APP:MESH")
    if arguments.app is not None and arguments.isolation is not None:
        raise OptionsError(
            "APP:MESH runs your function as it is declared (its own isolation): drop --isolation"
        )
    for name in ("duration", "rate"):
        _positive(f"--{name}", getattr(arguments, name))
    _positive("--warmup", arguments.warmup, zero=True)
    for name in (
        "events",
        "backlog",
        "concurrency",
        "batch_size",
        "shards",
        "parallelization",
        "subscribers",
        "rules",
    ):
        value = getattr(arguments, name)
        if value is not None and value < 1:
            raise OptionsError(f"--{name.replace('_', '-')} must be at least 1")
    if arguments.backlog is not None and arguments.rate is not None:
        raise OptionsError("--backlog measures draining a backlog: drop --rate")
    storages = [part.strip() for part in arguments.storage.split(",")]
    if not all(storages):
        raise OptionsError(f"--storage has an empty entry: {arguments.storage!r}")
    if len(storages) > 1 and arguments.app is not None:
        raise OptionsError("compare storages with --scenario, not APP:MESH")
    if arguments.payload_size < 0:
        raise OptionsError("--payload-size must be at least 0")
    if arguments.parallelization > 10:
        raise OptionsError("--parallelization is at most 10 (as Kinesis's)")
    if arguments.payload is not None and not arguments.payload.is_file():
        raise OptionsError(f"--payload {arguments.payload}: no such file")
    if arguments.plot is not None and arguments.plot.suffix.lower() not in (".svg", ".png"):
        raise OptionsError("--plot must name a .svg or a .png file")
    return BenchOptions(
        scenario="app" if arguments.app is not None else (arguments.scenario or "invoke"),
        app=arguments.app,
        target=arguments.target,
        payload=arguments.payload,
        duration=arguments.duration,
        events=arguments.events,
        backlog=arguments.backlog,
        rate=arguments.rate,
        concurrency=arguments.concurrency,
        payload_size=arguments.payload_size,
        handler=None if arguments.handler is None else parse_work(arguments.handler),
        storage=arguments.storage,
        loop=arguments.loop,
        warmup=arguments.warmup,
        batch_size=arguments.batch_size,
        shards=arguments.shards,
        parallelization=arguments.parallelization,
        subscribers=arguments.subscribers,
        subscriber=arguments.subscriber,
        rules=arguments.rules,
        isolation=arguments.isolation,
        json=arguments.json,
        plot=arguments.plot,
        progress=not arguments.no_progress,
    )
