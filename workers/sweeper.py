"""Finds what the delivery path lost and hands it back, from the database's point of view.

- Queued jobs whose publish failed (no `enqueued_at`) are published again.
- If Redis lost its data (restart without persistence, flush), every queued job is
  published again: the sweeper keeps a marker key in Redis, and a missing marker means
  the queues went with it. Queued jobs published longer ago than
  `QUEUED_STALE_SECONDS` are published again too (a message evicted on its own).
- Running jobs whose lease expired (their worker died) are requeued, or failed with
  `worker_lost` once they used `MAX_ATTEMPTS`.

Duplicated messages are harmless: a worker's claim is a guarded transition.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

import redis
import sqlalchemy.exc
from celery import Celery

from api.schemas import webhook_event_body
from db.sweeps import delete_finished, fail_expired, mark_unenqueued, requeue_expired, take_unenqueued
from db.tables import utcnow
from db.webhook_outbox import record_events
from workers.queues import send_job
from workers.runtime import WorkerRuntime
from workers.webhook_delivery import publish_deliveries

log = logging.getLogger(__name__)
BATCH = 500
RETENTION_BATCH = 1000


@dataclass(frozen=True)
class SweepReport:
    republished: int
    publish_failures: int
    failed_worker_lost: int
    redis_lost: bool
    deleted: int = 0


def _marker_key(runtime: WorkerRuntime) -> str:
    return f"{runtime.settings.QUEUE_PREFIX}:sweeper:alive"


def sweep(runtime: WorkerRuntime, celery: Celery) -> SweepReport:
    settings = runtime.settings
    redis_lost = not runtime.redis.exists(_marker_key(runtime))
    if redis_lost:
        log.warning("Redis has no sweeper marker (new or restarted Redis): republishing every queued job")
    now = utcnow()
    stale_before = now if redis_lost else now - timedelta(seconds=settings.QUEUED_STALE_SECONDS)
    to_publish: list[tuple[uuid.UUID, str]] = []
    with runtime.engine.begin() as conn:
        while True:
            batch = take_unenqueued(conn, now=now, stale_before=stale_before, limit=BATCH)
            to_publish += batch
            if len(batch) < BATCH:
                break
        to_publish += requeue_expired(conn, now=now, max_attempts=settings.MAX_ATTEMPTS, limit=BATCH)
        failed = fail_expired(conn, now=now, max_attempts=settings.MAX_ATTEMPTS)
        deliveries = record_events(conn, job_ids=failed, trigger="completed", now=now, render=webhook_event_body)
    runtime.notify_finished(failed)
    publish_deliveries(runtime, deliveries)

    unsent = []
    for job_id, model in to_publish:
        try:
            send_job(celery, settings, job_id, model)
        except Exception as exc:  # kombu and redis raise many kinds; all mean "not sent now"
            log.warning("could not republish job %s: %r", job_id, exc)
            unsent.append(job_id)
    if unsent:
        with runtime.engine.begin() as conn:
            mark_unenqueued(conn, job_ids=unsent)
    if redis_lost:
        runtime.redis.set(_marker_key(runtime), utcnow().isoformat())
    if to_publish or failed:
        log.info("sweep: republished %d, failed %d as worker_lost", len(to_publish) - len(unsent), len(failed))
    return SweepReport(
        republished=len(to_publish) - len(unsent),
        publish_failures=len(unsent),
        failed_worker_lost=len(failed),
        redis_lost=redis_lost,
        deleted=apply_retention(runtime),
    )


def apply_retention(runtime: WorkerRuntime, *, max_batches: int = 20) -> int:
    """Deletes finished jobs older than `RESULT_RETENTION_SECONDS`, a batch per transaction."""
    retention = runtime.settings.RESULT_RETENTION_SECONDS
    if retention is None:
        return 0
    cutoff = utcnow() - timedelta(seconds=retention)
    deleted = 0
    for _ in range(max_batches):
        with runtime.engine.begin() as conn:
            count = delete_finished(conn, completed_before=cutoff, limit=RETENTION_BATCH)
        deleted += count
        if count < RETENTION_BATCH:
            break
    if deleted:
        log.info("retention: deleted %d finished jobs completed before %s", deleted, cutoff.isoformat())
    return deleted


def sweep_quietly(runtime: WorkerRuntime, celery: Celery) -> SweepReport | None:
    """For the periodic task: an outage means "try again next time", not a crash."""
    try:
        return sweep(runtime, celery)
    except (redis.RedisError, sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError) as exc:
        log.warning("sweep skipped, a dependency is unavailable: %s", exc)
        return None
