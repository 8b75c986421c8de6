"""The workers' side of the job repository: guarded state transitions (sync).

Each transition is one statement whose WHERE clause states the only states it may
leave from. A statement that matches no row means another actor won (a cancel, a
second delivery, a sweeper); the caller drops its copy quietly. Every statement
here handles a whole batch in one round trip.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, case, cast, literal, or_, tuple_, update

from db.tables import JobStatus, JSONType, jobs_table

_jobs = jobs_table


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    id: uuid.UUID
    model: str
    input: dict[str, Any]
    created_at: datetime
    attempt: int
    webhook_events: tuple[str, ...] = ()  # events its webhook subscribed to; empty without one

    def wants(self, event: str) -> bool:
        return event in self.webhook_events


@dataclass(frozen=True, slots=True)
class JobResult:
    job_id: uuid.UUID
    attempt: int
    output: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None

    @property
    def status(self) -> JobStatus:
        return JobStatus.failed if self.error is not None else JobStatus.succeeded


def _claimable(now: datetime) -> Any:
    """Queued, or running on a lease that expired (its worker died)."""
    return or_(
        _jobs.c.status == JobStatus.queued.value,
        and_(_jobs.c.status == JobStatus.running.value, _jobs.c.lease_until < now),
    )


def claim_jobs(
    conn: Connection,
    *,
    job_ids: Sequence[uuid.UUID],
    now: datetime,
    lease_until: datetime,
    max_attempts: int,
) -> list[ClaimedJob]:
    """queued → running for every id still claimable with attempts left."""
    if not job_ids:
        return []
    statement = (
        update(_jobs)
        .where(_jobs.c.id.in_(job_ids), _jobs.c.attempts < max_attempts, _claimable(now))
        .values(
            status=JobStatus.running.value,
            attempts=_jobs.c.attempts + 1,
            started_at=now,
            lease_until=lease_until,
        )
        .returning(
            _jobs.c.id,
            _jobs.c.model,
            _jobs.c.input,
            _jobs.c.created_at,
            _jobs.c.attempts,
            _jobs.c.webhook,
            _jobs.c.webhook_events_filter,
        )
    )
    return [
        ClaimedJob(
            id=row.id,
            model=row.model,
            input=row.input,
            created_at=row.created_at,
            attempt=row.attempts,
            webhook_events=tuple(row.webhook_events_filter or ()) if row.webhook else (),
        )
        for row in conn.execute(statement)
    ]


def worker_lost_error(max_attempts: int) -> dict[str, str]:
    return {"type": "worker_lost", "message": f"the job's worker was lost {max_attempts} times; giving up"}


def fail_exhausted(
    conn: Connection, *, job_ids: Sequence[uuid.UUID], now: datetime, max_attempts: int
) -> list[uuid.UUID]:
    """Claimable jobs that used up their attempts end failed instead of looping."""
    if not job_ids:
        return []
    statement = (
        update(_jobs)
        .where(_jobs.c.id.in_(job_ids), _jobs.c.attempts >= max_attempts, _claimable(now))
        .values(
            status=JobStatus.failed.value, error=worker_lost_error(max_attempts), completed_at=now, lease_until=None
        )
        .returning(_jobs.c.id)
    )
    return list(conn.execute(statement).scalars())


def finish_jobs(conn: Connection, *, results: Sequence[JobResult], now: datetime) -> list[uuid.UUID]:
    """running → succeeded | failed for a whole batch, in one statement.

    Guarded by (id, attempt): a result from an attempt that lost its lease, or for a
    job canceled meanwhile, matches nothing and is discarded.
    """
    if not results:
        return []
    by_id = {result.job_id: result for result in results}
    on_postgresql = conn.dialect.name == "postgresql"

    def per_job(field: str) -> Any:
        # PostgreSQL types a CASE of bare parameters as text; SQLite must not see a
        # CAST to JSON (it would apply numeric affinity).
        def value(result: JobResult) -> Any:
            bound = literal(getattr(result, field), JSONType)
            return cast(bound, JSONType) if on_postgresql else bound

        return case({job_id: value(result) for job_id, result in by_id.items()}, value=_jobs.c.id)

    statuses = {job_id: result.status.value for job_id, result in by_id.items()}
    statement = (
        update(_jobs)
        .where(
            tuple_(_jobs.c.id, _jobs.c.attempts).in_([(r.job_id, r.attempt) for r in results]),
            _jobs.c.status == JobStatus.running.value,
        )
        .values(
            status=case(statuses, value=_jobs.c.id),
            output=per_job("output"),
            error=per_job("error"),
            metrics=per_job("metrics"),
            completed_at=now,
            lease_until=None,
        )
        .returning(_jobs.c.id)
    )
    return list(conn.execute(statement).scalars())


def renew_leases(conn: Connection, *, claims: Iterable[tuple[uuid.UUID, int]], lease_until: datetime) -> int:
    """Pushes the lease of jobs still running under these (id, attempt) claims."""
    pairs = list(claims)
    if not pairs:
        return 0
    statement = (
        update(_jobs)
        .where(
            tuple_(_jobs.c.id, _jobs.c.attempts).in_(pairs),
            _jobs.c.status == JobStatus.running.value,
        )
        .values(lease_until=lease_until)
    )
    return conn.execute(statement).rowcount
