"""Load generation, the same for both serving systems: open-loop Poisson arrivals at a
fixed rate, or a closed loop of clients; every job timed from sending it to seeing it
finished, and summed up into one row of the table per load point."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import numpy as np

from scripts.bench.cpu import cpu_use
from scripts.bench.progress import log
from scripts.bench.records import Load, Point, Sample
from scripts.bench.stats import summarize
from scripts.bench.table import cell, offered_label
from scripts.bench.workload import MESSAGES, Plan

Call = Callable[[str], Awaitable[dict[str, Any] | None]]  # one job, seen finished; its `metrics` if any


def poisson_arrivals(rate: float, seconds: float, seed: int) -> list[float]:
    """Offsets (s) of Poisson arrivals at `rate` per second during `seconds`."""
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(1.0 / rate, size=int(rate * seconds * 1.5) + 16)
    offsets = np.cumsum(gaps)
    return [float(x) for x in offsets[offsets < seconds]]


def describe_error(exc: BaseException) -> str:
    """An exception as a short line: its type and message, at most 200 characters."""
    return f"{type(exc).__name__}: {exc}"[:200]


async def _timed(call: Call, index: int, samples: list[Sample], scheduled: float | None = None) -> None:
    sent = time.perf_counter()
    lag = sent - scheduled if scheduled is not None else 0.0
    try:
        metrics = await call(MESSAGES[index % len(MESSAGES)])
    except Exception as exc:  # a failed job is a data point, not the end of the run
        samples.append(Sample(sent, time.perf_counter(), describe_error(exc), lag))
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
    """One load point against one system, its CPU use metered alongside; logged as it ends."""
    meter = asyncio.create_task(cpu_use(groups, plan.warmup, plan.duration))
    if load.rate is not None:
        samples, window, unfinished = await open_loop(call, load.rate, plan, seed)
    else:
        samples, window, unfinished = await closed_loop(call, load.clients or 1, plan)
    point = summarize(system, load, samples, window, unfinished, await meter)
    cpu = ", ".join(f"{name} {cores:.2f}" for name, cores in point.cpu_cores.items())
    log(
        f"{system} {load.label} ({offered_label(point)}): {point.throughput:.1f} jobs/s, p50 {cell(point.p50_ms)} ms, "
        f"p99 {cell(point.p99_ms)} ms, {point.errors} errors, {point.unfinished} unfinished; cores: {cpu}"
    )
    await _barrier(system, call, plan)
    return point


async def _barrier(system: str, call: Call, plan: Plan) -> None:
    """One more job, waited for: the backlog of an overloaded point is gone before the next point."""
    try:
        await asyncio.wait_for(call(MESSAGES[0]), timeout=max(120.0, plan.drain * 4))
    except Exception as exc:  # reported; the next point shows whatever is left
        log(f"{system}: the job after the load point did not finish: {describe_error(exc)}")
