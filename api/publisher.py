"""Hands committed jobs to Celery.

Publishing is kombu (blocking I/O), so it runs on a worker thread, off the event loop.
A failed publish is not an error for the client: the job row is committed, and the
sweeper re-enqueues queued jobs that make no progress.
"""

from __future__ import annotations

import logging
import uuid
from functools import partial

import anyio.to_thread
from celery import Celery

from settings import Settings
from workers.queues import send_job, send_webhook_delivery

log = logging.getLogger(__name__)


class JobPublisher:
    def __init__(self, celery_app: Celery, settings: Settings) -> None:
        self._app = celery_app
        self._settings = settings

    async def enqueue(self, job_id: uuid.UUID, model: str) -> bool:
        send = partial(send_job, self._app, self._settings, job_id, model)
        try:
            await anyio.to_thread.run_sync(send)
        except Exception as exc:  # kombu and redis raise many kinds; all mean "not sent now"
            log.warning("job %s committed but not enqueued (the sweeper will retry): %r", job_id, exc)
            return False
        return True

    async def enqueue_deliveries(self, delivery_ids: list[uuid.UUID]) -> None:
        """First webhook attempts go out at once; if this fails, the dispatcher finds them."""
        for delivery_id in delivery_ids:
            try:
                await anyio.to_thread.run_sync(send_webhook_delivery, self._app, self._settings, delivery_id)
            except Exception as exc:  # kombu and redis raise many kinds; the dispatcher will retry
                log.warning("webhook delivery %s not published now: %r", delivery_id, exc)

    async def ping(self) -> None:
        """Raises unless the broker accepts a connection (Redis or RabbitMQ alike)."""

        def connect() -> None:
            with self._app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=2)

        await anyio.to_thread.run_sync(connect)

    def close(self) -> None:
        self._app.close()
