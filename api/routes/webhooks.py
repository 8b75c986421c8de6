"""Webhook signing secrets, and the delivery log of a conversation."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import APIRouter
from sqlalchemy.exc import IntegrityError

from api.deps import CurrentUser, JobScope, PublisherDep, ReadRateLimit, SessionDep, SettingsDep
from api.errors import NotFound
from api.schemas import WebhookDeliveryView, WebhookSecretView
from db import jobs, webhooks
from db.tables import WebhookSecret, utcnow

router = APIRouter(tags=["webhooks"], dependencies=[ReadRateLimit])


async def _current_or_new(session: SessionDep, user_id: uuid.UUID) -> WebhookSecret:
    secret = await webhooks.current_secret(session, user_id=user_id)
    if secret is not None:
        return secret
    try:
        secret = await webhooks.add_secret(session, user_id=user_id, now=utcnow())
        await session.commit()
        return secret
    except IntegrityError:  # a concurrent request created it first
        await session.rollback()
        existing = await webhooks.current_secret(session, user_id=user_id)
        if existing is None:
            raise
        return existing


@router.get("/v1/webhooks/secret", response_model=WebhookSecretView)
async def get_secret(user: CurrentUser, session: SessionDep) -> WebhookSecretView:
    """Your account's signing secret (created on first use). Verify every webhook with it."""
    return WebhookSecretView(key=(await _current_or_new(session, user.id)).secret)


@router.post("/v1/webhooks/secret/rotate", response_model=WebhookSecretView)
async def rotate_secret(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> WebhookSecretView:
    """A new secret; the previous one keeps signing beside it for `WEBHOOK_SECRET_GRACE_SECONDS`."""
    now = utcnow()
    until = now + timedelta(seconds=settings.WEBHOOK_SECRET_GRACE_SECONDS)
    await webhooks.retire_current_secret(session, user_id=user.id, until=until)
    secret = await webhooks.add_secret(session, user_id=user.id, now=now)
    await session.commit()
    return WebhookSecretView(key=secret.secret, previous_valid_until=until)


@router.get("/v1/conversations/{job_id}/webhook-deliveries", response_model=list[WebhookDeliveryView])
async def list_deliveries(job_id: uuid.UUID, session: SessionDep, owner: JobScope) -> list[WebhookDeliveryView]:
    """Every webhook event of the conversation, with each attempt: time, status code, duration, error."""
    if await jobs.get_job(session, job_id=job_id, owner_id=owner) is None:
        raise NotFound("conversation not found")
    deliveries = await webhooks.list_deliveries(session, job_id=job_id)
    attempts = await webhooks.attempts_of(session, delivery_ids=[d.id for d in deliveries])
    return [WebhookDeliveryView.of(delivery, attempts[delivery.id]) for delivery in deliveries]


@router.post(
    "/v1/conversations/{job_id}/webhook-deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=WebhookDeliveryView,
)
async def redeliver(
    job_id: uuid.UUID, delivery_id: uuid.UUID, session: SessionDep, owner: JobScope, publisher: PublisherDep
) -> WebhookDeliveryView:
    """Sends the event again, with the same `webhook-id` and body."""
    if await jobs.get_job(session, job_id=job_id, owner_id=owner) is None:
        raise NotFound("conversation not found")
    delivery = await webhooks.schedule_redelivery(session, job_id=job_id, delivery_id=delivery_id, now=utcnow())
    if delivery is None:
        raise NotFound("no such delivery, or an attempt is in progress")
    await session.commit()
    await publisher.enqueue_deliveries([delivery.id])
    attempts = await webhooks.attempts_of(session, delivery_ids=[delivery.id])
    return WebhookDeliveryView.of(delivery, attempts[delivery.id])
