from datetime import timedelta

import pytest

from db.sweeps import fail_expired, mark_unenqueued, requeue_expired, take_unenqueued
from db.tables import utcnow
from tests.db.factories import insert_job, insert_user, read_job


@pytest.fixture
def owner(repository_engine):
    return insert_user(repository_engine)


def test_take_unenqueued_takes_never_published_and_stale_jobs_once(repository_engine, owner):
    now = utcnow()
    fresh = insert_job(repository_engine, owner, enqueued_at=now)
    stale = insert_job(repository_engine, owner, enqueued_at=now - timedelta(minutes=10))
    never = insert_job(repository_engine, owner)
    with repository_engine.begin() as conn:
        mark_unenqueued(conn, job_ids=[never])
        taken = {
            job_id for job_id, _ in take_unenqueued(conn, now=now, stale_before=now - timedelta(minutes=1), limit=1000)
        }
    assert {stale, never} <= taken and fresh not in taken
    with repository_engine.begin() as conn:
        again = {
            job_id for job_id, _ in take_unenqueued(conn, now=now, stale_before=now - timedelta(minutes=1), limit=1000)
        }
    assert not again & {stale, never, fresh}
    assert read_job(repository_engine, never)["enqueued_at"] is not None


def test_expired_leases_are_requeued_or_failed_by_attempts_left(repository_engine, owner):
    past = utcnow() - timedelta(seconds=5)
    retry = insert_job(repository_engine, owner, status="running", attempts=1, lease_until=past)
    give_up = insert_job(repository_engine, owner, status="running", attempts=3, lease_until=past)
    alive = insert_job(
        repository_engine, owner, status="running", attempts=1, lease_until=utcnow() + timedelta(minutes=1)
    )
    with repository_engine.begin() as conn:
        requeued = {job_id for job_id, _ in requeue_expired(conn, now=utcnow(), max_attempts=3, limit=1000)}
        failed = set(fail_expired(conn, now=utcnow(), max_attempts=3))
    assert retry in requeued and give_up not in requeued and alive not in requeued
    assert give_up in failed and retry not in failed
    assert read_job(repository_engine, retry)["status"] == "queued"
    assert read_job(repository_engine, give_up)["error"]["type"] == "worker_lost"
    assert read_job(repository_engine, alive)["status"] == "running"


def test_retention_deletes_only_old_finished_jobs_in_batches(repository_engine, owner):
    from sqlalchemy import update

    from db.sweeps import delete_finished
    from db.tables import jobs_table

    old = [insert_job(repository_engine, owner, status="succeeded", attempts=1) for _ in range(3)]
    recent = insert_job(repository_engine, owner, status="failed", attempts=1)
    unfinished = insert_job(repository_engine, owner)
    with repository_engine.begin() as conn:
        conn.execute(
            update(jobs_table).where(jobs_table.c.id.in_(old)).values(completed_at=utcnow() - timedelta(days=40))
        )
        conn.execute(update(jobs_table).where(jobs_table.c.id == recent).values(completed_at=utcnow()))
    cutoff = utcnow() - timedelta(days=30)
    with repository_engine.begin() as conn:
        assert delete_finished(conn, completed_before=cutoff, limit=2) == 2
    with repository_engine.begin() as conn:
        assert delete_finished(conn, completed_before=cutoff, limit=2) == 1
        assert delete_finished(conn, completed_before=cutoff, limit=2) == 0
    from sqlalchemy import select

    with repository_engine.connect() as conn:
        left = set(
            conn.execute(select(jobs_table.c.id).where(jobs_table.c.id.in_([*old, recent, unfinished]))).scalars()
        )
    assert left == {recent, unfinished}
