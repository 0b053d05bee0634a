"""Samples taken while a side runs, and what they add up to once it has stopped.

While the benchmark runs, a handler only appends two floats per event: its latency (finish
minus the event's *intended* send time) and its finish time, both on ``time.perf_counter``.
That is about 0.1 µs, paid alike by eventmesh and by the baseline, and it keeps the 1 µs
an HDR histogram's ``record_value`` costs out of the measured loop. :func:`summarise` then
builds the histogram, the throughput, the rate over time and the backlog from the samples.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from dataclasses import dataclass, field
from itertools import accumulate

from eventmesh.bench.histogram import LatencyHistogram

__all__ = [
    "PLOT_PERCENTILES",
    "Latency",
    "Recorder",
    "SideResult",
    "summarise",
]

PLOT_PERCENTILES = (
    0.0,
    25.0,
    50.0,
    75.0,
    90.0,
    95.0,
    99.0,
    99.5,
    99.9,
    99.95,
    99.99,
    99.999,
    100.0,
)
"""Where the percentile distribution is sampled for the plot (dense towards the tail)."""

TIMELINE_BINS = 40


MAX_FAILURES_KEPT = 5
"""Distinct error messages a side keeps for the report."""


class Recorder:
    """Raw samples of one side: latencies and finish times (seconds, perf_counter)."""

    __slots__ = ("cold_starts", "errors", "failures", "finishes", "latencies", "raised", "sent")

    def __init__(self) -> None:
        self.latencies: array[float] = array("d")
        self.finishes: array[float] = array("d")
        self.sent = 0
        self.errors = 0
        self.cold_starts = 0
        self.raised = 0
        """Calls that raised (part of ``errors``, which also counts failures a side reports
        through its stats, and samples that never came)."""
        self.failures: list[str] = []
        """The first few distinct errors a call raised, for the report."""

    def failed(self, error: BaseException) -> None:
        """A call raised: count it, and keep its message if it is one of the first few."""
        self.errors += 1
        self.raised += 1
        if len(self.failures) < MAX_FAILURES_KEPT:
            text = f"{type(error).__name__}: {error}"
            if text not in self.failures:
                self.failures.append(text)

    @property
    def count(self) -> int:
        return len(self.latencies)

    def record(self, latency: float, finished: float) -> None:
        """One event handled (handlers inline the two appends; this is for the rest)."""
        self.latencies.append(latency)
        self.finishes.append(finished)

    def reset(self) -> None:
        """Forget everything (after the warm-up), keeping the arrays the handlers append to."""
        del self.latencies[:]
        del self.finishes[:]
        self.sent = 0
        self.errors = 0
        self.cold_starts = 0
        self.raised = 0
        self.failures.clear()


@dataclass(frozen=True)
class Latency:
    """Percentiles in milliseconds."""

    p50: float
    p90: float
    p99: float
    p999: float
    max: float

    def as_dict(self) -> dict[str, float]:
        return {
            "p50": round(self.p50, 4),
            "p90": round(self.p90, 4),
            "p99": round(self.p99, 4),
            "p999": round(self.p999, 4),
            "max": round(self.max, 4),
        }


@dataclass
class SideResult:
    """What one side (eventmesh or the baseline) did in the measured window."""

    name: str
    throughput: float
    latency: Latency
    sent: int
    handled: int
    expected: int
    errors: int
    cold_starts: int
    elapsed: float
    percentiles: list[tuple[float, float]] = field(default_factory=list)
    timeline: list[tuple[float, float]] = field(default_factory=list)
    backlog_max: int = 0
    backlog_trend: float = 0.0
    extra: dict[str, object] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    raised: int = 0


def _histogram(latencies: array[float]) -> LatencyHistogram:
    """Whole microseconds counted first (C-speed maps), then one record per distinct value."""
    histogram = LatencyHistogram()
    counts = Counter(map(round, map((1e6).__mul__, latencies)))
    for microseconds, count in counts.items():
        histogram.record(microseconds, count)
    return histogram


def _binned(times: array[float] | list[float], start: float, width: float, bins: int) -> list[int]:
    """How many of ``times`` fall in each of ``bins`` bins of ``width`` seconds from
    ``start``; the last bin also takes what falls at or after its end."""
    counts = Counter(map(math.floor, map((1.0 / width).__mul__, map(start.__rsub__, times))))
    binned = [counts.get(index, 0) for index in range(bins)]
    binned[-1] += sum(count for index, count in counts.items() if index >= bins)
    binned[0] += sum(count for index, count in counts.items() if index < 0)
    return binned


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x (0.0 with fewer than two points)."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if spread == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread


def summarise(
    name: str,
    recorder: Recorder,
    started: float,
    *,
    expected: int,
    produced_until: float | None = None,
) -> SideResult:
    """Turn a side's samples into its result.

    ``started`` is when production began (the first intended send time); the throughput is
    the events handled over the time from then to the last finish. ``produced_until``, when
    known, bounds the window in which the backlog's trend is computed: a backlog that grows
    while the producer keeps its schedule means the side cannot keep up.
    """
    latencies, finishes = recorder.latencies, recorder.finishes
    handled = len(latencies)
    histogram = _histogram(latencies)
    latency = Latency(
        histogram.percentile_ms(50.0),
        histogram.percentile_ms(90.0),
        histogram.percentile_ms(99.0),
        histogram.percentile_ms(99.9),
        histogram.max_ms(),
    )
    last = max(finishes) if finishes else started
    elapsed = max(last - started, 1e-9)
    throughput = handled / elapsed if handled else 0.0
    bins = max(1, min(TIMELINE_BINS, int(elapsed / 1e-3)))
    width = elapsed / bins
    done = _binned(finishes, started, width, bins)
    timeline = [((index + 0.5) * width, count / width) for index, count in enumerate(done)]
    intended = list(map(float.__sub__, finishes, latencies))
    begun = _binned(intended, started, width, bins)
    backlog = [b - d for b, d in zip(accumulate(begun), accumulate(done), strict=True)]
    window = (produced_until or last) - started
    trend_points = [
        ((index + 1) * width, float(value))
        for index, value in enumerate(backlog)
        if (index + 1) * width <= window
    ]
    return SideResult(
        name=name,
        throughput=throughput,
        latency=latency,
        sent=recorder.sent,
        handled=handled,
        expected=expected,
        errors=recorder.errors,
        cold_starts=recorder.cold_starts,
        elapsed=elapsed,
        percentiles=[(p, histogram.percentile_ms(p)) for p in PLOT_PERCENTILES],
        timeline=timeline,
        backlog_max=max(backlog, default=0),
        backlog_trend=_slope(trend_points),
        failures=list(recorder.failures),
        raised=recorder.raised,
    )
