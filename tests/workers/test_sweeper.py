"""The sweeper finds, from the database, what Redis lost."""

import asyncio
import uuid
from datetime import timedelta

import pytest
import redis

from celeryconfig import make_celery
from db.tables import utcnow
from settings import Settings
from tests.db.factories import insert_job, insert_user, read_job
from workers.queues import model_queue
from workers.runtime import WorkerRuntime
from workers.sweeper import sweep


@pytest.fixture
def isolated(repository_engine, env):
    """A runtime on the repository database, publishing under a prefix nobody consumes."""
    settings = Settings(
        DATABASE_URL=env["DATABASE_URL"], REDIS_URL=env["REDIS_URL"], ENVIRONMENT="development",
        QUEUE_PREFIX=f"sweep-{uuid.uuid4().hex[:8]}", MAX_ATTEMPTS=3, QUEUED_STALE_SECONDS=60,
    )  # fmt: skip
    client = redis.Redis.from_url(settings.REDIS_URL)
    runtime = WorkerRuntime(settings=settings, engine=repository_engine, redis=client, models={})
    celery = make_celery(settings)
    yield runtime, celery
    celery.close()
    for key in client.scan_iter(f"{settings.QUEUE_PREFIX}*"):
        client.delete(key)


def _queued_messages(runtime, model="test-echo"):
    settings = runtime.settings
    return runtime.redis.llen(f"{settings.QUEUE_PREFIX}:{model_queue(settings, model)}")


def test_a_new_redis_gets_every_queued_job_again(isolated, repository_engine):
    runtime, celery = isolated
    owner = insert_user(repository_engine)
    job_id = insert_job(repository_engine, owner, enqueued_at=utcnow())
    first = sweep(runtime, celery)
    assert first.redis_lost and first.republished >= 1
    assert _queued_messages(runtime) >= 1
    second = sweep(runtime, celery)
    assert not second.redis_lost
    assert read_job(repository_engine, job_id)["status"] == "queued"


def test_unpublished_and_stale_jobs_are_published_fresh_ones_are_not(isolated, repository_engine):
    runtime, celery = isolated
    sweep(runtime, celery)  # sets the marker
    owner = insert_user(repository_engine)
    stale = insert_job(repository_engine, owner, enqueued_at=utcnow() - timedelta(minutes=5))
    before = _queued_messages(runtime)
    report = sweep(runtime, celery)
    assert report.republished >= 1 and not report.redis_lost
    assert _queued_messages(runtime) >= before + 1
    assert read_job(repository_engine, stale)["enqueued_at"] > utcnow() - timedelta(minutes=1)


def test_publish_failure_leaves_the_job_for_the_next_sweep(repository_engine, env):
    settings = Settings(
        DATABASE_URL=env["DATABASE_URL"], REDIS_URL=env["REDIS_URL"], BROKER_URL="redis://127.0.0.1:1/0",
        ENVIRONMENT="development", QUEUE_PREFIX=f"sweep-{uuid.uuid4().hex[:8]}",
    )  # fmt: skip
    client = redis.Redis.from_url(settings.REDIS_URL)
    runtime = WorkerRuntime(settings=settings, engine=repository_engine, redis=client, models={})
    owner = insert_user(repository_engine)
    job_id = insert_job(repository_engine, owner, enqueued_at=utcnow() - timedelta(minutes=5))
    report = sweep(runtime, make_celery(settings))
    assert report.publish_failures >= 1
    assert read_job(repository_engine, job_id)["enqueued_at"] is None
    client.delete(f"{settings.QUEUE_PREFIX}:sweeper:alive")


async def test_redis_losing_its_queue_loses_no_job(client, worker, account, env, settings):
    """A queued job whose message is gone (as after a Redis restart) still completes."""
    from sqlalchemy import update

    from db.session import make_sync_engine
    from db.tables import jobs_table

    engine = make_sync_engine(settings)
    job_id = insert_job(engine, account.id, model="test-echo", message="lost in redis")
    with engine.begin() as conn:  # as if published a moment ago, so only the marker can find it
        conn.execute(update(jobs_table).where(jobs_table.c.id == job_id).values(enqueued_at=utcnow()))
    redis.Redis.from_url(settings.REDIS_URL).delete(f"{settings.QUEUE_PREFIX}:sweeper:alive")
    for _ in range(200):
        if read_job(engine, job_id)["status"] == "succeeded":
            break
        await asyncio.sleep(0.1)
    assert read_job(engine, job_id)["status"] == "succeeded"
    engine.dispose()
