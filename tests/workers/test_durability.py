"""Nothing lost, nothing done twice, on a stack of its own that these tests break on purpose:
its own PostgreSQL (pgserver, restartable), its own Redis (restartable, no persistence),
worker processes killed with SIGKILL or stopped with SIGTERM, and celery beat."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from db.session import make_sync_engine
from db.tables import WebhookDelivery
from scripts.embedded import EmbeddedRedis, restart_pgserver, stop_pgserver
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, TEST_MODELS, migrate, service_env
from tests.factories import create_account, login
from tests.support.apps import client_for
from tests.support.processes import ROOT, WorkerProcess, start_worker
from tests.support.receiver import Receiver

pytestmark = pytest.mark.slow

LEASE_SECONDS = 3


@dataclass
class Stack:
    env: dict[str, str]
    redis: EmbeddedRedis
    postgres: object
    logs: Path
    receiver: Receiver
    workers: list[WorkerProcess]

    def start_worker(self) -> WorkerProcess:
        worker = start_worker(self.env, self.logs / f"worker-{uuid.uuid4().hex[:6]}.log")
        worker.wait_ready()
        self.workers.append(worker)
        return worker

    def completed_events(self, job_id: str) -> int:
        """Outbox rows are written in the transaction of the terminal transition: one per completion."""
        engine = make_sync_engine(_settings(self.env))
        with engine.connect() as conn:
            count = conn.execute(
                select(func.count())
                .select_from(WebhookDelivery)
                .where(WebhookDelivery.job_id == uuid.UUID(job_id), WebhookDelivery.event == "conversation.completed")
            ).scalar_one()
        engine.dispose()
        return int(count)


def _settings(env: dict[str, str]):
    """Settings read from `env` exactly as a process started with it would read them."""
    from unittest import mock

    from settings import Settings

    with mock.patch.dict(os.environ, env, clear=True):
        return Settings(_env_file=None)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, env) -> Iterator[Stack]:
    import pgserver

    postgres = pgserver.get_server(tmp_path_factory.mktemp("durable-pg"), cleanup_mode="stop")
    redis = EmbeddedRedis(tmp_path_factory.mktemp("durable-redis"))
    redis.start()
    receiver = Receiver()
    backends = {**TEST_MODELS, "test-limited": "tests.support.models:Slow"}
    stack_env = service_env(
        database_url=postgres.get_uri(),
        redis_url=redis.url,
        queue_prefix=f"pe-durable-{uuid.uuid4().hex[:6]}",
        JWT_SECRET_KEY=env["JWT_SECRET_KEY"],
        MODEL_BACKENDS=json.dumps(backends),
        SERVED_MODELS="test-slow,test-echo,test-limited",
        WORKER_MODELS="test-slow,test-echo,test-limited",
        MODEL_TIME_LIMITS=json.dumps({"test-limited": 1.5}),
        JOB_LEASE_SECONDS=str(LEASE_SECONDS),
        MAX_ATTEMPTS="3",
        SWEEP_INTERVAL_SECONDS="1",
        QUEUED_STALE_SECONDS="30",
        DB_RETRY_SECONDS="60",
        MAX_BATCH_SIZE="4",
    )
    migrate(stack_env)
    logs = tmp_path_factory.mktemp("durable-logs")
    beat = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers.app", "beat", "--schedule", str(logs / "beat")],
        cwd=ROOT,
        env=stack_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    built = Stack(stack_env, redis, postgres, logs, receiver, [])
    try:
        yield built
    finally:
        for worker in built.workers:
            worker.kill()
        beat.kill()
        beat.wait()
        receiver.close()
        redis.stop()
        stop_pgserver(postgres)


@pytest.fixture(scope="module")
async def api(stack) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(_settings(stack.env)) as http:
        yield http


@pytest.fixture(scope="module")
async def headers(api) -> dict[str, str]:
    admin = await login(api, ADMIN_EMAIL, ADMIN_PASSWORD)
    return (await create_account(api, admin)).headers


@pytest.fixture
def only_workers(stack) -> Iterator[list[WorkerProcess]]:
    """Each test starts the workers it needs and leaves none behind."""
    yield stack.workers
    for worker in list(stack.workers):
        worker.kill()
        stack.workers.remove(worker)


async def _submit(api, headers, receiver, message, model="test-slow") -> str:
    body = {"message": message, "model": model, "webhook": receiver.url(), "webhook_events_filter": ["completed"]}
    response = await api.post("/v1/conversations", json=body, headers=headers)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


async def _job(api, headers, job_id):
    response = await api.get(f"/v1/conversations/{job_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def _until(api, headers, job_id, predicate, timeout=60.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            job = await _job(api, headers, job_id)
            if predicate(job):
                return job
        except AssertionError:
            pass  # the API may answer 503 while a dependency restarts
        if loop.time() > deadline:
            raise AssertionError(f"job {job_id} never matched; last seen {job}")
        await asyncio.sleep(0.2)


def _terminal(job):
    return job["status"] in ("succeeded", "failed", "canceled")


async def test_a_sigkilled_workers_jobs_complete_on_another_worker_exactly_once(api, headers, stack, only_workers):
    first = stack.start_worker()
    ids = [await _submit(api, headers, stack.receiver, "sleep:2") for _ in range(4)]
    await _until(api, headers, ids[0], lambda job: job["status"] == "running")
    first.kill()
    stack.start_worker()
    for job_id in ids:
        job = await _until(api, headers, job_id, _terminal)
        assert job["status"] == "succeeded", job
        assert stack.completed_events(job_id) == 1
    attempts = [(await _job(api, headers, job_id))["attempts"] for job_id in ids]
    assert attempts[0] == 2  # the killed attempt counted; the second one finished it


async def test_a_redis_restart_without_persistence_loses_no_accepted_job(api, headers, stack, only_workers):
    ids = [await _submit(api, headers, stack.receiver, f"queued {i}", model="test-echo") for i in range(10)]
    stack.redis.restart()  # the queued messages are gone with it
    ids += [await _submit(api, headers, stack.receiver, f"after {i}", model="test-echo") for i in range(5)]
    stack.start_worker()
    for job_id in ids:
        job = await _until(api, headers, job_id, _terminal)
        assert job["status"] == "succeeded"
        assert stack.completed_events(job_id) == 1


async def test_a_postgresql_restart_loses_no_job(api, headers, stack, only_workers):
    stack.start_worker()
    ids = [await _submit(api, headers, stack.receiver, "sleep:1.5") for _ in range(6)]
    await _until(api, headers, ids[0], lambda job: job["status"] == "running")
    await asyncio.to_thread(restart_pgserver, stack.postgres)
    for job_id in ids:
        job = await _until(api, headers, job_id, _terminal)
        assert job["status"] == "succeeded", job
        assert stack.completed_events(job_id) == 1


async def test_a_job_whose_worker_dies_every_time_ends_worker_lost(api, headers, stack, only_workers):
    job_id = await _submit(api, headers, stack.receiver, "sleep:60")
    for attempt in (1, 2, 3):
        worker = stack.start_worker()
        await _until(api, headers, job_id, lambda job, n=attempt: job["status"] == "running" and job["attempts"] == n)
        worker.kill()
        stack.workers.remove(worker)
    stack.start_worker()  # consumes the maintenance queue, where the sweeper runs
    job = await _until(api, headers, job_id, _terminal, timeout=30)
    assert job["status"] == "failed"
    assert job["error"]["type"] == "worker_lost"
    assert job["attempts"] == 3


async def test_a_long_job_keeps_its_lease_and_runs_once(api, headers, stack, only_workers):
    stack.start_worker()
    job_id = await _submit(api, headers, stack.receiver, f"sleep:{LEASE_SECONDS * 3}")
    job = await _until(api, headers, job_id, _terminal, timeout=60)
    assert job["status"] == "succeeded"
    assert job["attempts"] == 1
    assert stack.completed_events(job_id) == 1


async def test_a_job_over_its_time_limit_fails_with_timeout(api, headers, stack, only_workers):
    stack.start_worker()
    job_id = await _submit(api, headers, stack.receiver, "sleep:4", model="test-limited")
    job = await _until(api, headers, job_id, _terminal, timeout=30)
    assert job["status"] == "failed"
    assert job["error"]["type"] == "timeout"
    await asyncio.sleep(3)  # the model call ends later: its result must be discarded
    job = await _job(api, headers, job_id)
    assert job["status"] == "failed" and job["output"] is None
    quick = await _submit(api, headers, stack.receiver, "fine", model="test-echo")
    assert (await _until(api, headers, quick, _terminal))["status"] == "succeeded"


async def test_sigterm_finishes_the_batch_in_hand_and_loses_nothing(api, headers, stack, only_workers):
    worker = stack.start_worker()
    ids = [await _submit(api, headers, stack.receiver, "sleep:1.5") for _ in range(10)]
    await _until(api, headers, ids[0], lambda job: job["status"] == "running")
    await asyncio.to_thread(worker.stop)  # warm shutdown
    assert worker.process.returncode == 0, worker.log()[-3000:]
    stack.workers.remove(worker)
    stack.start_worker()
    for job_id in ids:
        job = await _until(api, headers, job_id, _terminal)
        assert job["status"] == "succeeded"
        assert stack.completed_events(job_id) == 1
    assert (await _job(api, headers, ids[0]))["attempts"] == 1  # the batch in hand was finished, not redone


async def test_workers_reconnect_on_their_own_after_a_redis_outage(api, headers, stack, only_workers):
    worker = stack.start_worker()
    stack.redis.stop()
    await asyncio.sleep(3)  # long enough for the worker to notice and retry, not just blink
    stack.redis.start()
    ids = [await _submit(api, headers, stack.receiver, f"after outage {i}", model="test-echo") for i in range(5)]
    for job_id in ids:
        assert (await _until(api, headers, job_id, _terminal))["status"] == "succeeded"
    assert worker.process.poll() is None, worker.log()[-3000:]
