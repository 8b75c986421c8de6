"""`make bench`: the model alone, the usual FastAPI + Celery template, and this platform,
measured side by side in one run on one machine.

    python -m scripts.bench [--model empathy-minilm|noop] [--device auto] [--duration S] [--quick]
                            [--systems raw,naive,platform] [--database-url URL] [--redis-url URL]
                            [--out var/bench]

- raw: `Model.predict` in a tight loop at several batch sizes; the best is the ceiling.
- naive: scripts/bench_naive.py, one Celery task per request, results in Redis, polled.
- platform: the real API and worker; submit with an API key and `Prefer: wait=60`;
  latency runs from sending the submit to receiving the finished job.

naive and platform get the same loads: open-loop Poisson arrivals at fractions of the raw
ceiling (fixed rates with `--model noop`, whose ceiling means nothing), then a closed loop
of many clients (saturation). Each load point runs `--duration` seconds after a warm-up;
a job sent in that window counts towards latency, a job finished in it towards throughput.
Prints a table and writes <out>/report.json and <out>/report.png.

Services: `--database-url` (else BENCH_DATABASE_URL / TEST_DATABASE_URL) names a PostgreSQL
server on which a scratch database is created and dropped (a SQLite URL is used as given);
without one, a throwaway pgserver. `--redis-url` (else TEST_REDIS_URL), or an embedded
Redis. Every process started is stopped, by process group, however the run ends.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import math
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import redis
from pydantic import SecretStr

from models.base import ConversationInput
from models.registry import build_model
from scripts.embedded import die_with_parent, free_port, redis_server_argv, scratch_database, wait_for_redis
from settings import Settings

ROOT = Path(__file__).resolve().parent.parent
BENCH_BACKENDS = {"noop": "scripts.bench_models:Noop"}
SYSTEMS = ("raw", "naive", "platform")
ADMIN_EMAIL = "bench-admin@example.com"
MESSAGES = (
    "I can't sleep before exams, my mind keeps racing.",
    "We adopted a puppy today!",
    "My grandmother passed away last week and I keep expecting her to call.",
    "Nobody at my new job talks to me at lunch.",
    "I finally finished the marathon I trained a year for.",
    "I snapped at my little brother and now I feel terrible about it.",
    "Thank you for listening yesterday, it really helped.",
    "My landlord is ignoring the broken heating again and I'm furious.",
)
READY_TIMEOUT_SECONDS = 300.0
STOP_GRACE_SECONDS = 15.0
WAIT_SECONDS = 60  # `Prefer: wait=` and `?wait=` of the platform client
NAIVE_POLL_FIRST, NAIVE_POLL_MAX = 0.01, 0.1  # the naive client polls at 10, 20, 40, 80, 100, 100 ... ms
MAX_CONNECTIONS = 1024
KEEPALIVE_SECONDS = 2.0
HTTP_CLIENTS = 32
SATURATION_CLIENTS_PER_BATCH = 4
MAX_SATURATION_CLIENTS = 256
DEFAULT_BATCH = 32
NOOP_RATES = {"quick": (10.0, 100.0), "full": (10.0, 100.0, 300.0)}
TARGETS = {  # reported, never asserted: (comparison, bound, the model it is about or None for any)
    "platform_over_raw": (">=", 0.9, "empathy-minilm"),
    "overhead_p50_ms": ("<=", 5.0, None),
    "overhead_p99_ms": ("<=", 25.0, None),
    "platform_saturation_jobs_per_s": (">=", 500.0, "noop"),
}

Call = Callable[[str], Awaitable[dict[str, Any] | None]]  # one job, seen finished; its `metrics` if any


# --- what a run measures -------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """How long and how hard: the same for every system in a run."""

    duration: float
    warmup: float
    drain: float
    raw_seconds: float
    batch_sizes: tuple[int, ...]
    fractions: tuple[float, ...]


@dataclass(frozen=True)
class Load:
    """One load point: open loop (`rate`, Poisson arrivals) or closed loop (`clients`)."""

    label: str
    rate: float | None = None
    clients: int | None = None


@dataclass(frozen=True)
class Sample:
    sent: float
    done: float
    error: str | None = None
    lag: float = 0.0  # how late the client sent it (open loop): a sign the client itself is saturated
    metrics: dict[str, Any] | None = None  # the server's own account of the job (platform: job.metrics)


@dataclass(frozen=True)
class Point:
    """One row of the table: a system at a load point (raw: at a batch size)."""

    system: str
    load: str
    offered: float | None
    clients: int | None
    throughput: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    completed: int
    errors: int = 0
    unfinished: int = 0
    batch_size: int | None = None
    client_lag_p99_ms: float | None = None
    error_examples: dict[str, int] = field(default_factory=dict)
    cpu_cores: dict[str, float] = field(default_factory=dict)  # average cores busy in the window, by process
    server: dict[str, float] = field(default_factory=dict)  # from the jobs' metrics: queue, inference, batch


# --- statistics and the report ---------------------------------------------------------


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


def _cell(value: float | int | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    return str(value) if isinstance(value, int) else f"{value:.{digits}f}"


def _offered(point: Point) -> str:
    if point.system == "raw":
        return "tight loop"
    return f"{point.offered:.1f}/s" if point.offered is not None else f"closed x{point.clients}"


def _grid(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 2) -> list[str]:
    """Columns padded to their widest cell; the first `left` columns flush left, numbers right."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(width) if i < left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return lines


