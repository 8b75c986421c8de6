"""Celery tasks. They take ids, never objects, and re-read state from the database."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from celery import signals

from settings import get_settings
from workers.app import app
from workers.queues import RUN_JOB_TASK, SWEEP_TASK
from workers.runner import run_jobs
from workers.runtime import get_runtime, init_runtime, shutdown_runtime
from workers.sweeper import sweep_quietly

log = logging.getLogger(__name__)


@signals.worker_init.connect
def _load_models(**_: Any) -> None:
    """Load before consuming: a worker takes no message until its model is warm."""
    init_runtime(get_settings())


@signals.worker_shutdown.connect
def _close(**_: Any) -> None:
    shutdown_runtime()


@app.task(name=RUN_JOB_TASK, ignore_result=True)
def run_job(job_id: str) -> None:
    try:
        parsed = uuid.UUID(job_id)
    except (TypeError, ValueError):
        log.error("dropping a message with a malformed job id: %r", job_id)
        return
    run_jobs(get_runtime(), [parsed])


@app.task(name=SWEEP_TASK, ignore_result=True, acks_late=False)
def sweep() -> None:
    sweep_quietly(get_runtime(), app)
