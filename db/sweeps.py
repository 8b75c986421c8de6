"""The sweeper's queries (sync): jobs that Redis may have lost, and jobs whose worker died.

PostgreSQL is the source of truth; these statements find what the delivery path
dropped. Rows are taken with SKIP LOCKED (PostgreSQL) so two sweepers never fight.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, and_, delete, or_, select, update

from db.job_transitions import worker_lost_error
from db.tables import TERMINAL_STATUSES, JobStatus, jobs_table

_jobs = jobs_table


def _lock(query: Select[Any], conn: Connection) -> Select[Any]:
    if conn.dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query


def take_unenqueued(
    conn: Connection, *, now: datetime, stale_before: datetime | None, limit: int
) -> list[tuple[uuid.UUID, str]]:
    """Queued jobs never published, or published before `stale_before`; marks them published now.

    `stale_before=None` takes only the never-published ones.
    """
    never = _jobs.c.enqueued_at.is_(None)
    condition = never if stale_before is None else or_(never, _jobs.c.enqueued_at < stale_before)
    query = (
        select(_jobs.c.id, _jobs.c.model)
        .where(_jobs.c.status == JobStatus.queued.value, condition)
        .order_by(_jobs.c.created_at)
        .limit(limit)
    )
    rows = [(row.id, row.model) for row in conn.execute(_lock(query, conn))]
    if rows:
        conn.execute(update(_jobs).where(_jobs.c.id.in_([job_id for job_id, _ in rows])).values(enqueued_at=now))
    return rows


def requeue_expired(conn: Connection, *, now: datetime, max_attempts: int, limit: int) -> list[tuple[uuid.UUID, str]]:
    """running → queued for jobs whose lease expired with attempts left (their worker died)."""
    expired = and_(
        _jobs.c.status == JobStatus.running.value,
        _jobs.c.lease_until < now,
        _jobs.c.attempts < max_attempts,
    )
    ids = select(_jobs.c.id).where(expired).limit(limit)
    taken = [row.id for row in conn.execute(_lock(ids, conn))]
    if not taken:
        return []
    statement = (
        update(_jobs)
        .where(_jobs.c.id.in_(taken), expired)
        .values(status=JobStatus.queued.value, lease_until=None, enqueued_at=now)
        .returning(_jobs.c.id, _jobs.c.model)
    )
    return [(row.id, row.model) for row in conn.execute(statement)]


def fail_expired(conn: Connection, *, now: datetime, max_attempts: int) -> list[uuid.UUID]:
    """running → failed for jobs whose lease expired on their last attempt."""
    statement = (
        update(_jobs)
        .where(
            _jobs.c.status == JobStatus.running.value,
            _jobs.c.lease_until < now,
            _jobs.c.attempts >= max_attempts,
        )
        .values(
            status=JobStatus.failed.value, error=worker_lost_error(max_attempts), completed_at=now, lease_until=None
        )
        .returning(_jobs.c.id)
    )
    return list(conn.execute(statement).scalars())


def delete_finished(conn: Connection, *, completed_before: datetime, limit: int) -> int:
    """Deletes up to `limit` finished jobs (with their webhook log) completed before the cut-off.

    Small batches in short transactions: retention never holds long locks."""
    ids = (
        select(_jobs.c.id)
        .where(
            _jobs.c.status.in_([status.value for status in TERMINAL_STATUSES]),
            _jobs.c.completed_at < completed_before,
        )
        .limit(limit)
    )
    taken = list(conn.execute(_lock(ids, conn)).scalars())
    if not taken:
        return 0
    return conn.execute(delete(_jobs).where(_jobs.c.id.in_(taken))).rowcount


def mark_unenqueued(conn: Connection, *, job_ids: Sequence[uuid.UUID]) -> None:
    """Publishing failed: leave these for the next sweep."""
    if job_ids:
        conn.execute(
            update(_jobs)
            .where(_jobs.c.id.in_(job_ids), _jobs.c.status == JobStatus.queued.value)
            .values(enqueued_at=None)
        )
