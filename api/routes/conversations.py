"""`/v1/conversations`: submit, get (with long-poll), list, cancel."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from api import conversations
from api.deps import (
    BackpressureDep,
    CurrentUser,
    EventsDep,
    JobScope,
    PublisherDep,
    ReadRateLimit,
    SessionDep,
    SettingsDep,
    SubmitRateLimit,
)
from api.errors import Conflict, NotFound
from api.schemas import ConversationRequest, JobPage, JobView, webhook_event_body
from db import jobs
from db.tables import JobStatus, utcnow
from db.webhook_outbox import record_events

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])

NOT_FOUND = "conversation not found"


def _describe(response: Response, view: JobView) -> JobView:
    response.headers["Location"] = view.urls.get
    return view


@router.post(
    "", status_code=202, response_model=JobView, responses={200: {"model": JobView}}, dependencies=[SubmitRateLimit]
)
async def submit_conversation(
    body: ConversationRequest,
    response: Response,
    user: CurrentUser,
    session: SessionDep,
    publisher: PublisherDep,
    backpressure: BackpressureDep,
    events: EventsDep,
    settings: SettingsDep,
    idempotency_key: Annotated[str | None, Header()] = None,
    prefer: Annotated[str | None, Header()] = None,
) -> JobView:
    """Queues a conversation job: 202 and its URL. With `Prefer: wait=N`, answers as soon as
    the job is finished (200), or after N seconds with the job as it is (202)."""
    key = conversations.check_idempotency_key(idempotency_key)
    wait = conversations.parse_prefer_wait(prefer, settings.LONG_POLL_MAX_SECONDS)
    if wait:
        job = await conversations.submit_and_wait(
            session, publisher, backpressure, events, settings,
            owner_id=user.id, body=body, idempotency_key=key, wait_seconds=wait,
        )  # fmt: skip
        response.headers["Preference-Applied"] = f"wait={wait:g}"
    else:
        job = await conversations.submit(
            session, publisher, backpressure, settings, owner_id=user.id, body=body, idempotency_key=key
        )
    if JobStatus(job.status).terminal:
        response.status_code = 200
    return _describe(response, JobView.of(job))


@router.get("/{job_id}", response_model=JobView, dependencies=[ReadRateLimit])
async def get_conversation(
    job_id: uuid.UUID,
    session: SessionDep,
    events: EventsDep,
    owner: JobScope,
    settings: SettingsDep,
    wait: Annotated[float, Query(ge=0, le=60, description="Long-poll: seconds to wait for a terminal state")] = 0,
) -> JobView:
    if wait:
        job = await conversations.wait_until_finished(
            session, events, job_id=job_id, owner_id=owner, wait_seconds=min(wait, settings.LONG_POLL_MAX_SECONDS)
        )
    else:
        job = await jobs.get_job(session, job_id=job_id, owner_id=owner)
    if job is None:
        raise NotFound(NOT_FOUND)
    return JobView.of(job)


@router.get("", response_model=JobPage, dependencies=[ReadRateLimit])
async def list_conversations(
    session: SessionDep,
    owner: JobScope,
    status: JobStatus | None = None,
    user_id: Annotated[str | None, Query(max_length=256, description="Your own end-user id")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> JobPage:
    """Newest first. Pass `next_cursor` back as `cursor` for the next page."""
    before = conversations.decode_cursor(cursor) if cursor else None
    page = await jobs.list_jobs(
        session,
        owner_id=owner,
        limit=limit + 1,
        status=status.value if status else None,
        client_user_id=user_id,
        before=before,
    )
    items = list(page[:limit])
    next_cursor = conversations.encode_cursor(items[-1]) if len(page) > limit else None
    return JobPage(items=[JobView.of(job) for job in items], next_cursor=next_cursor)


@router.post("/{job_id}/cancel", response_model=JobView, dependencies=[ReadRateLimit])
async def cancel_conversation(
    job_id: uuid.UUID, session: SessionDep, events: EventsDep, publisher: PublisherDep, owner: JobScope
) -> JobView:
    """Queued or running → canceled; a running job's result is discarded. Finished: 409."""
    now = utcnow()
    job = await jobs.cancel_job(session, job_id=job_id, owner_id=owner, now=now)
    if job is None:
        existing = await jobs.get_job(session, job_id=job_id, owner_id=owner)
        if existing is None:
            raise NotFound(NOT_FOUND)
        raise Conflict(f"conversation already {existing.status}; only queued or running jobs can be canceled")
    deliveries = await session.run_sync(
        lambda sync: record_events(
            sync.connection(), job_ids=[job_id], trigger="completed", now=now, render=webhook_event_body
        )
    )
    await session.commit()
    await events.publish(job.id)
    await publisher.enqueue_deliveries(deliveries)
    return JobView.of(job)
