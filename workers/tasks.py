"""Celery tasks. They take ids, never objects, and re-read state from the database."""

from __future__ import annotations

import logging
import uuid
from functools import partial
from typing import Any

from celery import signals

from settings import get_settings
from workers.app import app
from workers.batcher import DynamicBatcher
from workers.metrics import serve as serve_metrics
from workers.queues import DELIVER_WEBHOOK_TASK, DISPATCH_WEBHOOKS_TASK, RUN_JOB_TASK, SWEEP_TASK, consumed_queue_keys
from workers.runner import finish, run_jobs
from workers.runtime import get_runtime, init_runtime, shutdown_runtime
from workers.sweeper import sweep_quietly
from workers.watchdog import Watchdog
from workers.webhook_delivery import deliver, dispatch

log = logging.getLogger(__name__)


@signals.worker_init.connect
def _start(**_: Any) -> None:
    """Load before consuming: a worker takes no message until its model is warm."""
    settings = get_settings()
    runtime = init_runtime(settings, app)
    if runtime.models:
        runtime.watchdog = Watchdog(runtime.engine, settings, partial(finish, runtime))
        runtime.batcher = DynamicBatcher(partial(run_jobs, runtime), settings.MAX_BATCH_SIZE)
    if settings.METRICS_PORT:
        serve_metrics(settings.METRICS_PORT, runtime.redis, consumed_queue_keys(settings))


@signals.worker_shutdown.connect
def _close(**_: Any) -> None:
    shutdown_runtime()


def _parse_id(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (TypeError, ValueError, AttributeError):
        log.error("dropping a message with a malformed id: %r", value)
        return None


@app.task(name=RUN_JOB_TASK, ignore_result=True)
def run_job(job_id: str) -> None:
    parsed = _parse_id(job_id)
    if parsed is None:
        return
    runtime = get_runtime()
    if runtime.batcher is None:
        raise RuntimeError("this worker serves no model")
    runtime.batcher.run(parsed)


@app.task(name=SWEEP_TASK, ignore_result=True, acks_late=False)
def sweep() -> None:
    sweep_quietly(get_runtime(), app)


@app.task(name=DELIVER_WEBHOOK_TASK, ignore_result=True)
def deliver_webhook(delivery_id: str) -> None:
    parsed = _parse_id(delivery_id)
    if parsed is not None:
        deliver(get_runtime(), parsed)


@app.task(name=DISPATCH_WEBHOOKS_TASK, ignore_result=True, acks_late=False)
def dispatch_webhooks() -> None:
    dispatch(get_runtime(), app)
