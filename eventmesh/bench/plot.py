"""The plot: latency by percentile (left) and throughput over time (right), both sides.

SVG is written by hand (no dependency); PNG needs matplotlib, imported only then. The
percentile axis is HdrHistogram's usual one: ``1 / (1 - p)`` on a log scale, so the tail
(99 %, 99.9 %, 99.99 %) gets as much room as the median.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

__all__ = ["PlotError", "comparison_svg", "svg", "write_comparison_plot", "write_plot"]

Series = Sequence[Sequence[float]]

COLOURS = {"ours": "#1f77b4", "baseline": "#ff7f0e"}
PALETTE = ("#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")
"""One colour per storage in a comparison plot."""
WIDTH, HEIGHT = 960, 400
PANEL_W, PANEL_H = 380, 280
MARGIN_LEFT, MARGIN_TOP = 70, 60
PERCENTILE_TICKS = (0.0, 50.0, 90.0, 99.0, 99.9, 99.99, 99.999)


class PlotError(Exception):
    """The plot cannot be written (the message says why: e.g. PNG without matplotlib)."""


def _tail_x(percentile: float) -> float:
    """Percentile to the log-scaled x of the tail axis: log10(1 / (1 - p))."""
    remaining = max(1.0 - percentile / 100.0, 1e-6)
    return math.log10(1.0 / remaining)


_PNG_NEEDS = (
    "a PNG plot needs matplotlib: pip install matplotlib (or write an .svg plot, which needs "
    "nothing)"
)


def check_plot_path(path: Path) -> None:
    """Refuse, before a run, a plot that could not be written after it (a PNG without
    matplotlib), so a long run is not wasted."""
    if path.suffix.lower() == ".png":
        try:
            importlib.import_module("matplotlib")
        except ImportError:
            raise PlotError(_PNG_NEEDS) from None


def write_comparison_plot(document: dict[str, Any], path: Path) -> None:
    """Write the plot of one scenario on several storages (:func:`~eventmesh.bench.report.
    comparison_result`'s document): eventmesh's latency and throughput on each."""
    suffix = path.suffix.lower()
    title = f"eventmesh bench: {document['scenario']} by storage"
    if suffix == ".svg":
        path.write_text(comparison_svg(document), encoding="utf-8")
    elif suffix == ".png":
        _png_series(title, document.get("unit", "events/s"), _comparison_series(document), path)
    else:
        raise PlotError(f"a plot is a .svg or a .png file, not {path.name!r}")


def write_plot(result: dict[str, Any], path: Path) -> None:
    """Write ``result``'s plot to ``path``, as SVG or PNG according to its suffix."""
    suffix = path.suffix.lower()
    if suffix == ".svg":
        path.write_text(svg(result), encoding="utf-8")
    elif suffix == ".png":
        _png(result, path)
    else:
        raise PlotError(f"a plot is a .svg or a .png file, not {path.name!r}")


# -- SVG -------------------------------------------------------------------------------------
def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return float(step * magnitude)
    return 10.0 * magnitude


def _format(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:g}M"
    if value >= 1e3:
        return f"{value / 1e3:g}k"
    return f"{value:g}"


class _Panel:
    """One chart: a frame, axes from data ranges, polylines."""

    def __init__(self, left: float, top: float, x_max: float, y_max: float) -> None:
        self.left, self.top = left, top
        self.x_max, self.y_max = max(x_max, 1e-9), _nice_max(y_max)

    def point(self, x: float, y: float) -> tuple[float, float]:
        return (
            self.left + PANEL_W * min(x, self.x_max) / self.x_max,
            self.top + PANEL_H * (1.0 - min(y, self.y_max) / self.y_max),
        )

    def frame(self, title: str, x_label: str, y_label: str) -> list[str]:
        left, top = self.left, self.top
        parts = [
            f'<rect x="{left}" y="{top}" width="{PANEL_W}" height="{PANEL_H}" '
            'fill="none" stroke="#444"/>',
            f'<text x="{left + PANEL_W / 2}" y="{top - 12}" text-anchor="middle" '
            f'font-weight="bold">{escape(title)}</text>',
            f'<text x="{left + PANEL_W / 2}" y="{top + PANEL_H + 38}" '
            f'text-anchor="middle">{escape(x_label)}</text>',
            f'<text x="{left - 52}" y="{top + PANEL_H / 2}" text-anchor="middle" '
            f'transform="rotate(-90 {left - 52} {top + PANEL_H / 2})">{escape(y_label)}</text>',
        ]
        for index in range(5):
            value = self.y_max * index / 4
            _, y = self.point(0.0, value)
            parts.append(
                f'<line x1="{left}" y1="{y:.1f}" x2="{left + PANEL_W}" y2="{y:.1f}" stroke="#ddd"/>'
            )
            parts.append(
                f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_format(value)}</text>'
            )
        return parts

    def x_tick(self, x: float, label: str) -> str:
        px, py = self.point(x, 0.0)
        return (
            f'<line x1="{px:.1f}" y1="{py}" x2="{px:.1f}" y2="{py + 5}" stroke="#444"/>'
            f'<text x="{px:.1f}" y="{py + 18}" text-anchor="middle">{escape(label)}</text>'
        )

    def line(self, points: Sequence[tuple[float, float]], colour: str) -> str:
        coordinates = " ".join(f"{x:.1f},{y:.1f}" for x, y in (self.point(*p) for p in points))
        return f'<polyline points="{coordinates}" fill="none" stroke="{colour}" stroke-width="2"/>'