def format_table(points: Sequence[Point], summary: dict[str, Any], model: str) -> str:
    header = ("system", "load", "offered", "jobs/s", "p50 ms", "p95 ms", "p99 ms", "ok", "err", "unfin")
    rows = [
        (p.system, p.load, _offered(p), _cell(p.throughput), _cell(p.p50_ms, 2), _cell(p.p95_ms, 2),
         _cell(p.p99_ms, 2), _cell(p.completed), _cell(p.errors), _cell(p.unfinished))
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
    rows = [(p.system, p.load, *(_cell(p.server.get(key), 2) for key in keys)) for p in measured]
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
    rows = [(p.system, p.load, *(_cell(p.cpu_cores.get(name), 2) for name in parts)) for p in measured]
    title = f"cores busy during each window (of {os.cpu_count()}; postgres, redis and machine include other users)"
    return [title, *_grid(("system", "load", *parts), rows)]


def _summary_lines(summary: dict[str, Any], model: str) -> list[str]:
    verdict = verdicts(summary, model)
    s = summary
    return [
        f"model {model}: batch-1 time {_cell(s['model_batch1_ms'], 2)} ms; raw ceiling "
        f"{_cell(s['raw_ceiling_jobs_per_s'])} jobs/s at batch {_cell(s['raw_best_batch_size'])}",
        f"saturation: platform {_cell(s['platform_saturation_jobs_per_s'])} jobs/s, "
        f"naive {_cell(s['naive_saturation_jobs_per_s'])} jobs/s",
        f"platform/raw at saturation:   {_cell(s['platform_over_raw'], 3)}  {verdict['platform_over_raw']}",
        f"platform/naive at saturation: {_cell(s['platform_over_naive'], 3)}",
        f"light-load overhead (platform at {_cell(s['light_load_jobs_per_s'])}/s minus the model's batch-1 time):",
        f"  p50 {_cell(s['overhead_p50_ms'], 2)} ms  {verdict['overhead_p50_ms']}",
        f"  p99 {_cell(s['overhead_p99_ms'], 2)} ms  {verdict['overhead_p99_ms']}",
        f"no-model platform throughput: {verdict['platform_saturation_jobs_per_s']}",
    ]


def build_report(
    *, config: dict[str, Any], machine: dict[str, Any], points: Sequence[Point], wall_seconds: float
) -> dict[str, Any]:
    summary = headline(points)
    return {
        "config": config,
        "machine": machine,
        "points": [asdict(p) for p in points],
        "summary": summary,
        "targets": verdicts(summary, str(config.get("model"))),
        "wall_seconds": round(wall_seconds, 1),
    }


def _load_ticks(points: Sequence[Point]) -> list[tuple[str, str]]:
    """Load labels in run order, each with the tick text that says how hard it was."""
    ticks: dict[str, str] = {}
    for p in points:
        if p.system != "raw" and p.load not in ticks:
            ticks[p.load] = p.load if p.load.endswith("/s") else f"{p.load}\n{_offered(p)}"
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


def machine() -> dict[str, Any]:
    """What the numbers were measured on, including how busy the machine already was."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), None)
    mem_kb = next((int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemTotal:")), None)
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(mem_kb / 2**20, 1) if mem_kb else None,
        "python": sys.version.split()[0],
        "os": " ".join(os.uname()[i] for i in (0, 2, 4)),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        info["torch"] = info["gpu"] = None
    return info


# --- the model alone -------------------------------------------------------------------


def bench_settings(device: str) -> Settings:
    """Settings for building a model in this process (the bench's own backends included)."""
    return Settings(
        ENVIRONMENT="development",
        JWT_SECRET_KEY=SecretStr(secrets.token_urlsafe(48)),
        MODEL_DEVICE=device,
        MODEL_BACKENDS=BENCH_BACKENDS,
    )


def measure_raw(model_name: str, device: str, plan: Plan) -> list[Point]:
    """The ceiling: `predict` in a tight loop, at each batch size, in this process."""
    log(f"raw: loading {model_name} on {device}")
    model = build_model(model_name, bench_settings(device))
    model.load(device)
    points = []
    for size in plan.batch_sizes:
        inputs = [ConversationInput(message=MESSAGES[i % len(MESSAGES)]) for i in range(size)]
        model.predict(inputs)  # warm-up
        durations: list[float] = []
        started = time.perf_counter()
        while time.perf_counter() - started < plan.raw_seconds or len(durations) < 3:
            began = time.perf_counter()
            model.predict(inputs)
            durations.append(time.perf_counter() - began)
        elapsed = time.perf_counter() - started
        p50, p95, p99 = latency_ms(durations)
        points.append(
            Point(
                system="raw",
                load=f"batch {size}",
                offered=None,
                clients=None,
                throughput=round(len(durations) * size / elapsed, 2),
                p50_ms=p50,
                p95_ms=p95,
                p99_ms=p99,
                completed=len(durations) * size,
                batch_size=size,
            )
        )
        log(f"raw: batch {size}: {points[-1].throughput:.1f} jobs/s, {p50} ms per call")
    del model
    gc.collect()
    return points


# --- where the CPU goes ----------------------------------------------------------------


def _processes() -> Iterator[tuple[str, int, float]]:
    """(command name, process group, CPU seconds so far) of every process on the machine."""
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
        yield comm, int(fields[2]), (int(fields[11]) + int(fields[12])) / ticks


def _machine_busy_seconds() -> float:
    """CPU seconds spent on anything but idle and iowait, all cores together (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(groups: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each of our process groups, of this client, of the database and
    Redis (every such process on the machine: they may be shared), and of the whole machine."""
    totals = dict.fromkeys([*groups, "postgres", "redis"], 0.0)
    names = {pgid: name for name, pgid in groups.items()}
    with contextlib.suppress(OSError):
        for comm, pgrp, seconds in _processes():
            if pgrp in names:
                totals[names[pgrp]] += seconds
            elif comm.startswith(("postgres", "redis-server")):
                totals["postgres" if comm.startswith("postgres") else "redis"] += seconds
        totals["machine"] = _machine_busy_seconds()
    totals["client"] = time.process_time()
    return totals


async def cpu_use(groups: dict[str, int], warmup: float, duration: float) -> dict[str, float]:
    """Average cores each part kept busy during the measured window."""
    await asyncio.sleep(warmup)
    before = await asyncio.to_thread(cpu_snapshot, groups)
    began = time.perf_counter()
    await asyncio.sleep(duration)
    after = await asyncio.to_thread(cpu_snapshot, groups)
    elapsed = time.perf_counter() - began
    return {name: round((after[name] - before.get(name, 0.0)) / elapsed, 2) for name in after}


# --- load generation -------------------------------------------------------------------


def poisson_arrivals(rate: float, seconds: float, seed: int) -> list[float]:
    """Offsets (s) of Poisson arrivals at `rate` per second during `seconds`."""
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(1.0 / rate, size=int(rate * seconds * 1.5) + 16)
    offsets = np.cumsum(gaps)
    return [float(x) for x in offsets[offsets < seconds]]


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:200]


async def _timed(call: Call, index: int, samples: list[Sample], scheduled: float | None = None) -> None:
    sent = time.perf_counter()
    lag = sent - scheduled if scheduled is not None else 0.0
    try:
        metrics = await call(MESSAGES[index % len(MESSAGES)])
    except Exception as exc:  # a failed job is a data point, not the end of the run
        samples.append(Sample(sent, time.perf_counter(), _describe(exc), lag))
    else:
        samples.append(Sample(sent, time.perf_counter(), None, lag, metrics))


async def _settle(tasks: Sequence[asyncio.Task[None]], seconds: float) -> int:
    """Waits for the tasks up to `seconds`, cancels the rest: how many were cancelled."""
    if not tasks:
        return 0
    _, pending = await asyncio.wait(tasks, timeout=seconds)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return len(pending)


async def open_loop(call: Call, rate: float, plan: Plan, seed: int) -> tuple[list[Sample], tuple[float, float], int]:
    """Sends at Poisson arrival times whatever the answers do (no coordinated omission)."""
    samples: list[Sample] = []
    tasks = []
    origin = time.perf_counter()
    for index, offset in enumerate(poisson_arrivals(rate, plan.warmup + plan.duration, seed)):
        delay = origin + offset - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(_timed(call, index, samples, origin + offset)))
    window = (origin + plan.warmup, origin + plan.warmup + plan.duration)
    unfinished = await _settle(tasks, max(0.0, window[1] - time.perf_counter()) + plan.drain)
    return samples, window, unfinished


