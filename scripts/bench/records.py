"""What a run collects: the load points it applies, one sample per job, one row per point.
Plain data, shared by the load generators, the statistics and the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Load:
    """One load point: open loop (`rate`, Poisson arrivals) or closed loop (`clients`)."""

    label: str
    rate: float | None = None
    clients: int | None = None


@dataclass(frozen=True)
class Sample:
    """One job as its client saw it: when it was sent and when it was seen finished."""

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
