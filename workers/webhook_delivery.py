"""Delivering webhook outbox rows: one attempt at a time, retried on the schedule.

`deliver` claims a delivery (one sender at a time), signs and sends it, records the
attempt, and decides what next: done on 2xx; gone on 410 (and nothing more for that
job); otherwise the next attempt after `WEBHOOK_RETRY_SCHEDULE[n]` seconds ± 10 %
(or the receiver's Retry-After if longer), until the schedule runs out. `dispatch`
(every few seconds, from beat) hands due deliveries to the webhook workers.
"""

from __future__ import annotations

import json
import logging
import random
import uuid
from datetime import timedelta

from celery import Celery
from prometheus_client import Counter, Gauge, Histogram

from db.tables import WebhookDeliveryStatus, utcnow
from db.webhook_deliveries import (
    backlog,
    claim_delivery,
    finish_attempt,
    signing_secrets,
    stop_job_deliveries,
    take_due,
)
from workers.queues import send_webhook_delivery
from workers.runtime import WorkerRuntime
from workers.webhook_sender import AttemptResult, send, signed_headers

log = logging.getLogger(__name__)

DELIVERIES = Counter("pe_webhook_deliveries_total", "Webhook delivery attempts, by outcome.", ["outcome"])
ATTEMPT_SECONDS = Histogram(
    "pe_webhook_attempt_duration_seconds",
    "Time of one webhook attempt.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30),
)
BACKLOG = Gauge("pe_webhook_outbox_backlog", "Webhook deliveries not finished yet.")

JITTER = 0.1
MAX_DELAY_SECONDS = 24 * 3600.0
REDISPATCH_AFTER = timedelta(minutes=1)
DISPATCH_BATCH = 500


def next_delay(schedule: list[float], attempts_made: int, retry_after: float | None) -> float | None:
    """Seconds until the next attempt, or `None` when the schedule is used up."""
    if attempts_made >= len(schedule):
        return None
    # Retry jitter, not a security decision.
    delay = schedule[attempts_made] * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311  # nosec B311
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, MAX_DELAY_SECONDS)


def _outcome(result: AttemptResult) -> WebhookDeliveryStatus:
    if result.succeeded:
        return WebhookDeliveryStatus.succeeded
    if result.status_code == 410:
        return WebhookDeliveryStatus.gone
    return WebhookDeliveryStatus.pending


def deliver(runtime: WorkerRuntime, delivery_id: uuid.UUID) -> WebhookDeliveryStatus | None:
    """One attempt; the delivery's status after it, or `None` if it was not ours to send."""
    settings = runtime.settings
    now = utcnow()
    with runtime.engine.begin() as conn:
        delivery = claim_delivery(
            conn,
            delivery_id=delivery_id,
            now=now,
            lease_until=now + timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS + 60),
        )
        if delivery is None:
            return None
        secrets = list(signing_secrets(conn, owner_id=delivery.owner_id, now=now))
    if not secrets:
        log.error("delivery %s: its account has no signing secret", delivery_id)
    body = json.dumps(delivery.payload, separators=(",", ":"))
    attempted_at = utcnow()
    headers = signed_headers(message_id=f"msg_{delivery.id.hex}", timestamp=attempted_at, body=body, secrets=secrets)
    result = send(
        delivery.url,
        body=body,
        headers=headers,
        allowed=settings.WEBHOOK_ALLOWED_NETWORKS,
        timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
    )
    status = _outcome(result)
    next_attempt_at = None
    if status == WebhookDeliveryStatus.pending:
        delay = next_delay(settings.WEBHOOK_RETRY_SCHEDULE, delivery.attempts, result.retry_after)
        if delay is None:
            status = WebhookDeliveryStatus.failed
        else:
            next_attempt_at = utcnow() + timedelta(seconds=delay)
    with runtime.engine.begin() as conn:
        finish_attempt(
            conn,
            delivery_id=delivery.id,
            attempt=delivery.attempts,
            attempted_at=attempted_at,
            status_code=result.status_code,
            duration=result.duration,
            error=result.error,
            next_status=status,
            next_attempt_at=next_attempt_at,
        )
        if status == WebhookDeliveryStatus.gone:
            stop_job_deliveries(conn, job_id=delivery.job_id, now=utcnow())
    ATTEMPT_SECONDS.observe(result.duration)
    DELIVERIES.labels({"succeeded": "success", "pending": "retry"}.get(status.value, status.value)).inc()
    if not result.succeeded:
        log.info("webhook %s attempt %d: %s → %s", delivery.id, delivery.attempts, result.error, status.value)
    return status


def dispatch(runtime: WorkerRuntime, celery: Celery) -> int:
    """Publishes every due delivery; returns how many."""
    now = utcnow()
    with runtime.engine.begin() as conn:
        due = take_due(conn, now=now, redispatch_after=REDISPATCH_AFTER, limit=DISPATCH_BATCH)
        BACKLOG.set(backlog(conn))
    for delivery_id in due:
        send_webhook_delivery(celery, runtime.settings, delivery_id)
    return len(due)


def publish_deliveries(runtime: WorkerRuntime, delivery_ids: list[uuid.UUID]) -> None:
    """First attempts go out at once; if publishing fails, `dispatch` finds them anyway."""
    if runtime.celery is None:
        return
    for delivery_id in delivery_ids:
        try:
            send_webhook_delivery(runtime.celery, runtime.settings, delivery_id)
        except Exception as exc:  # kombu and redis raise many kinds; the dispatcher will retry
            log.warning("delivery %s not published now (the dispatcher will): %r", delivery_id, exc)