async def closed_loop(call: Call, clients: int, plan: Plan) -> tuple[list[Sample], tuple[float, float], int]:
    """`clients` clients, each sending its next job as soon as its last one is finished."""
    samples: list[Sample] = []
    origin = time.perf_counter()
    end = origin + plan.warmup + plan.duration

    async def client(number: int) -> None:
        index = number
        while time.perf_counter() < end:
            await _timed(call, index, samples)
            index += clients

    tasks = [asyncio.create_task(client(n)) for n in range(clients)]
    unfinished = await _settle(tasks, plan.warmup + plan.duration + plan.drain)
    return samples, (origin + plan.warmup, end), unfinished


async def run_load(system: str, call: Call, load: Load, plan: Plan, seed: int, groups: dict[str, int]) -> Point:
    meter = asyncio.create_task(cpu_use(groups, plan.warmup, plan.duration))
    if load.rate is not None:
        samples, window, unfinished = await open_loop(call, load.rate, plan, seed)
    else:
        samples, window, unfinished = await closed_loop(call, load.clients or 1, plan)
    point = summarize(system, load, samples, window, unfinished, await meter)
    cpu = ", ".join(f"{name} {cores:.2f}" for name, cores in point.cpu_cores.items())
    log(
        f"{system} {load.label} ({_offered(point)}): {point.throughput:.1f} jobs/s, p50 {_cell(point.p50_ms)} ms, "
        f"p99 {_cell(point.p99_ms)} ms, {point.errors} errors, {point.unfinished} unfinished; cores: {cpu}"
    )
    await _barrier(system, call, plan)
    return point


