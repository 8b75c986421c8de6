"""The usual FastAPI + Celery template, as `make bench`'s point of comparison (never served).

One Celery task per request (batch 1); a prefork pool with one child per CPU, each child
loading the model once (`worker_process_init`); results kept in the Redis result backend;
the API submits with `task.delay` and the client polls `AsyncResult` through GET. Nothing
of the platform is used but the model interface, so what differs is the architecture.

    celery -A scripts.bench_naive:celery_app worker --pool=prefork --concurrency=N
    uvicorn scripts.bench_naive:api

Configured by BENCH_NAIVE_* variables (scripts/bench/naive.py sets them) and, for the model,
by settings.py's MODEL_DEVICE and MODEL_BACKENDS.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from celery import Celery, signals
from celery.result import AsyncResult
from fastapi import FastAPI
from pydantic import BaseModel

from models.base import ConversationInput, Model

REDIS_URL = os.environ.get("BENCH_NAIVE_REDIS_URL", "redis://127.0.0.1:6379/0")
PREFIX = os.environ.get("BENCH_NAIVE_PREFIX", "bench-naive")
MODEL_NAME = os.environ.get("BENCH_NAIVE_MODEL", "empathy-minilm")
CONCURRENCY = int(os.environ.get("BENCH_NAIVE_CONCURRENCY", "1"))
LOADED_MARKER = "[bench-naive] model loaded"

celery_app = Celery("bench_naive", broker=REDIS_URL, backend=REDIS_URL)
celery_app.conf.update(
    task_default_queue=f"{PREFIX}.tasks",
    # The prefix keeps a run's keys apart from anyone else's on a shared Redis.
    broker_transport_options={"global_keyprefix": f"{PREFIX}:"},
    result_backend_transport_options={"global_keyprefix": f"{PREFIX}:"},
    result_expires=3600,
    broker_connection_retry_on_startup=True,
    # Loading a model takes longer than the default 4 s a pool child gets to start.
    worker_proc_alive_timeout=600.0,
)

_model: Model | None = None


@signals.worker_process_init.connect
def _load_model(**_: Any) -> None:
    """Each pool child loads its own copy once, after the fork (torch must not cross a fork)."""
    global _model
    from models.registry import build_model
    from settings import get_settings

    settings = get_settings()
    model = build_model(MODEL_NAME, settings)
    _share_cpus()
    model.load(settings.MODEL_DEVICE)
    model.predict([ConversationInput(message="Hello, I just wanted to talk for a minute.")])
    _model = model
    print(f"{LOADED_MARKER} in pid {os.getpid()}", flush=True)


def _share_cpus() -> None:
    """One child per CPU: each gets its share of torch's threads, not all of them (oversubscription)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // CONCURRENCY))


@celery_app.task(name="bench_naive.converse")
def converse(message: str) -> dict[str, Any]:
    if _model is None:
        raise RuntimeError("no model loaded: run under the prefork pool")
    output = _model.predict([ConversationInput(message=message)])[0]
    return {"response": output.response, "confidence": output.confidence, "metadata": output.metadata}


api = FastAPI(title="bench-naive")


class Submit(BaseModel):
    message: str


@api.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@api.post("/tasks", status_code=202)
def submit(body: Submit) -> dict[str, str]:
    return {"id": str(converse.delay(body.message).id)}


@api.get("/tasks/{task_id}")
def task_status(task_id: str) -> dict[str, Any]:
    """The template's status endpoint: PENDING until the result is in Redis."""
    result = AsyncResult(task_id, app=celery_app)
    state = str(result.state)
    if state == "SUCCESS":
        return {"id": task_id, "status": state, "result": result.result}
    if state == "FAILURE":
        return {"id": task_id, "status": state, "error": str(result.result)}
    return {"id": task_id, "status": state}
