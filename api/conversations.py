"""Submitting jobs and waiting for them: the steps between the routes and the database.

A job is committed before it is enqueued, so a worker can never receive an id whose
row does not exist yet, and a failed enqueue leaves a queued row for the sweeper.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import json
import socket
import uuid
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.backpressure import Backpressure
from api.errors import InvalidRequest
from api.job_events import JobEvents
from api.metrics import JOBS_SUBMITTED
from api.publisher import JobPublisher
from api.schemas import ConversationRequest
from db import jobs
from db.tables import Job, JobStatus, utcnow
from settings import Settings
from workers.webhook_targets import UnsafeWebhookTarget, check_addresses, parse_target

RECHECK_SECONDS = 5.0
RECHECK_SECONDS_WITHOUT_NOTIFICATIONS = 1.0
MAX_IDEMPOTENCY_KEY_CHARS = 255


def request_fingerprint(body: ConversationRequest, model: str) -> str:
    canonical = json.dumps({**body.model_dump(mode="json"), "model": model}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def resolve_model(body: ConversationRequest, settings: Settings) -> str:
    model = body.model or settings.DEFAULT_MODEL
    if model not in settings.served_models:
        available = ", ".join(settings.served_models)
        raise InvalidRequest(f"unknown model {model!r}; this deployment serves: {available}")
    return model


async def check_webhook_url(url: str, settings: Settings) -> None:
    """SSRF guard at submit: the host must resolve, and only to public addresses (or allowed ones)."""
    try:
        target = parse_target(url)
        infos = await asyncio.get_running_loop().getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        check_addresses(list(dict.fromkeys(str(info[4][0]) for info in infos)), settings.WEBHOOK_ALLOWED_NETWORKS)
    except socket.gaierror:
        raise InvalidRequest("webhook host does not resolve") from None
    except UnsafeWebhookTarget as exc:
        raise InvalidRequest(str(exc)) from None


def check_idempotency_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not key or len(key) > MAX_IDEMPOTENCY_KEY_CHARS or not key.isprintable():
        raise InvalidRequest(f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} printable characters")
    return key


async def submit(
    session: AsyncSession,
    publisher: JobPublisher,
    backpressure: Backpressure,
    settings: Settings,
    *,
    owner_id: uuid.UUID,
    body: ConversationRequest,
    idempotency_key: str | None,
    job_id: uuid.UUID | None = None,
) -> Job:
    """Creates, commits and enqueues a job; with an idempotency key, may return an earlier one."""
    model = resolve_model(body, settings)
    if body.webhook is not None:
        await check_webhook_url(str(body.webhook), settings)
    fingerprint = request_fingerprint(body, model)
    now = utcnow()
    if idempotency_key is not None:
        earlier = await _replay(session, settings, owner_id=owner_id, key=idempotency_key, fingerprint=fingerprint)
        if earlier is not None:
            return earlier
    await backpressure.check(session, owner_id=owner_id)
    try:
        job = await jobs.create_job(
            session,
            job_id=job_id or uuid.uuid4(),
            owner_id=owner_id,
            model=model,
            input=body.model_dump(mode="json", include={"message", "context", "user_id"}),
            webhook=str(body.webhook) if body.webhook else None,
            webhook_events_filter=list(body.webhook_events_filter),
            idempotency_key=idempotency_key,
            request_hash=fingerprint if idempotency_key else None,
            now=now,
        )
        await session.commit()
    except IntegrityError:
        # Another request with the same idempotency key committed first.
        await session.rollback()
        earlier = await _replay(
            session, settings, owner_id=owner_id, key=idempotency_key or "", fingerprint=fingerprint
        )
        if earlier is None:
            raise
        return earlier
    JOBS_SUBMITTED.labels(model).inc()
    backpressure.accepted(owner_id)
    if not await publisher.enqueue(job.id, model):
        await jobs.mark_not_enqueued(session, job_id=job.id)
        await session.commit()
    return job


async def _replay(
    session: AsyncSession, settings: Settings, *, owner_id: uuid.UUID, key: str, fingerprint: str
) -> Job | None:
    earlier = await jobs.find_by_idempotency_key(session, owner_id=owner_id, key=key)
    if earlier is None:
        return None
    if earlier.created_at < utcnow() - timedelta(seconds=settings.IDEMPOTENCY_TTL_SECONDS):
        await jobs.release_idempotency_key(session, job_id=earlier.id)
        return None
    if earlier.request_hash != fingerprint:
        raise InvalidRequest("this Idempotency-Key was already used with a different request body")
    return earlier


async def submit_and_wait(
    session: AsyncSession,
    publisher: JobPublisher,
    backpressure: Backpressure,
    events: JobEvents,
    settings: Settings,
    *,
    owner_id: uuid.UUID,
    body: ConversationRequest,
    idempotency_key: str | None,
    wait_seconds: float,
) -> Job:
    """`submit`, then wait for the job to finish. The watch starts before the job is
    published, so even a job finished at once is reported at once."""
    job_id = uuid.uuid4()
    with events.watch(job_id) as woken:
        job = await submit(
            session, publisher, backpressure, settings, owner_id=owner_id, body=body,
            idempotency_key=idempotency_key, job_id=job_id,
        )  # fmt: skip
        watching = (job, woken) if job.id == job_id else None  # not an idempotent replay
        finished = await wait_until_finished(
            session, events, job_id=job.id, owner_id=owner_id, wait_seconds=wait_seconds, watching=watching
        )
    return finished or job


async def wait_until_finished(
    session: AsyncSession,
    events: JobEvents,
    *,
    job_id: uuid.UUID,
    owner_id: uuid.UUID | None,
    wait_seconds: float,
    watching: tuple[Job, asyncio.Event] | None = None,
) -> Job | None:
    """The job once terminal, or as it is when `wait_seconds` run out; `None` if not visible.

    Between reads the transaction is closed, so no connection is held while waiting.
    `watching` is a job this request just created, with the event that has watched it
    since before it was published: no notification can have been missed, so the first
    read is skipped.
    """
    if watching is not None:
        return await _wait(session, events, watching[1], job_id, owner_id, wait_seconds, known=watching[0])
    with events.watch(job_id) as woken:
        return await _wait(session, events, woken, job_id, owner_id, wait_seconds, known=None)


async def _wait(
    session: AsyncSession,
    events: JobEvents,
    woken: asyncio.Event,
    job_id: uuid.UUID,
    owner_id: uuid.UUID | None,
    wait_seconds: float,
    *,
    known: Job | None,
) -> Job | None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    job = known
    while True:
        if known is None:
            woken.clear()  # before the read: a notification arriving during it is kept
            job = await jobs.get_job(session, job_id=job_id, owner_id=owner_id)
            await session.commit()
        remaining = deadline - loop.time()
        if job is None or JobStatus(job.status).terminal or remaining <= 0:
            return job
        recheck = RECHECK_SECONDS if events.connected.is_set() else RECHECK_SECONDS_WITHOUT_NOTIFICATIONS
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(woken.wait(), timeout=min(remaining, recheck))
        known = None  # from now on, read


def encode_cursor(job: Job) -> str:
    raw = f"{job.created_at.isoformat()}|{job.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created_at, _, job_id = raw.partition("|")
        parsed = datetime.fromisoformat(created_at)
        if parsed.tzinfo is None:
            raise ValueError("naive timestamp")
        return parsed, uuid.UUID(job_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidRequest("invalid cursor: pass back the next_cursor of a previous page") from None


def parse_prefer_wait(prefer: str | None, limit: float) -> float | None:
    """The `wait=N` preference of an RFC 7240 `Prefer` header, capped at `limit`."""
    if not prefer:
        return None
    for preference in prefer.split(","):
        name, _, value = preference.strip().partition("=")
        if name.strip().lower() == "wait":
            try:
                seconds = float(value.strip().strip('"'))
            except ValueError:
                raise InvalidRequest("Prefer: wait must be a number of seconds") from None
            if seconds < 0:
                raise InvalidRequest("Prefer: wait must not be negative")
            return min(seconds, limit)
    return None