async def _barrier(system: str, call: Call, plan: Plan) -> None:
    """One more job, waited for: the backlog of an overloaded point is gone before the next point."""
    try:
        await asyncio.wait_for(call(MESSAGES[0]), timeout=max(120.0, plan.drain * 4))
    except Exception as exc:  # reported; the next point shows whatever is left
        log(f"{system}: the job after the load point did not finish: {_describe(exc)}")


def load_plan(args: argparse.Namespace, plan: Plan, points: Sequence[Point]) -> list[Load]:
    """The open-loop rates (fractions of the raw ceiling) and the saturation point."""
    summary = headline(points)
    ceiling, batch = summary["raw_ceiling_jobs_per_s"], summary["raw_best_batch_size"]
    if args.rates:
        loads = [Load(f"{rate:g}/s", rate=rate) for rate in args.rates]
    elif args.model == "noop":
        loads = [Load(f"{rate:g}/s", rate=rate) for rate in NOOP_RATES["quick" if args.quick else "full"]]
    else:
        loads = [Load(f"{f:g}x raw", rate=round(f * ceiling, 2)) for f in plan.fractions]
    clients = args.clients or min(MAX_SATURATION_CLIENTS, SATURATION_CLIENTS_PER_BATCH * (batch or DEFAULT_BATCH))
    return [*loads, Load("saturation", clients=clients)]


