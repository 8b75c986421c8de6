"""What one worker process holds for its whole life: a database engine, a Redis client
and its loaded models. Built once, after fork, before the worker consumes anything."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import redis
from celery import Celery
from sqlalchemy import Engine

from db.session import make_sync_engine
from models.base import ConversationInput, Model
from models.registry import build_model
from settings import Settings
from workers.batcher import DynamicBatcher
from workers.queues import job_finished_channel
from workers.watchdog import Watchdog

log = logging.getLogger(__name__)


@dataclass
class WorkerRuntime:
    settings: Settings
    engine: Engine
    redis: redis.Redis
    models: dict[str, Model]
    celery: Celery | None = None  # to publish follow-up work (webhook deliveries)
    batcher: DynamicBatcher | None = None  # model workers feed their jobs through it
    watchdog: Watchdog | None = None  # renews leases, enforces time limits

    @classmethod
    def start(cls, settings: Settings, celery: Celery | None = None) -> WorkerRuntime:
        models = {}
        for name in settings.worker_models if settings.WORKER_ROLE == "models" else ():
            model = build_model(name, settings)
            model.load(settings.MODEL_DEVICE)
            model.predict([ConversationInput(message="Hello, I just wanted to talk for a minute.")])
            log.info("model %s loaded and warmed up on %s", name, settings.MODEL_DEVICE)
            models[name] = model
        return cls(
            settings=settings,
            engine=make_sync_engine(settings, pool_size=4),
            redis=redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5),
            models=models,
            celery=celery,
        )

    def notify_finished(self, job_ids: Iterable[uuid.UUID]) -> None:
        """Wakes long-poll waiters. Best effort: waiters also re-check the database."""
        ids = list(job_ids)
        if not ids:
            return
        try:
            pipe = self.redis.pipeline(transaction=False)
            for job_id in ids:
                pipe.publish(job_finished_channel(self.settings), str(job_id))
            pipe.execute()
        except redis.RedisError as exc:
            log.warning("could not publish %d job notifications: %s", len(ids), exc)

    def close(self) -> None:
        if self.batcher is not None:
            self.batcher.stop()
        if self.watchdog is not None:
            self.watchdog.stop()
        self.engine.dispose()
        self.redis.close()


_lock = threading.Lock()
_runtime: WorkerRuntime | None = None


def init_runtime(settings: Settings, celery: Celery | None = None) -> WorkerRuntime:
    global _runtime
    with _lock:
        if _runtime is None:
            _runtime = WorkerRuntime.start(settings, celery)
        return _runtime


def get_runtime() -> WorkerRuntime:
    if _runtime is None:
        raise RuntimeError("the worker runtime is not initialised (worker_init did not run)")
    return _runtime


def shutdown_runtime() -> None:
    global _runtime
    with _lock:
        if _runtime is not None:
            _runtime.close()
            _runtime = None
