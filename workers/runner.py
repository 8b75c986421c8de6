"""Takes a batch of job ids from delivery to committed results.

claim (one statement) → run each model's jobs → finish (one statement) → notify.
Ids that cannot be claimed (canceled, finished, held by a live lease) are dropped
quietly: the guarded transitions make a redelivered message harmless. Webhook outbox
rows are written in the same transaction as the transition they report. Database
writes are retried through an outage, with the results kept in memory meanwhile.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta

from api.schemas import webhook_event_body
from db.job_transitions import ClaimedJob, JobResult, claim_jobs, fail_exhausted, finish_jobs
from db.tables import utcnow
from db.webhook_outbox import record_events
from workers.db_retry import with_db_retry
from workers.inference import run_model
from workers.metrics import BUSY, observe_finished
from workers.runtime import WorkerRuntime
from workers.webhook_delivery import publish_deliveries

log = logging.getLogger(__name__)


def claim(runtime: WorkerRuntime, job_ids: Sequence[uuid.UUID]) -> list[ClaimedJob]:
    settings = runtime.settings

    def transaction() -> tuple[list[ClaimedJob], list[uuid.UUID], list[uuid.UUID]]:
        now = utcnow()
        with runtime.engine.begin() as conn:
            claimed = claim_jobs(
                conn,
                job_ids=job_ids,
                now=now,
                lease_until=now + timedelta(seconds=settings.JOB_LEASE_SECONDS),
                max_attempts=settings.MAX_ATTEMPTS,
            )
            unclaimed = set(job_ids) - {job.id for job in claimed}
            exhausted = fail_exhausted(conn, job_ids=list(unclaimed), now=now, max_attempts=settings.MAX_ATTEMPTS)
            started = [job.id for job in claimed if job.wants("start")]
            deliveries = record_events(conn, job_ids=started, trigger="start", now=now, render=webhook_event_body)
            deliveries += record_events(
                conn, job_ids=exhausted, trigger="completed", now=now, render=webhook_event_body
            )
        return claimed, exhausted, deliveries

    claimed, exhausted, deliveries = with_db_retry(transaction, seconds=settings.DB_RETRY_SECONDS)
    runtime.notify_finished(exhausted)
    publish_deliveries(runtime, deliveries)
    return claimed


def infer(runtime: WorkerRuntime, jobs: Sequence[ClaimedJob]) -> list[JobResult]:
    claimed_at = time.time()
    by_model: dict[str, list[ClaimedJob]] = defaultdict(list)
    for job in jobs:
        by_model[job.model].append(job)
    results: list[JobResult] = []
    for name, group in by_model.items():
        model = runtime.models.get(name)
        if model is None:
            error = {"type": "model_unavailable", "message": f"no worker here serves model {name!r}"}
            results += [JobResult(job_id=job.id, attempt=job.attempt, error=error) for job in group]
            continue
        group.sort(key=_input_length)  # similar lengths side by side: less padding, tidier splits
        timer = runtime.watchdog.model_call(name, group) if runtime.watchdog else contextlib.nullcontext()
        with timer:
            results += run_model(model, group, claimed_at=claimed_at)
    return results


def _input_length(job: ClaimedJob) -> int:
    context = job.input.get("context") or ()
    return len(job.input["message"]) + sum(len(turn) for turn in ([context] if isinstance(context, str) else context))


def finish(runtime: WorkerRuntime, jobs: Sequence[ClaimedJob], results: Sequence[JobResult]) -> list[uuid.UUID]:
    def transaction() -> tuple[list[uuid.UUID], list[uuid.UUID]]:
        now = utcnow()
        with runtime.engine.begin() as conn:
            finished = finish_jobs(conn, results=results, now=now)
            done = set(finished)
            subscribed = [job.id for job in jobs if job.id in done and job.wants("completed")]
            deliveries = record_events(
                conn, job_ids=subscribed, trigger="completed", now=now, render=webhook_event_body
            )
        return finished, deliveries

    finished, deliveries = with_db_retry(transaction, seconds=runtime.settings.DB_RETRY_SECONDS)
    discarded = len(results) - len(finished)
    if discarded:
        log.info("discarded %d results of jobs canceled, timed out or reclaimed meanwhile", discarded)
    runtime.notify_finished(finished)
    publish_deliveries(runtime, deliveries)
    observe_finished(jobs, results, set(finished), time.time())
    return finished


def run_jobs(runtime: WorkerRuntime, job_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """Runs what can be claimed of `job_ids`; returns the ids whose results were committed."""
    started = time.perf_counter()
    try:
        jobs = claim(runtime, job_ids)
        if not jobs:
            return []
        holding = runtime.watchdog.holding(jobs) if runtime.watchdog else contextlib.nullcontext()
        with holding:
            return finish(runtime, jobs, infer(runtime, jobs))
    finally:
        BUSY.inc(time.perf_counter() - started)