# --- the clients of the two serving systems --------------------------------------------


def _json(response: httpx.Response, *expected: int) -> dict[str, Any]:
    if response.status_code not in expected:
        raise RuntimeError(f"HTTP {response.status_code} from {response.request.url.path}: {response.text[:120]}")
    body: dict[str, Any] = response.json()
    return body


class HttpPool:
    """Several httpx clients, each given to the least busy caller. One client juggling a hundred
    requests at once costs about 3 ms of CPU per request here (its pool's bookkeeping grows with
    them); a few at a time cost about 0.7 ms. The client shares the CPUs with what it measures."""

    def __init__(self, base_url: str, size: int = HTTP_CLIENTS) -> None:
        limits = httpx.Limits(
            max_connections=MAX_CONNECTIONS // size,
            max_keepalive_connections=MAX_CONNECTIONS // size,
            keepalive_expiry=KEEPALIVE_SECONDS,  # shorter than uvicorn's 5 s, so no request races a server close
        )
        timeout = httpx.Timeout(WAIT_SECONDS + 30.0, pool=None)
        self.clients = [httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout) for _ in range(size)]
        self.busy = [0] * size

    @contextlib.asynccontextmanager
    async def client(self) -> AsyncIterator[httpx.AsyncClient]:
        """The least busy client (the first at light load, so its connections stay warm)."""
        index = min(range(len(self.busy)), key=self.busy.__getitem__)
        self.busy[index] += 1
        try:
            yield self.clients[index]
        finally:
            self.busy[index] -= 1

    async def aclose(self) -> None:
        await asyncio.gather(*(client.aclose() for client in self.clients))


class PlatformClient:
    """Submits with `Prefer: wait`, long-polls if that was not enough: one job, seen finished."""

    terminal = frozenset({"succeeded", "failed", "canceled"})

    def __init__(self, pool: HttpPool, api_key: str) -> None:
        self.pool = pool
        self.headers = {"X-API-Key": api_key}

    async def __call__(self, message: str) -> dict[str, Any] | None:
        async with self.pool.client() as http:
            response = await http.post(
                "/v1/conversations",
                json={"message": message},
                headers={**self.headers, "Prefer": f"wait={WAIT_SECONDS}"},
            )
            job = _json(response, 200, 202)
            while job["status"] not in self.terminal:
                response = await http.get(
                    f"/v1/conversations/{job['id']}", params={"wait": WAIT_SECONDS}, headers=self.headers
                )
                job = _json(response, 200)
        if job["status"] != "succeeded":
            raise RuntimeError(f"job {job['status']}: {job.get('error')}")
        metrics: dict[str, Any] | None = job.get("metrics")
        return metrics


class NaiveClient:
    """The template's client: submit, then poll the status URL with a growing interval."""

    def __init__(self, pool: HttpPool) -> None:
        self.pool = pool

    async def __call__(self, message: str) -> dict[str, Any] | None:
        async with self.pool.client() as http:
            task_id = _json(await http.post("/tasks", json={"message": message}), 202)["id"]
            delay = NAIVE_POLL_FIRST
            while True:
                await asyncio.sleep(delay)
                status = _json(await http.get(f"/tasks/{task_id}"), 200)
                if status["status"] == "SUCCESS":
                    return None
                if status["status"] == "FAILURE":
                    raise RuntimeError(f"task failed: {status.get('error')}")
                delay = min(delay * 2, NAIVE_POLL_MAX)


