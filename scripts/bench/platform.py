"""This platform, as scripts/run_stack.py starts it (migrations, API, one model worker),
used as a client should: an API key, `Prefer: wait`, and a long poll if that is not enough."""

from __future__ import annotations

import argparse
import secrets
import subprocess
import sys
from typing import Any

from scripts.bench.http_pool import WAIT_SECONDS, HttpPool, expect_json
from scripts.bench.load import Call
from scripts.bench.processes import ROOT, Processes, answers, wait_until
from scripts.bench.progress import log
from scripts.bench.serving import base_env
from scripts.embedded import free_port

ADMIN_EMAIL = "bench-admin@example.com"


def start_platform(
    args: argparse.Namespace, group: Processes, database_url: str, redis_url: str, prefix: str
) -> tuple[str, str]:
    """The real stack, as scripts/run_stack.py starts it: migrations, API, one model worker."""
    password = secrets.token_urlsafe(16)
    env = {
        **base_env(args),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "QUEUE_PREFIX": prefix,
        "FIRST_SUPERUSER": ADMIN_EMAIL,
        "FIRST_SUPERUSER_PASSWORD": password,
        "DEFAULT_MODEL": args.model,
        "SERVED_MODELS": args.model,
        "RATE_LIMIT_ENABLED": "false",
        "MAX_JOBS_IN_FLIGHT_PER_ACCOUNT": "100000000",
        "MAX_QUEUE_DEPTH": "100000000",
    }
    python = sys.executable
    with open(group.log_dir / "platform-migrate.log", "wb") as out:
        subprocess.run(
            [python, "-m", "alembic", "upgrade", "head"],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    port = free_port()
    api = group.start(
        "platform-api",
        [python, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(port), "--no-proxy-headers"],
        env,
    )
    worker = group.start("platform-worker", [python, "-m", "workers"], env)
    base = f"http://127.0.0.1:{port}"
    log(f"platform: waiting for the API and the worker to load {args.model}")
    wait_until(lambda: " ready." in worker.text() and answers(base + "/readyz"), "the platform", [api, worker])
    return base, password


class PlatformClient:
    """Submits with `Prefer: wait`, long-polls if that was not enough: one job, seen finished."""

    terminal = frozenset({"succeeded", "failed", "canceled"})

    def __init__(self, pool: HttpPool, api_key: str) -> None:
        self.pool = pool
        self.headers = {"X-API-Key": api_key}

    async def __call__(self, message: str) -> dict[str, Any] | None:
        async with self.pool.client() as http:
            response = await http.post(
                "/v1/conversations",
                json={"message": message},
                headers={**self.headers, "Prefer": f"wait={WAIT_SECONDS}"},
            )
            job = expect_json(response, 200, 202)
            while job["status"] not in self.terminal:
                response = await http.get(
                    f"/v1/conversations/{job['id']}", params={"wait": WAIT_SECONDS}, headers=self.headers
                )
                job = expect_json(response, 200)
        if job["status"] != "succeeded":
            raise RuntimeError(f"job {job['status']}: {job.get('error')}")
        metrics: dict[str, Any] | None = job.get("metrics")
        return metrics


async def platform_call(pool: HttpPool, password: str) -> Call:
    """Logs in as the first superuser and creates the API key the load is sent with."""
    http = pool.clients[0]
    token = expect_json(await http.post("/v1/auth/token", data={"username": ADMIN_EMAIL, "password": password}), 200)
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    key = expect_json(await http.post("/v1/api-keys", json={"name": "bench"}, headers=bearer), 201)["key"]
    return PlatformClient(pool, str(key))
