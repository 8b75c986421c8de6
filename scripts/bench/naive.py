"""The usual FastAPI + Celery template (scripts/bench_naive.py): started as its API and a
prefork worker, and used as its own client would: submit, then poll for the result."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

from scripts.bench.http_pool import HttpPool, expect_json
from scripts.bench.load import Call
from scripts.bench.processes import Processes, answers, wait_until
from scripts.bench.progress import log
from scripts.bench.serving import base_env
from scripts.embedded import free_port

NAIVE_POLL_FIRST, NAIVE_POLL_MAX = 0.01, 0.1  # the naive client polls at 10, 20, 40, 80, 100, 100 ... ms


def start_naive(args: argparse.Namespace, group: Processes, redis_url: str, prefix: str) -> str:
    """The template's API and its prefork worker, one pool child per CPU."""
    from scripts.bench_naive import LOADED_MARKER

    children = os.cpu_count() or 1
    env = {
        **base_env(args),
        "BENCH_NAIVE_REDIS_URL": redis_url,
        "BENCH_NAIVE_PREFIX": prefix,
        "BENCH_NAIVE_MODEL": args.model,
        "BENCH_NAIVE_CONCURRENCY": str(children),
    }
    port = free_port()
    python = sys.executable
    api = group.start(
        "naive-api",
        [python, "-m", "uvicorn", "scripts.bench_naive:api", "--host", "127.0.0.1", "--port", str(port),
         "--no-proxy-headers"],
        env,
    )  # fmt: skip
    worker = group.start(
        "naive-worker",
        [python, "-m", "celery", "-A", "scripts.bench_naive:celery_app", "worker", "--pool=prefork",
         f"--concurrency={children}", "--loglevel=INFO", f"--hostname={prefix}@%h"],
        env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    log(f"naive: waiting for the API and {children} worker children to load {args.model}")
    wait_until(
        lambda: (
            worker.text().count(LOADED_MARKER) >= children and " ready." in worker.text() and answers(base + "/healthz")
        ),
        "the naive stack",
        [api, worker],
    )
    return base


class NaiveClient:
    """The template's client: submit, then poll the status URL with a growing interval."""

    def __init__(self, pool: HttpPool) -> None:
        self.pool = pool

    async def __call__(self, message: str) -> dict[str, Any] | None:
        async with self.pool.client() as http:
            task_id = expect_json(await http.post("/tasks", json={"message": message}), 202)["id"]
            delay = NAIVE_POLL_FIRST
            while True:
                await asyncio.sleep(delay)
                status = expect_json(await http.get(f"/tasks/{task_id}"), 200)
                if status["status"] == "SUCCESS":
                    return None
                if status["status"] == "FAILURE":
                    raise RuntimeError(f"task failed: {status.get('error')}")
                delay = min(delay * 2, NAIVE_POLL_MAX)


async def naive_call(pool: HttpPool) -> Call:
    """The call `measure_system` sends the load with (no login: the template has none)."""
    return NaiveClient(pool)
