"""A typed wrapper over the ``hdrhistogram`` package (which ships no type hints).

Values are microseconds, from 1 µs to one hour, to three significant figures: a latency is
recorded with an error of at most 0.1 %, whatever its size. This is the only module that
imports ``hdrh``.
"""

from __future__ import annotations

from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]

__all__ = ["HIGHEST_US", "LatencyHistogram"]

HIGHEST_US = 3_600_000_000
"""The largest latency kept as itself (an hour); larger ones are recorded as an hour."""


class LatencyHistogram:
    """Latencies in microseconds; percentiles read back in milliseconds."""

    def __init__(self) -> None:
        self._histogram = HdrHistogram(1, HIGHEST_US, 3)

    def record(self, microseconds: int, count: int = 1) -> None:
        """Record ``count`` occurrences of a latency (clamped to 0 .. HIGHEST_US)."""
        value = min(max(microseconds, 0), HIGHEST_US)
        self._histogram.record_value(value, count)

    @property
    def count(self) -> int:
        return int(self._histogram.get_total_count())

    def percentile_ms(self, percentile: float) -> float:
        """The latency at ``percentile`` (0-100) in milliseconds; 0.0 when empty."""
        if self.count == 0:
            return 0.0
        return float(self._histogram.get_value_at_percentile(percentile)) / 1000.0

    def max_ms(self) -> float:
        if self.count == 0:
            return 0.0
        return float(self._histogram.get_max_value()) / 1000.0

    def mean_ms(self) -> float:
        if self.count == 0:
            return 0.0
        return float(self._histogram.get_mean_value()) / 1000.0
