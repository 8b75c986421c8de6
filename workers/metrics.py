"""Prometheus metrics of a worker process, served on `METRICS_PORT` when it is set.

Names follow Prometheus conventions. The busy fraction of a worker is
`rate(pe_worker_busy_seconds_total[1m])`: a counter of time spent running batches
is exact and cheap, where a gauge would have to pick a window.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence

import redis
from prometheus_client import Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector

from db.job_transitions import ClaimedJob, JobResult

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)

JOBS_FINISHED = Counter("pe_jobs_finished_total", "Jobs that reached a terminal state here.", ["model", "outcome"])
QUEUE_WAIT = Histogram(
    "pe_job_queue_wait_seconds", "From submit to claim by a worker.", ["model"], buckets=LATENCY_BUCKETS
)
INFERENCE = Histogram(
    "pe_model_call_seconds", "Time of one model call (one batch).", ["model"], buckets=LATENCY_BUCKETS
)
END_TO_END = Histogram(
    "pe_job_end_to_end_seconds", "From submit to committed result.", ["model"], buckets=LATENCY_BUCKETS
)
BATCH_SIZE = Histogram("pe_batch_size", "Jobs per model call.", ["model"], buckets=BATCH_BUCKETS)
BUSY = Counter("pe_worker_busy_seconds_total", "Time this worker spent running batches.")


def observe_model_call(model: str, batch_size: int, seconds: float) -> None:
    BATCH_SIZE.labels(model).observe(batch_size)
    INFERENCE.labels(model).observe(seconds)


def observe_finished(
    jobs: Sequence[ClaimedJob], results: Sequence[JobResult], finished: set[uuid.UUID], now: float
) -> None:
    """Per-job metrics of a committed batch (results discarded by a guard are not counted)."""
    by_id = {job.id: job for job in jobs}
    for result in results:
        job = by_id.get(result.job_id)
        if job is None or result.job_id not in finished:
            continue
        JOBS_FINISHED.labels(job.model, result.status.value).inc()
        END_TO_END.labels(job.model).observe(max(0.0, now - job.created_at.timestamp()))
        if result.metrics and "queue_time" in result.metrics:
            QUEUE_WAIT.labels(job.model).observe(result.metrics["queue_time"])


class QueueDepthCollector(Collector):
    """`pe_queue_depth{queue=...}`: messages waiting in each Redis queue, read at scrape time."""

    def __init__(self, client: redis.Redis, keys: dict[str, str]) -> None:
        self._client = client
        self._keys = keys  # queue name → Redis key

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily("pe_queue_depth", "Messages waiting in a broker queue.", labels=["queue"])
        try:
            pipe = self._client.pipeline(transaction=False)
            for key in self._keys.values():
                pipe.llen(key)
            for name, depth in zip(self._keys, pipe.execute(), strict=True):
                family.add_metric([name], float(depth))
        except redis.RedisError as exc:
            log.warning("queue depth not collected: %s", exc)
        yield family


def serve(port: int, client: redis.Redis, queue_keys: dict[str, str]) -> None:
    REGISTRY.register(QueueDepthCollector(client, queue_keys))
    start_http_server(port)
    log.info("metrics on :%d/metrics", port)
