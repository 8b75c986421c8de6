"""The API's side of the job repository (async): create, read, list, cancel.

Functions take keyword arguments, never commit on their own (the caller owns the
transaction) and know nothing of HTTP.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.tables import Job, JobStatus, jobs_table


async def create_job(
    session: AsyncSession,
    *,
    job_id: uuid.UUID,
    owner_id: uuid.UUID,
    model: str,
    input: dict[str, Any],
    webhook: str | None,
    webhook_events_filter: list[str],
    idempotency_key: str | None,
    request_hash: str | None,
    now: datetime,
) -> Job:
    """Inserts with one Core statement (no unit-of-work: this is the hot path) and returns
    the new job as a detached object."""
    values: dict[str, Any] = {
        "id": job_id,
        "owner_id": owner_id,
        "model": model,
        "status": JobStatus.queued.value,
        "input": input,
        "client_user_id": input.get("user_id"),
        "webhook": webhook,
        "webhook_events_filter": webhook_events_filter,
        "idempotency_key": idempotency_key,
        "request_hash": request_hash,
        "attempts": 0,
        "created_at": now,
        "enqueued_at": now,
    }
    await session.execute(insert(jobs_table).values(**values))
    return Job(**values)


async def mark_not_enqueued(session: AsyncSession, *, job_id: uuid.UUID) -> None:
    """Publishing failed: the sweeper picks up queued jobs with no `enqueued_at`."""
    await session.execute(
        update(Job).where(Job.id == job_id, Job.status == JobStatus.queued.value).values(enqueued_at=None)
    )


async def get_job(session: AsyncSession, *, job_id: uuid.UUID, owner_id: uuid.UUID | None) -> Job | None:
    """The job, if it exists and `owner_id` owns it (`None` means any owner)."""
    query = select(Job).where(Job.id == job_id).execution_options(populate_existing=True)
    if owner_id is not None:
        query = query.where(Job.owner_id == owner_id)
    return (await session.execute(query)).scalar_one_or_none()


async def find_by_idempotency_key(session: AsyncSession, *, owner_id: uuid.UUID, key: str) -> Job | None:
    query = select(Job).where(Job.owner_id == owner_id, Job.idempotency_key == key)
    return (await session.execute(query)).scalar_one_or_none()


async def release_idempotency_key(session: AsyncSession, *, job_id: uuid.UUID) -> None:
    """Frees an expired key so a new job may take it; the old job stays."""
    await session.execute(update(Job).where(Job.id == job_id).values(idempotency_key=None, request_hash=None))


async def list_jobs(
    session: AsyncSession,
    *,
    owner_id: uuid.UUID | None,
    limit: int,
    status: str | None = None,
    client_user_id: str | None = None,
    before: tuple[datetime, uuid.UUID] | None = None,
) -> Sequence[Job]:
    """Newest first; `before` is the (created_at, id) of the last job already seen."""
    query = select(Job).order_by(Job.created_at.desc(), Job.id.desc()).limit(limit)
    if owner_id is not None:
        query = query.where(Job.owner_id == owner_id)
    if status is not None:
        query = query.where(Job.status == status)
    if client_user_id is not None:
        query = query.where(Job.client_user_id == client_user_id)
    if before is not None:
        query = query.where(tuple_(Job.created_at, Job.id) < tuple_(*before))
    return (await session.execute(query)).scalars().all()


async def cancel_job(
    session: AsyncSession, *, job_id: uuid.UUID, owner_id: uuid.UUID | None, now: datetime
) -> Job | None:
    """Queued or running → canceled, in one guarded statement. `None` if it was not cancelable."""
    query = (
        update(Job)
        .where(Job.id == job_id, Job.status.in_([JobStatus.queued.value, JobStatus.running.value]))
        .values(status=JobStatus.canceled.value, completed_at=now, lease_until=None)
        .returning(Job)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    if owner_id is not None:
        query = query.where(Job.owner_id == owner_id)
    return (await session.execute(query)).scalar_one_or_none()
