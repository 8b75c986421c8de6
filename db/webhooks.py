"""The API's side of webhooks (async): signing secrets, the delivery log, redelivery."""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.tables import WebhookAttempt, WebhookDelivery, WebhookDeliveryStatus, WebhookSecret

# The Standard Webhooks format's prefix, not a secret.
SECRET_PREFIX = "whsec_"  # noqa: S105  # nosec B105


def new_secret() -> str:
    """Standard Webhooks' format: `whsec_` + base64 of 24 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


async def current_secret(session: AsyncSession, *, user_id: uuid.UUID) -> WebhookSecret | None:
    query = select(WebhookSecret).where(WebhookSecret.user_id == user_id, WebhookSecret.retired_at.is_(None))
    return (await session.execute(query)).scalar_one_or_none()


async def add_secret(session: AsyncSession, *, user_id: uuid.UUID, now: datetime) -> WebhookSecret:
    secret = WebhookSecret(id=uuid.uuid4(), user_id=user_id, secret=new_secret(), created_at=now)
    session.add(secret)
    await session.flush()
    return secret


async def retire_current_secret(session: AsyncSession, *, user_id: uuid.UUID, until: datetime) -> None:
    """The current secret keeps signing (beside the new one) until `until`."""
    await session.execute(
        update(WebhookSecret)
        .where(WebhookSecret.user_id == user_id, WebhookSecret.retired_at.is_(None))
        .values(retired_at=until)
    )


async def list_deliveries(session: AsyncSession, *, job_id: uuid.UUID) -> Sequence[WebhookDelivery]:
    query = select(WebhookDelivery).where(WebhookDelivery.job_id == job_id).order_by(WebhookDelivery.created_at)
    return (await session.execute(query)).scalars().all()


async def attempts_of(
    session: AsyncSession, *, delivery_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[WebhookAttempt]]:
    if not delivery_ids:
        return {}
    query = (
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id.in_(delivery_ids))
        .order_by(WebhookAttempt.attempted_at, WebhookAttempt.attempt)
    )
    grouped: dict[uuid.UUID, list[WebhookAttempt]] = {delivery_id: [] for delivery_id in delivery_ids}
    for attempt in (await session.execute(query)).scalars():
        grouped[attempt.delivery_id].append(attempt)
    return grouped


async def schedule_redelivery(
    session: AsyncSession, *, job_id: uuid.UUID, delivery_id: uuid.UUID, now: datetime
) -> WebhookDelivery | None:
    """Any delivery not being sent right now goes back to pending, due at once."""
    query = (
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.job_id == job_id,
            WebhookDelivery.status != WebhookDeliveryStatus.sending.value,
        )
        .values(
            status=WebhookDeliveryStatus.pending.value,
            next_attempt_at=now,
            dispatched_at=None,
            completed_at=None,
        )
        .returning(WebhookDelivery)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return (await session.execute(query)).scalar_one_or_none()
