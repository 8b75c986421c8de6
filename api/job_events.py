"""Job-finished notifications for long-poll waiters.

One Redis pub/sub subscription per API process feeds every waiter in it: a waiter is
an `asyncio.Event` in a dict, so waiting holds no thread and no database connection.
Notifications are a wake-up call, not the truth: a waiter re-reads the job from the
database when woken, and every few seconds anyway, so a notification lost while
Redis reconnects costs latency, never a wrong answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterator

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

RECONNECT_DELAY_SECONDS = 1.0


class JobEvents:
    def __init__(self, client: aioredis.Redis, channel: str) -> None:
        self._client = client
        self._channel = channel
        self._waiters: dict[uuid.UUID, set[asyncio.Event]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="job-events")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @contextlib.contextmanager
    def watch(self, job_id: uuid.UUID) -> Iterator[asyncio.Event]:
        """An event set when `job_id` is reported finished. Register before reading the job."""
        event = asyncio.Event()
        self._waiters[job_id].add(event)
        try:
            yield event
        finally:
            waiters = self._waiters.get(job_id)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[job_id]

    async def publish(self, job_id: uuid.UUID) -> None:
        try:
            await self._client.publish(self._channel, str(job_id))
        except RedisError as exc:
            log.warning("could not publish job %s finished: %s", job_id, exc)

    def _wake(self, raw: bytes | str) -> None:
        try:
            job_id = uuid.UUID(raw.decode() if isinstance(raw, bytes) else raw)
        except ValueError:
            return
        for event in self._waiters.get(job_id, ()):
            event.set()

    async def _listen(self) -> None:
        while True:
            try:
                async with self._client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self._channel)
                    self.connected.set()
                    async for message in pubsub.listen():
                        if message["type"] == "message":
                            self._wake(message["data"])
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if self.connected.is_set():
                    log.warning("job notifications lost their Redis connection: %s", exc)
            self.connected.clear()
            # Waiters fall back to their periodic database re-check meanwhile.
            for events in self._waiters.values():
                for event in events:
                    event.set()
            await asyncio.sleep(RECONNECT_DELAY_SECONDS)
