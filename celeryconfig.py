"""Celery's settings, derived from settings.py (the one source of configuration).

At-least-once delivery: a message is acknowledged only after its job's result is
committed (`task_acks_late`), and a worker that dies mid-task hands its messages
back (`task_reject_on_worker_lost`). Guarded state transitions in the database turn
that into exactly-once results.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from settings import Settings
from workers.queues import DISPATCH_WEBHOOKS_TASK, SWEEP_TASK, maintenance_queue, webhook_queue


def celery_config(settings: Settings) -> dict[str, Any]:
    return {
        "broker_url": settings.broker_url,
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": 4.0,
        "broker_transport_options": {
            # Longer than any job may run: the lease sweeper, not this timeout, recovers dead workers.
            "visibility_timeout": max(3600.0, 4 * settings.JOB_LEASE_SECONDS),
            "socket_timeout": 10.0,
            "socket_connect_timeout": 4.0,
            "retry_on_timeout": True,
            # Every key kombu writes carries the deployment's prefix, so deployments can share a Redis.
            "global_keyprefix": f"{settings.QUEUE_PREFIX}:",
        },
        "broker_pool_limit": 32,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "result_backend": None,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "task_default_queue": f"{settings.QUEUE_PREFIX}.default",
        "task_create_missing_queues": True,
        # Publishing runs on the API's request path: fail fast and let the sweeper retry later.
        "task_publish_retry_policy": {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5},
        "worker_prefetch_multiplier": 1,
        "worker_send_task_events": True,
        # No "task-sent" events: one more Redis publish per submit on the API's hot path;
        # Flower still sees every task from the worker's received/started/succeeded events.
        "task_send_sent_event": False,
        "worker_hijack_root_logger": False,
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "timezone": "UTC",
        "enable_utc": True,
        # The sweeper (workers/sweeper.py) runs from `celery beat`; an old tick is dropped, not queued up.
        "beat_schedule": {
            "sweep": {
                "task": SWEEP_TASK,
                "schedule": settings.SWEEP_INTERVAL_SECONDS,
                "options": {"queue": maintenance_queue(settings), "expires": settings.SWEEP_INTERVAL_SECONDS},
            },
            "dispatch-webhooks": {
                "task": DISPATCH_WEBHOOKS_TASK,
                "schedule": settings.WEBHOOK_DISPATCH_INTERVAL_SECONDS,
                "options": {
                    "queue": webhook_queue(settings),
                    "expires": settings.WEBHOOK_DISPATCH_INTERVAL_SECONDS,
                },
            },
        },
    }


def make_celery(settings: Settings, *, include: list[str] | None = None) -> Celery:
    """A Celery app for these settings. Only workers pass `include` (their task modules)."""
    celery = Celery("pixelated_empathy", include=include or [], set_as_current=include is not None)
    celery.conf.update(celery_config(settings))
    return celery