def _series(result: dict[str, Any]) -> list[tuple[str, str, Series, Series]]:
    """(label, colour, percentiles, timeline) of both sides of one result."""
    names = {"ours": f"eventmesh: {result['name']}", "baseline": result["baseline"]["name"]}
    return [
        (names[side], colour, result["percentiles"].get(side, []),
         result["timeline"].get(side, []))
        for side, colour in COLOURS.items()
    ]  # fmt: skip


def _comparison_series(document: dict[str, Any]) -> list[tuple[str, str, Series, Series]]:
    """eventmesh's side on each storage, one colour each."""
    series = []
    for index, result in enumerate(document["results"]):
        colour = PALETTE[index % len(PALETTE)]
        storage = result["parameters"]["storage"]
        series.append(
            (f"eventmesh on {storage}", colour, result["percentiles"]["ours"],
             result["timeline"]["ours"])
        )  # fmt: skip
    return series


def svg(result: dict[str, Any]) -> str:
    """The two-panel plot of one result as an SVG document."""
    title = f"eventmesh bench: {result['scenario']} (ratio {result['ratio']:.3f})"
    return _svg(title, result.get("unit", "events/s"), _series(result))


def comparison_svg(document: dict[str, Any]) -> str:
    """The two-panel plot of one scenario on several storages."""
    title = f"eventmesh bench: {document['scenario']} by storage"
    return _svg(title, document.get("unit", "events/s"), _comparison_series(document))


def _svg(title: str, unit: str, series: list[tuple[str, str, Series, Series]]) -> str:
    height = HEIGHT + 20 + 18 * len(series)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">'
        f"{escape(title)}</text>",
    ]
    tail_max = max(_tail_x(p) for p in PERCENTILE_TICKS)
    latency_max = max((ms for _, _, curve, _ in series for _, ms in curve), default=1.0)
    left = _Panel(MARGIN_LEFT, MARGIN_TOP, tail_max, latency_max)
    parts += left.frame("Latency by percentile", "percentile", "latency (ms)")
    parts += [left.x_tick(_tail_x(p), f"{p:g}") for p in PERCENTILE_TICKS]
    time_max = max((t for _, _, _, rates in series for t, _ in rates), default=1.0)
    rate_max = max((r for _, _, _, rates in series for _, r in rates), default=1.0)
    right = _Panel(MARGIN_LEFT + PANEL_W + 120, MARGIN_TOP, time_max, rate_max)
    parts += right.frame("Throughput over time", "seconds", unit)
    for index in range(5):
        parts.append(right.x_tick(time_max * index / 4, f"{time_max * index / 4:.2g}"))
    for _, colour, percentiles, timeline in series:
        curve = [(_tail_x(p), ms) for p, ms in percentiles]
        if curve:
            parts.append(left.line(curve, colour))
        rates = [(t, rate) for t, rate in timeline]
        if rates:
            parts.append(right.line(rates, colour))
    for index, (label, colour, _, _) in enumerate(series):
        y = HEIGHT + 20 + index * 18
        parts.append(
            f'<rect x="{MARGIN_LEFT}" y="{y - 10}" width="14" height="4" fill="{colour}"/>'
            f'<text x="{MARGIN_LEFT + 20}" y="{y - 4}">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


# -- PNG -------------------------------------------------------------------------------------
def _png(result: dict[str, Any], path: Path) -> None:
    title = f"eventmesh bench: {result['scenario']} (ratio {result['ratio']:.3f})"
    _png_series(title, result.get("unit", "events/s"), _series(result), path)


def _png_series(
    title: str, unit: str, series: list[tuple[str, str, Series, Series]], path: Path
) -> None:
    try:
        matplotlib: Any = importlib.import_module("matplotlib")
    except ImportError:
        raise PlotError(_PNG_NEEDS) from None
    matplotlib.use("Agg")
    pyplot: Any = importlib.import_module("matplotlib.pyplot")
    figure, (latency_axes, rate_axes) = pyplot.subplots(1, 2, figsize=(12, 4.5))
    for label, colour, percentiles, timeline in series:
        latency_axes.plot(
            [_tail_x(p) for p, _ in percentiles], [ms for _, ms in percentiles], color=colour,
            label=label,
        )  # fmt: skip
        rate_axes.plot([t for t, _ in timeline], [r for _, r in timeline], color=colour,
                       label=label)  # fmt: skip
    latency_axes.set_xticks([_tail_x(p) for p in PERCENTILE_TICKS])
    latency_axes.set_xticklabels([f"{p:g}" for p in PERCENTILE_TICKS])
    latency_axes.set_xlabel("percentile")
    latency_axes.set_ylabel("latency (ms)")
    latency_axes.set_title("Latency by percentile")
    rate_axes.set_xlabel("seconds")
    rate_axes.set_ylabel(unit)
    rate_axes.set_title("Throughput over time")
    rate_axes.legend(loc="lower right", fontsize="small")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=100)
    pyplot.close(figure)