async def naive_call(pool: HttpPool) -> Call:
    return NaiveClient(pool)


async def platform_call(pool: HttpPool, password: str) -> Call:
    """Logs in as the first superuser and creates the API key the load is sent with."""
    http = pool.clients[0]
    token = _json(await http.post("/v1/auth/token", data={"username": ADMIN_EMAIL, "password": password}), 200)
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    key = _json(await http.post("/v1/api-keys", json={"name": "bench"}, headers=bearer), 201)["key"]
    return PlatformClient(pool, str(key))


async def measure_system(
    system: str,
    base_url: str,
    make_call: Callable[[HttpPool], Awaitable[Call]],
    loads: Sequence[Load],
    plan: Plan,
    group: Processes,
) -> list[Point]:
    groups = {child.name.removeprefix(f"{system}-"): child.popen.pid for child in group.children}
    pool = HttpPool(base_url)
    try:
        call = await make_call(pool)
        await call(MESSAGES[0])  # first job: connections, pools and caches warm
        return [await run_load(system, call, load, plan, n, groups) for n, load in enumerate(loads)]
    finally:
        await pool.aclose()


def run_async(coroutine: Awaitable[list[Point]]) -> list[Point]:
    """uvloop where it is installed (uvicorn[standard] brings it): less of the client's own CPU."""
    try:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        factory = None

    async def main() -> list[Point]:
        return await coroutine

    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main())


# --- processes and services ------------------------------------------------------------


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


@dataclass
class Child:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signum)


class Processes:
    """The children of one part of the run, each leader of its own process group, so that
    stopping the group also stops what the child started (Celery's pool children)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[Child] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> Child:
        log_path = self.log_dir / f"{name}.log"
        with open(log_path, "wb") as out:
            popen = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        self.children.append(Child(name, popen, log_path))
        return self.children[-1]

    def stop(self) -> None:
        """SIGTERM every group, newest first; SIGKILL whatever is left after the grace period."""
        for child in reversed(self.children):
            child.signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in reversed(self.children):
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            child.signal(signal.SIGKILL)
            child.popen.wait()
        self.children.clear()


@contextlib.contextmanager
def processes(log_dir: Path) -> Iterator[Processes]:
    group = Processes(log_dir)
    try:
        yield group
    finally:
        group.stop()


def wait_until(ready: Callable[[], bool], what: str, children: Sequence[Child]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while not ready():
        for child in children:
            if child.popen.poll() is not None:
                raise RuntimeError(f"{child.name} exited with {child.popen.returncode}:\n{child.text()[-3000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready after {READY_TIMEOUT_SECONDS:.0f} s")
        time.sleep(0.2)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def redis_service(args: argparse.Namespace, services: Processes, work: Path) -> Iterator[str]:
    url = args.redis_url or os.environ.get("TEST_REDIS_URL")
    if not url:
        port = free_port()
        services.start("redis", redis_server_argv(port, work / "redis"), dict(os.environ))
        url = f"redis://127.0.0.1:{port}/0"
        wait_for_redis(url)
    yield url


def forget_keys(redis_url: str, prefixes: Sequence[str]) -> None:
    """Deletes this run's keys (its prefixes are its own) from a Redis that may be shared."""
    try:
        client = redis.Redis.from_url(redis_url, socket_timeout=5)
        for prefix in prefixes:
            for key in client.scan_iter(match=f"{prefix}*", count=1000):
                client.delete(key)
        client.close()
    except redis.RedisError as exc:
        log(f"could not delete this run's Redis keys: {exc}")


@contextlib.contextmanager
def database_service(args: argparse.Namespace) -> Iterator[str]:
    server = args.database_url or os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if server and not server.startswith("postgres"):
        yield server  # SQLite: the file as given
    elif server:
        with scratch_database(server, "pe_bench") as url:
            yield url
    else:
        import pgserver

        with tempfile.TemporaryDirectory(prefix="pe-bench-pg-") as data:
            log("starting a throwaway PostgreSQL (pgserver)")
            postgres = pgserver.get_server(data, cleanup_mode="stop")
            try:
                with scratch_database(postgres.get_uri(), "pe_bench") as url:
                    yield url
            finally:
                postgres.cleanup()


