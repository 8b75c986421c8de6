"""The model alone: `predict` in a tight loop in this process, at each batch size. Its best
throughput is the ceiling the serving systems are measured against, its batch-1 time the
floor of their latency."""

from __future__ import annotations

import gc
import secrets
import time

from pydantic import SecretStr

from models.base import ConversationInput
from models.registry import build_model
from scripts.bench.progress import log
from scripts.bench.records import Point
from scripts.bench.stats import latency_ms
from scripts.bench.workload import BENCH_BACKENDS, MESSAGES, Plan
from settings import Settings


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
