"""The webhook workers' side of the outbox (sync): claim a delivery, record an attempt,
find what is due. Guarded like job transitions: a delivery has one sender at a time."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, and_, func, insert, or_, select, update

from db.tables import WebhookAttempt, WebhookDeliveryStatus, WebhookSecret, webhook_deliveries_table

_deliveries = webhook_deliveries_table
PENDING, SENDING = WebhookDeliveryStatus.pending.value, WebhookDeliveryStatus.sending.value


def _claimable(now: datetime) -> Any:
    return or_(
        and_(_deliveries.c.status == PENDING, _deliveries.c.next_attempt_at <= now),
        and_(_deliveries.c.status == SENDING, _deliveries.c.lease_until < now),  # its sender died
    )


def claim_delivery(
    conn: Connection, *, delivery_id: uuid.UUID, now: datetime, lease_until: datetime
) -> Row[Any] | None:
    """pending → sending, counting the attempt; `None` if another sender has it or it is done."""
    statement = (
        update(_deliveries)
        .where(_deliveries.c.id == delivery_id, _claimable(now))
        .values(status=SENDING, lease_until=lease_until, attempts=_deliveries.c.attempts + 1)
        .returning(*_deliveries.c)
    )
    return conn.execute(statement).one_or_none()


def finish_attempt(
    conn: Connection,
    *,
    delivery_id: uuid.UUID,
    attempt: int,
    attempted_at: datetime,
    status_code: int | None,
    duration: float,
    error: str | None,
    next_status: WebhookDeliveryStatus,
    next_attempt_at: datetime | None,
) -> bool:
    """Records the attempt and moves the delivery on; `False` if this sender lost its lease."""
    done = next_status != WebhookDeliveryStatus.pending
    moved = conn.execute(
        update(_deliveries)
        .where(_deliveries.c.id == delivery_id, _deliveries.c.status == SENDING, _deliveries.c.attempts == attempt)
        .values(
            status=next_status.value,
            lease_until=None,
            dispatched_at=None,
            last_status_code=status_code,
            next_attempt_at=next_attempt_at or attempted_at,
            completed_at=attempted_at if done else None,
        )
    ).rowcount
    conn.execute(
        insert(WebhookAttempt).values(
            id=uuid.uuid4(),
            delivery_id=delivery_id,
            attempt=attempt,
            attempted_at=attempted_at,
            status_code=status_code,
            duration=duration,
            error=error[:1000] if error else None,
        )
    )
    return bool(moved)


def stop_job_deliveries(conn: Connection, *, job_id: uuid.UUID, now: datetime) -> int:
    """The receiver said 410 Gone: nothing more is sent for this job."""
    return conn.execute(
        update(_deliveries)
        .where(_deliveries.c.job_id == job_id, _deliveries.c.status == PENDING)
        .values(status=WebhookDeliveryStatus.gone.value, completed_at=now)
    ).rowcount


def take_due(conn: Connection, *, now: datetime, redispatch_after: timedelta, limit: int) -> list[uuid.UUID]:
    """Deliveries due for an attempt and not handed to a sender recently; marks them handed."""
    due = and_(
        _claimable(now),
        or_(_deliveries.c.dispatched_at.is_(None), _deliveries.c.dispatched_at < now - redispatch_after),
    )
    query = select(_deliveries.c.id).where(due).order_by(_deliveries.c.next_attempt_at).limit(limit)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = list(conn.execute(query).scalars())
    if ids:
        conn.execute(update(_deliveries).where(_deliveries.c.id.in_(ids)).values(dispatched_at=now))
    return ids


def backlog(conn: Connection) -> int:
    """Deliveries not finished yet (pending or being sent)."""
    query = select(func.count()).select_from(_deliveries).where(_deliveries.c.status.in_([PENDING, SENDING]))
    return int(conn.execute(query).scalar_one())


def signing_secrets(conn: Connection, *, owner_id: uuid.UUID, now: datetime) -> Sequence[str]:
    """The current secret first, then any retired one still in its grace period."""
    query = (
        select(WebhookSecret.secret)
        .where(
            WebhookSecret.user_id == owner_id,
            or_(WebhookSecret.retired_at.is_(None), WebhookSecret.retired_at > now),
        )
        .order_by(WebhookSecret.retired_at.is_not(None), WebhookSecret.created_at.desc())
    )
    return list(conn.execute(query).scalars())
