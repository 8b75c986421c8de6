"""Guarded transitions against a real PostgreSQL: whoever loses a race drops its copy."""

import threading
from datetime import timedelta

import pytest

from db.job_transitions import JobResult, claim_jobs, fail_exhausted, finish_jobs, renew_leases
from db.tables import utcnow
from tests.db.factories import insert_job, insert_user, read_job


@pytest.fixture
def owner(repository_engine):
    return insert_user(repository_engine)


def _claim(engine, job_ids, *, now=None, max_attempts=3):
    now = now or utcnow()
    with engine.begin() as conn:
        return claim_jobs(
            conn, job_ids=job_ids, now=now, lease_until=now + timedelta(seconds=60), max_attempts=max_attempts
        )


def test_two_workers_claiming_one_job_exactly_one_wins(repository_engine, owner):
    for _ in range(20):
        job_id = insert_job(repository_engine, owner)
        barrier = threading.Barrier(2)
        wins = []

        def claim(barrier=barrier, wins=wins, job_id=job_id):
            barrier.wait()
            wins.append(len(_claim(repository_engine, [job_id])))

        threads = [threading.Thread(target=claim) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(wins) == [0, 1]
        job = read_job(repository_engine, job_id)
        assert job["status"] == "running" and job["attempts"] == 1


def test_claim_skips_canceled_finished_and_leased_jobs(repository_engine, owner):
    future = utcnow() + timedelta(minutes=5)
    skipped = [
        insert_job(repository_engine, owner, status="canceled"),
        insert_job(repository_engine, owner, status="succeeded", attempts=1),
        insert_job(repository_engine, owner, status="running", attempts=1, lease_until=future),
    ]
    queued = insert_job(repository_engine, owner)
    claimed = _claim(repository_engine, [*skipped, queued])
    assert [job.id for job in claimed] == [queued]
    assert claimed[0].attempt == 1 and claimed[0].input["message"] == "hello"


def test_a_running_job_with_an_expired_lease_is_claimable_again(repository_engine, owner):
    job_id = insert_job(
        repository_engine, owner, status="running", attempts=1, lease_until=utcnow() - timedelta(seconds=1)
    )
    claimed = _claim(repository_engine, [job_id])
    assert [job.attempt for job in claimed] == [2]


def test_exhausted_jobs_fail_with_worker_lost_instead_of_looping(repository_engine, owner):
    job_id = insert_job(
        repository_engine, owner, status="running", attempts=3, lease_until=utcnow() - timedelta(seconds=1)
    )
    assert _claim(repository_engine, [job_id], max_attempts=3) == []
    with repository_engine.begin() as conn:
        assert fail_exhausted(conn, job_ids=[job_id], now=utcnow(), max_attempts=3) == [job_id]
    job = read_job(repository_engine, job_id)
    assert job["status"] == "failed" and job["error"]["type"] == "worker_lost"


def test_finish_writes_a_mixed_batch_in_one_statement(repository_engine, owner):
    ids = [insert_job(repository_engine, owner) for _ in range(3)]
    claimed = _claim(repository_engine, ids)
    results = [
        JobResult(
            job_id=claimed[0].id, attempt=1, output={"response": "a", "confidence": 0.5}, metrics={"batch_size": 3}
        ),
        JobResult(job_id=claimed[1].id, attempt=1, error={"type": "model_error", "message": "no"}),
        JobResult(job_id=claimed[2].id, attempt=1, output={"response": "c", "confidence": 1.0}),
    ]
    with repository_engine.begin() as conn:
        assert sorted(finish_jobs(conn, results=results, now=utcnow())) == sorted(ids)
    first, second, third = (read_job(repository_engine, job.id) for job in claimed)
    assert (first["status"], first["output"]["response"], first["metrics"]) == ("succeeded", "a", {"batch_size": 3})
    assert (second["status"], second["output"], second["error"]["type"]) == ("failed", None, "model_error")
    assert third["output"]["response"] == "c" and third["lease_until"] is None


def test_a_duplicate_or_stale_result_is_discarded(repository_engine, owner):
    job_id = insert_job(repository_engine, owner)
    _claim(repository_engine, [job_id])
    result = JobResult(job_id=job_id, attempt=1, output={"response": "first", "confidence": 1.0})
    with repository_engine.begin() as conn:
        assert finish_jobs(conn, results=[result], now=utcnow()) == [job_id]
    duplicate = JobResult(job_id=job_id, attempt=1, output={"response": "second", "confidence": 1.0})
    with repository_engine.begin() as conn:
        assert finish_jobs(conn, results=[duplicate], now=utcnow()) == []
    assert read_job(repository_engine, job_id)["output"]["response"] == "first"


def test_a_result_from_a_superseded_attempt_is_discarded(repository_engine, owner):
    job_id = insert_job(
        repository_engine, owner, status="running", attempts=1, lease_until=utcnow() - timedelta(seconds=1)
    )
    _claim(repository_engine, [job_id])  # attempt 2 takes over
    stale = JobResult(job_id=job_id, attempt=1, output={"response": "late", "confidence": 1.0})
    with repository_engine.begin() as conn:
        assert finish_jobs(conn, results=[stale], now=utcnow()) == []
        assert renew_leases(conn, claims=[(job_id, 1)], lease_until=utcnow()) == 0
        assert renew_leases(conn, claims=[(job_id, 2)], lease_until=utcnow() + timedelta(minutes=1)) == 1
    assert read_job(repository_engine, job_id)["status"] == "running"


def test_a_canceled_running_job_keeps_its_cancel(repository_engine, owner):
    from sqlalchemy import update

    from db.tables import jobs_table

    job_id = insert_job(repository_engine, owner)
    _claim(repository_engine, [job_id])
    with repository_engine.begin() as conn:
        conn.execute(update(jobs_table).where(jobs_table.c.id == job_id).values(status="canceled"))
        result = JobResult(job_id=job_id, attempt=1, output={"response": "too late", "confidence": 1.0})
        assert finish_jobs(conn, results=[result], now=utcnow()) == []
    job = read_job(repository_engine, job_id)
    assert job["status"] == "canceled" and job["output"] is None