def base_env(args: argparse.Namespace) -> dict[str, str]:
    """What both serving systems' processes share: where the code is, which model, offline."""
    env = {key: value for key, value in os.environ.items() if key not in ("BROKER_URL", "WORKER_MODELS")}
    return {
        **env,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "ENVIRONMENT": "development",
        "JWT_SECRET_KEY": secrets.token_urlsafe(48),
        "MODEL_BACKENDS": json.dumps(BENCH_BACKENDS),
        "MODEL_DEVICE": args.device,
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }


def start_naive(args: argparse.Namespace, group: Processes, redis_url: str, prefix: str) -> str:
    """The template's API and its prefork worker, one pool child per CPU."""
    from scripts.bench_naive import LOADED_MARKER

    children = os.cpu_count() or 1
    env = {
        **base_env(args),
        "BENCH_NAIVE_REDIS_URL": redis_url,
        "BENCH_NAIVE_PREFIX": prefix,
        "BENCH_NAIVE_MODEL": args.model,
        "BENCH_NAIVE_CONCURRENCY": str(children),
    }
    port = free_port()
    python = sys.executable
    api = group.start(
        "naive-api",
        [python, "-m", "uvicorn", "scripts.bench_naive:api", "--host", "127.0.0.1", "--port", str(port),
         "--no-proxy-headers"],
        env,
    )  # fmt: skip
    worker = group.start(
        "naive-worker",
        [python, "-m", "celery", "-A", "scripts.bench_naive:celery_app", "worker", "--pool=prefork",
         f"--concurrency={children}", "--loglevel=INFO", f"--hostname={prefix}@%h"],
        env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    log(f"naive: waiting for the API and {children} worker children to load {args.model}")
    wait_until(
        lambda: (
            worker.text().count(LOADED_MARKER) >= children and " ready." in worker.text() and answers(base + "/healthz")
        ),
        "the naive stack",
        [api, worker],
    )
    return base


def start_platform(
    args: argparse.Namespace, group: Processes, database_url: str, redis_url: str, prefix: str
) -> tuple[str, str]:
    """The real stack, as scripts/run_stack.py starts it: migrations, API, one model worker."""
    password = secrets.token_urlsafe(16)
    env = {
        **base_env(args),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "QUEUE_PREFIX": prefix,
        "FIRST_SUPERUSER": ADMIN_EMAIL,
        "FIRST_SUPERUSER_PASSWORD": password,
        "DEFAULT_MODEL": args.model,
        "SERVED_MODELS": args.model,
        "RATE_LIMIT_ENABLED": "false",
        "MAX_JOBS_IN_FLIGHT_PER_ACCOUNT": "100000000",
        "MAX_QUEUE_DEPTH": "100000000",
    }
    python = sys.executable
    with open(group.log_dir / "platform-migrate.log", "wb") as out:
        subprocess.run(
            [python, "-m", "alembic", "upgrade", "head"],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    port = free_port()
    api = group.start(
        "platform-api",
        [python, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(port), "--no-proxy-headers"],
        env,
    )
    worker = group.start("platform-worker", [python, "-m", "workers"], env)
    base = f"http://127.0.0.1:{port}"
    log(f"platform: waiting for the API and the worker to load {args.model}")
    wait_until(lambda: " ready." in worker.text() and answers(base + "/readyz"), "the platform", [api, worker])
    return base, password


# --- the run ---------------------------------------------------------------------------


def make_plan(args: argparse.Namespace) -> Plan:
    if args.quick:
        plan = Plan(
            duration=3.0, warmup=1.0, drain=10.0, raw_seconds=1.0, batch_sizes=(1, 8, 32), fractions=(0.02, 0.1)
        )
    else:
        plan = Plan(
            duration=10.0,
            warmup=3.0,
            drain=30.0,
            raw_seconds=3.0,
            batch_sizes=(1, 8, 16, 32, 64),
            fractions=(0.02, 0.1, 0.5, 0.9),
        )
    overrides = {"duration": args.duration, "batch_sizes": args.batch_sizes}
    return Plan(**{**asdict(plan), **{k: v for k, v in overrides.items() if v is not None}})


def run(args: argparse.Namespace, plan: Plan, logs: Path) -> list[Point]:
    """raw, then naive, then the platform: one at a time, each stack stopped before the next starts."""
    points = measure_raw(args.model, args.device, plan) if "raw" in args.systems else []
    loads = load_plan(args, plan, points)
    run_id = uuid.uuid4().hex[:8]
    naive_prefix, platform_prefix = f"bench-naive-{run_id}", f"pe-bench-{run_id}"
    with contextlib.ExitStack() as stack:
        services = stack.enter_context(processes(logs))
        redis_url = stack.enter_context(redis_service(args, services, logs.parent))
        stack.callback(forget_keys, redis_url, [naive_prefix, platform_prefix])
        if "naive" in args.systems:
            with processes(logs) as group:
                base = start_naive(args, group, redis_url, naive_prefix)
                points += run_async(measure_system("naive", base, naive_call, loads, plan, group))
        if "platform" in args.systems:
            database_url = stack.enter_context(database_service(args))
            with processes(logs) as group:
                base, password = start_platform(args, group, database_url, redis_url, platform_prefix)
                points += run_async(
                    measure_system("platform", base, lambda pool: platform_call(pool, password), loads, plan, group)
                )
    return points


def _floats(value: str) -> tuple[float, ...]:
    return tuple(float(part) for part in value.split(",") if part.strip())


def _ints(value: str) -> tuple[int, ...]:
    return tuple(int(part) for part in value.split(",") if part.strip())


def _systems(value: str) -> tuple[str, ...]:
    chosen = tuple(part.strip() for part in value.split(",") if part.strip())
    unknown = set(chosen) - set(SYSTEMS)
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"systems are {', '.join(SYSTEMS)}; not {', '.join(sorted(unknown))}")
    return chosen


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="empathy-minilm", help="model to serve (noop: the platform's own cost)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--duration", type=float, help="seconds per load point (default 10, --quick 3)")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter load points: under 2 minutes")
    parser.add_argument("--systems", type=_systems, default=SYSTEMS, help="comma-separated: raw,naive,platform")
    parser.add_argument("--rates", type=_floats, help="open-loop rates in jobs/s (default: fractions of raw)")
    parser.add_argument("--clients", type=int, help="closed-loop clients at saturation (default 4 x best batch)")
    parser.add_argument("--batch-sizes", type=_ints, help="raw batch sizes (default 1,8,16,32,64)")
    parser.add_argument("--database-url", help="PostgreSQL server to make a scratch database on")
    parser.add_argument("--redis-url", help="Redis to use (keys are prefixed per run)")
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench", help="where report.json/png go")
    args = parser.parse_args(argv)
    if "raw" not in args.systems and args.model != "noop" and not args.rates:
        parser.error("without raw there is no ceiling to take fractions of: give --rates")
    return args


def _interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = make_plan(args)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even where the shell started us ignoring it
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    out = args.out.resolve()
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    host = machine()
    started = time.monotonic()
    try:
        points = run(args, plan, logs)
    except KeyboardInterrupt:
        log("interrupted: every process it started has been stopped")
        return 130
    config = {
        "model": args.model,
        "device": args.device,
        "device_used": args.device if args.device != "auto" else ("cuda" if host.get("gpu") else "cpu"),
        "systems": list(args.systems),
        "quick": args.quick,
        "plan": asdict(plan),
        "naive_poll_seconds": [NAIVE_POLL_FIRST, NAIVE_POLL_MAX],
        "platform_wait_seconds": WAIT_SECONDS,
        "logs": str(logs),
    }
    report = build_report(config=config, machine=host, points=points, wall_seconds=time.monotonic() - started)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    write_chart(points, out / "report.png")
    print(format_table(points, report["summary"], args.model))
    print(f"\nwall time {report['wall_seconds']:.0f} s; wrote {out / 'report.json'} and {out / 'report.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
