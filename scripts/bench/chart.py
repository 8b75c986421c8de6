"""report.png: throughput and latency of the serving systems against offered load, with
the model alone drawn in as the line they cannot beat."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scripts.bench.records import Point
from scripts.bench.stats import headline
from scripts.bench.table import offered_label
from scripts.bench.workload import SYSTEMS


def _load_ticks(points: Sequence[Point]) -> list[tuple[str, str]]:
    """Load labels in run order, each with the tick text that says how hard it was."""
    ticks: dict[str, str] = {}
    for p in points:
        if p.system != "raw" and p.load not in ticks:
            ticks[p.load] = p.load if p.load.endswith("/s") else f"{p.load}\n{offered_label(p)}"
    return list(ticks.items())


def write_chart(points: Sequence[Point], path: Path) -> None:
    """Throughput and p50/p99 latency against offered load, one line per system."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ticks = _load_ticks(points)
    order = [label for label, _ in ticks]
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    for index, system in enumerate(s for s in SYSTEMS if s != "raw"):
        rows = [p for p in points if p.system == system]
        if not rows:
            continue
        xs = [order.index(p.load) for p in rows]
        color = f"C{index}"
        left.plot(xs, [p.throughput for p in rows], "o-", color=color, label=system)
        right.plot(xs, [p.p50_ms for p in rows], "o-", color=color, label=f"{system} p50")
        right.plot(xs, [p.p99_ms for p in rows], "x--", color=color, label=f"{system} p99")
    _reference(
        left,
        headline(points)["raw_ceiling_jobs_per_s"],
        [p.throughput for p in points if p.system != "raw"],
        "raw ceiling",
        "jobs/s",
    )
    latencies = [v for p in points if p.system != "raw" for v in (p.p50_ms, p.p99_ms) if v is not None]
    _reference(right, headline(points)["model_batch1_ms"], latencies, "raw batch-1", "ms")
    for axis, title, unit in ((left, "throughput", "jobs/s"), (right, "latency", "ms (log)")):
        axis.set_xticks(range(len(ticks)), [tick for _, tick in ticks], fontsize=8)
        axis.set_title(title)
        axis.set_ylabel(unit)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    right.set_yscale("log")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _reference(axis: Any, value: float | None, plotted: Sequence[float], name: str, unit: str) -> None:
    """A dotted line for the model alone, unless it is so far off that it would flatten the
    lines that matter (the no-model run's raw numbers): then it is only named in the legend."""
    if not value:
        return
    served = [v for v in plotted if v] or [value]
    if min(served) / 10 <= value <= 10 * max(served):
        axis.axhline(value, color="gray", linestyle=":", label=f"{name} {value:.3g} {unit}")
    else:
        axis.plot([], [], " ", label=f"{name} {value:.3g} {unit} (off scale)")
