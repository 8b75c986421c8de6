"""Queue and channel names, and the one way a job id is put on a queue.

Shared by the API (which publishes on submit) and the sweeper (which re-publishes).
"""

from __future__ import annotations

import uuid

from celery import Celery

from settings import Settings

RUN_JOB_TASK = "pe.run_job"
SWEEP_TASK = "pe.sweep"
DELIVER_WEBHOOK_TASK = "pe.deliver_webhook"
DISPATCH_WEBHOOKS_TASK = "pe.dispatch_webhooks"


def model_queue(settings: Settings, model: str) -> str:
    """Each model has its queue, so a worker consumes only what it can run."""
    return f"{settings.QUEUE_PREFIX}.jobs.{model}"


def maintenance_queue(settings: Settings) -> str:
    return f"{settings.QUEUE_PREFIX}.maintenance"


def webhook_queue(settings: Settings) -> str:
    """Webhook deliveries have their own queue and workers: a slow receiver never holds a GPU."""
    return f"{settings.QUEUE_PREFIX}.webhooks"


def consumed_queues(settings: Settings) -> list[str]:
    """The queues a worker of `settings.WORKER_ROLE` consumes."""
    if settings.WORKER_ROLE == "webhooks":
        return [webhook_queue(settings)]
    return [model_queue(settings, name) for name in settings.worker_models] + [maintenance_queue(settings)]


def consumed_queue_keys(settings: Settings) -> dict[str, str]:
    """Queue name → its Redis list key (kombu prefixes every key with the deployment's prefix)."""
    return {queue: f"{settings.QUEUE_PREFIX}:{queue}" for queue in consumed_queues(settings)}


def job_finished_channel(settings: Settings) -> str:
    """Redis pub/sub channel carrying the id of every job that reached a terminal state."""
    return f"{settings.QUEUE_PREFIX}:job-finished"


def send_job(celery: Celery, settings: Settings, job_id: uuid.UUID, model: str) -> None:
    """Publishes a job id (blocking). The task id is the job id, so Flower shows jobs by id."""
    celery.send_task(RUN_JOB_TASK, args=[str(job_id)], queue=model_queue(settings, model), task_id=str(job_id))


def send_webhook_delivery(celery: Celery, settings: Settings, delivery_id: uuid.UUID) -> None:
    celery.send_task(DELIVER_WEBHOOK_TASK, args=[str(delivery_id)], queue=webhook_queue(settings))
