"""`POST /conversation`: the original synchronous API, kept for existing clients.

It is the asynchronous path plus a wait: the job is queued like any other, and the
answer comes when it finishes. A job still running at the deadline answers 504 with
the job's URL in `Location`, so the client can fetch the result later.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header

from api import conversations
from api.deps import (
    BackpressureDep,
    CurrentUser,
    EventsDep,
    PublisherDep,
    SessionDep,
    SettingsDep,
    SubmitRateLimit,
)
from api.errors import Conflict, InferenceFailed, NotReadyInTime
from api.schemas import ConversationRequest, JobView, LegacyConversationResponse
from db.tables import JobStatus

router = APIRouter(tags=["conversations"])


@router.post(
    "/conversation",
    response_model=LegacyConversationResponse,
    dependencies=[SubmitRateLimit],
    responses={502: {"description": "the model failed"}, 504: {"description": "not finished in time"}},
)
async def converse(
    body: ConversationRequest,
    user: CurrentUser,
    session: SessionDep,
    publisher: PublisherDep,
    backpressure: BackpressureDep,
    events: EventsDep,
    settings: SettingsDep,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> LegacyConversationResponse:
    key = conversations.check_idempotency_key(idempotency_key)
    job = await conversations.submit_and_wait(
        session, publisher, backpressure, events, settings,
        owner_id=user.id, body=body, idempotency_key=key, wait_seconds=settings.SYNC_TIMEOUT_SECONDS,
    )  # fmt: skip
    location = {"Location": JobView.of(job).urls.get}
    if job.status == JobStatus.succeeded:
        return LegacyConversationResponse.model_validate(job.output)
    if job.status == JobStatus.failed:
        raise InferenceFailed(
            {"message": "the model failed on this conversation", "error": job.error}, headers=location
        )
    if job.status == JobStatus.canceled:
        raise Conflict("the conversation was canceled", headers=location)
    raise NotReadyInTime(headers=location)
