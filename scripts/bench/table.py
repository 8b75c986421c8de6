"""The table a run prints: one row per point, then what the jobs report of themselves,
where the CPU went, and the headline numbers against their targets."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from scripts.bench.records import Point
from scripts.bench.stats import verdicts


def cell(value: float | int | None, digits: int = 1) -> str:
    """A number as the table shows it: `-` for nothing measured."""
    if value is None:
        return "-"
    return str(value) if isinstance(value, int) else f"{value:.{digits}f}"


def offered_label(point: Point) -> str:
    """How hard the load was: a rate, a number of closed-loop clients, or raw's tight loop."""
    if point.system == "raw":
        return "tight loop"
    return f"{point.offered:.1f}/s" if point.offered is not None else f"closed x{point.clients}"


def _grid(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 2) -> list[str]:
    """Columns padded to their widest cell; the first `left` columns flush left, numbers right."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            text.ljust(width) if i < left else text.rjust(width)
            for i, (text, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return lines


def format_table(points: Sequence[Point], summary: dict[str, Any], model: str) -> str:
    header = ("system", "load", "offered", "jobs/s", "p50 ms", "p95 ms", "p99 ms", "ok", "err", "unfin")
    rows = [
        (p.system, p.load, offered_label(p), cell(p.throughput), cell(p.p50_ms, 2), cell(p.p95_ms, 2),
         cell(p.p99_ms, 2), cell(p.completed), cell(p.errors), cell(p.unfinished))
        for p in points
    ]  # fmt: skip
    sections = [_grid(header, rows), _server_lines(points), _cpu_lines(points), _summary_lines(summary, model)]
    return "\n\n".join("\n".join(section) for section in sections if section)


def _server_lines(points: Sequence[Point]) -> list[str]:
    """The platform's own account of its jobs, to split latency into queue, model and the rest."""
    measured = [p for p in points if p.server]
    if not measured:
        return []
    header = ("system", "load", "queued p50 ms", "model p50 ms", "model p99 ms", "mean batch")
    keys = ("queue_p50_ms", "inference_p50_ms", "inference_p99_ms", "batch_size_mean")
    rows = [(p.system, p.load, *(cell(p.server.get(key), 2) for key in keys)) for p in measured]
    return [
        "what the jobs report (job.metrics): time queued before a worker claimed them, model call",
        *_grid(header, rows),
    ]


def _cpu_lines(points: Sequence[Point]) -> list[str]:
    """Where the CPU went at each load point: cores busy on average during the window."""
    measured = [p for p in points if p.cpu_cores]
    if not measured:
        return []
    parts = list(dict.fromkeys(name for p in measured for name in p.cpu_cores))
    rows = [(p.system, p.load, *(cell(p.cpu_cores.get(name), 2) for name in parts)) for p in measured]
    title = f"cores busy during each window (of {os.cpu_count()}; postgres, redis and machine include other users)"
    return [title, *_grid(("system", "load", *parts), rows)]


def _summary_lines(summary: dict[str, Any], model: str) -> list[str]:
    verdict = verdicts(summary, model)
    s = summary
    return [
        f"model {model}: batch-1 time {cell(s['model_batch1_ms'], 2)} ms; raw ceiling "
        f"{cell(s['raw_ceiling_jobs_per_s'])} jobs/s at batch {cell(s['raw_best_batch_size'])}",
        f"saturation: platform {cell(s['platform_saturation_jobs_per_s'])} jobs/s, "
        f"naive {cell(s['naive_saturation_jobs_per_s'])} jobs/s",
        f"platform/raw at saturation:   {cell(s['platform_over_raw'], 3)}  {verdict['platform_over_raw']}",
        f"platform/naive at saturation: {cell(s['platform_over_naive'], 3)}",
        f"light-load overhead (platform at {cell(s['light_load_jobs_per_s'])}/s minus the model's batch-1 time):",
        f"  p50 {cell(s['overhead_p50_ms'], 2)} ms  {verdict['overhead_p50_ms']}",
        f"  p99 {cell(s['overhead_p99_ms'], 2)} ms  {verdict['overhead_p99_ms']}",
        f"no-model platform throughput: {verdict['platform_saturation_jobs_per_s']}",
    ]
