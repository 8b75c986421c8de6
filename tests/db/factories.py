"""Rows for repository tests, inserted directly (these tests exercise the SQL, not the API)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Engine, insert

from db.tables import User, jobs_table, utcnow


def insert_user(engine: Engine) -> uuid.UUID:
    user_id = uuid.uuid4()
    with engine.begin() as conn:
        conn.execute(
            insert(User).values(
                id=user_id,
                email=f"{user_id}@example.com",
                hashed_password="x",
                role="user",
                is_active=True,
                created_at=utcnow(),
            )
        )
    return user_id


def insert_job(
    engine: Engine,
    owner_id: uuid.UUID,
    *,
    status: str = "queued",
    attempts: int = 0,
    lease_until: datetime | None = None,
    enqueued_at: datetime | None = None,
    model: str = "test-echo",
    message: str = "hello",
) -> uuid.UUID:
    job_id = uuid.uuid4()
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            insert(jobs_table).values(
                id=job_id,
                owner_id=owner_id,
                model=model,
                status=status,
                input={"message": message, "context": None, "user_id": None},
                webhook_events_filter=["start", "completed"],
                attempts=attempts,
                lease_until=lease_until,
                enqueued_at=enqueued_at or now,
                created_at=now,
            )
        )
    return job_id


def read_job(engine: Engine, job_id: uuid.UUID) -> dict[str, object]:
    from sqlalchemy import select

    with engine.connect() as conn:
        row = conn.execute(select(jobs_table).where(jobs_table.c.id == job_id)).mappings().one()
    return dict(row)
