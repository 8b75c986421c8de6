"""The arithmetic of a run: percentiles, one row of the table from its samples, and the
headline numbers (ratios at saturation, overhead at light load) with their targets."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from scripts.bench.records import Load, Point, Sample

TARGETS = {  # reported, never asserted: (comparison, bound, the model it is about or None for any)
    "platform_over_raw": (">=", 0.9, "empathy-minilm"),
    "overhead_p50_ms": ("<=", 5.0, None),
    "overhead_p99_ms": ("<=", 25.0, None),
    "platform_saturation_jobs_per_s": (">=", 500.0, "noop"),
}


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), q in [0, 100]."""
    if not values:
        raise ValueError("percentile of nothing")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_ms(seconds: Sequence[float]) -> tuple[float | None, float | None, float | None]:
    """p50, p95 and p99 in milliseconds, or three Nones when nothing finished."""
    if not seconds:
        return None, None, None
    p50, p95, p99 = (round(percentile(seconds, q) * 1000.0, 3) for q in (50, 95, 99))
    return p50, p95, p99


def summarize(
    system: str,
    load: Load,
    samples: Sequence[Sample],
    window: tuple[float, float],
    unfinished: int = 0,
    cpu_cores: dict[str, float] | None = None,
) -> Point:
    """Latency of what was sent in the window, throughput of what finished in it."""
    start, end = window
    sent = [s for s in samples if start <= s.sent < end]
    ok = [s for s in sent if s.error is None]
    finished = sum(1 for s in samples if s.error is None and start <= s.done < end)
    p50, p95, p99 = latency_ms([s.done - s.sent for s in ok])
    lags = [s.lag for s in ok]
    return Point(
        system=system,
        load=load.label,
        offered=load.rate,
        clients=load.clients,
        throughput=round(finished / (end - start), 2),
        p50_ms=p50,
        p95_ms=p95,
        p99_ms=p99,
        completed=len(ok),
        errors=len(sent) - len(ok),
        unfinished=unfinished,
        client_lag_p99_ms=round(percentile(lags, 99) * 1000.0, 3) if lags and load.rate else None,
        error_examples=dict(Counter(s.error for s in sent if s.error).most_common(5)),
        cpu_cores=cpu_cores or {},
        server=server_view([s.metrics for s in ok if s.metrics]),
    )


def server_view(metrics: Sequence[dict[str, Any]]) -> dict[str, float]:
    """What the jobs say of themselves: time queued before a worker claimed them, time in the
    model call, and batch size. Latency minus these is the path through API, database and broker."""
    if not metrics:
        return {}
    queued = [float(m.get("queue_time", 0.0)) for m in metrics]
    inference = [float(m.get("inference_time", 0.0)) for m in metrics]
    return {
        "queue_p50_ms": round(percentile(queued, 50) * 1000.0, 3),
        "inference_p50_ms": round(percentile(inference, 50) * 1000.0, 3),
        "inference_p99_ms": round(percentile(inference, 99) * 1000.0, 3),
        "batch_size_mean": round(sum(float(m.get("batch_size", 1)) for m in metrics) / len(metrics), 2),
    }


def _ratio(top: float | None, bottom: float | None) -> float | None:
    return round(top / bottom, 3) if top is not None and bottom else None


def _minus(value: float | None, other: float | None) -> float | None:
    return round(value - other, 3) if value is not None and other is not None else None


def headline(points: Sequence[Point]) -> dict[str, Any]:
    """The numbers the issue asks for: ratios at saturation, overhead at the lightest load."""
    raw = [p for p in points if p.system == "raw"]
    best = max(raw, key=lambda p: p.throughput, default=None)
    batch1 = next((p.p50_ms for p in raw if p.batch_size == 1), None)
    saturated = {p.system: p.throughput for p in points if p.clients is not None}
    light = min((p for p in points if p.system == "platform" and p.offered), key=lambda p: p.offered or 0, default=None)
    return {
        "raw_ceiling_jobs_per_s": best.throughput if best else None,
        "raw_best_batch_size": best.batch_size if best else None,
        "model_batch1_ms": batch1,
        "naive_saturation_jobs_per_s": saturated.get("naive"),
        "platform_saturation_jobs_per_s": saturated.get("platform"),
        "platform_over_raw": _ratio(saturated.get("platform"), best.throughput if best else None),
        "platform_over_naive": _ratio(saturated.get("platform"), saturated.get("naive")),
        "light_load_jobs_per_s": light.offered if light else None,
        "platform_light_p50_ms": light.p50_ms if light else None,
        "platform_light_p99_ms": light.p99_ms if light else None,
        "overhead_p50_ms": _minus(light.p50_ms if light else None, batch1),
        "overhead_p99_ms": _minus(light.p99_ms if light else None, batch1),
    }


def verdicts(summary: dict[str, Any], model: str) -> dict[str, str]:
    """Each target: met, missed, or n/a (not measured, or about another model)."""
    out = {}
    for key, (comparison, bound, about) in TARGETS.items():
        value = summary.get(key)
        if value is None or (about is not None and about != model):
            out[key] = f"n/a (target {comparison} {bound:g}{'' if about is None else ' with ' + about})"
            continue
        met = value >= bound if comparison == ">=" else value <= bound
        out[key] = f"{'met' if met else 'MISSED'} (target {comparison} {bound:g})"
    return out
