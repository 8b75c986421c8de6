"""Refuse work early instead of drowning: a cap per account and a cap on the whole queue.

- An account with `MAX_JOBS_IN_FLIGHT_PER_ACCOUNT` jobs queued or running gets 429:
  its own load is the problem, and it can retry once some finish.
- When `MAX_QUEUE_DEPTH` jobs wait in all, everyone gets 503 with Retry-After: the
  platform is saturated. The depth is counted in the database (what is truly
  waiting, whatever the broker holds), at most once a second per API process, like
  the per-account count.
"""

from __future__ import annotations

import time
import uuid

from prometheus_client import Counter, Gauge
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import ServiceUnavailable, TooManyRequests
from db.tables import Job, JobStatus
from settings import Settings

REJECTED = Counter("pe_backpressure_rejections_total", "Submissions refused by a cap.", ["reason"])
QUEUE_DEPTH = Gauge("pe_queue_depth_jobs", "Jobs queued in the database, as last counted by this API process.")
COUNT_REFRESH_SECONDS = 1.0
MAX_TRACKED_ACCOUNTS = 100_000
RETRY_AFTER_SECONDS = 5


class Backpressure:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._depth = 0
        self._counted_at = float("-inf")
        self._in_flight: dict[uuid.UUID, tuple[int, float]] = {}

    async def check(self, session: AsyncSession, *, owner_id: uuid.UUID) -> None:
        limit = self._settings.MAX_JOBS_IN_FLIGHT_PER_ACCOUNT
        if await self._account_in_flight(session, owner_id) >= limit:
            REJECTED.labels("account_in_flight").inc()
            raise TooManyRequests(
                f"this account already has {limit} jobs queued or running; retry when some finish",
                retry_after=RETRY_AFTER_SECONDS,
            )
        if await self._queue_depth(session) >= self._settings.MAX_QUEUE_DEPTH:
            REJECTED.labels("queue_depth").inc()
            raise ServiceUnavailable("the platform is at capacity; retry shortly", retry_after=RETRY_AFTER_SECONDS)

    def accepted(self, owner_id: uuid.UUID) -> None:
        """Counts a job just accepted, until the next real count."""
        count, counted_at = self._in_flight.get(owner_id, (0, float("-inf")))
        self._in_flight[owner_id] = (count + 1, counted_at)
        self._depth += 1

    async def _account_in_flight(self, session: AsyncSession, owner_id: uuid.UUID) -> int:
        """Counted in the database at most once a second per account (plus what this
        process accepted since): the cap may be overshot by a second's worth of submits."""
        now = time.monotonic()
        count, counted_at = self._in_flight.get(owner_id, (0, float("-inf")))
        if now - counted_at >= COUNT_REFRESH_SECONDS:
            unfinished = Job.status.in_([JobStatus.queued.value, JobStatus.running.value])
            count = (
                await session.scalar(select(func.count()).select_from(Job).where(Job.owner_id == owner_id, unfinished))
                or 0
            )
            if len(self._in_flight) > MAX_TRACKED_ACCOUNTS:
                self._in_flight.clear()
            self._in_flight[owner_id] = (count, now)
        return count

    async def _queue_depth(self, session: AsyncSession) -> int:
        now = time.monotonic()
        if now - self._counted_at >= COUNT_REFRESH_SECONDS:
            count = await session.scalar(
                select(func.count()).select_from(Job).where(Job.status == JobStatus.queued.value)
            )
            self._depth, self._counted_at = count or 0, now
            QUEUE_DEPTH.set(self._depth)
        return self._depth
