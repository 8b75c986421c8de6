"""Per-credential rate limits: a moving window in Redis, through the `limits` library.

`limits` is the engine SlowAPI is built on; used directly it offers an asyncio Redis
storage, so a check costs one awaited round trip and no thread, and it fits FastAPI
dependencies better than SlowAPI's decorators (which need a `request` argument in
every route). If Redis is unreachable the limiter lets requests through and says so
in the log and in `pe_rate_limiter_errors_total`: an outage of the limiter must not
turn every request into an error.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from prometheus_client import Counter

from api.errors import TooManyRequests
from settings import Settings

log = logging.getLogger(__name__)

RATE_LIMITED = Counter("pe_rate_limited_total", "Requests refused by a rate limit.", ["scope"])
LIMITER_ERRORS = Counter("pe_rate_limiter_errors_total", "Rate-limit checks skipped because Redis failed.")


@dataclass(frozen=True, slots=True)
class WindowState:
    limit: int
    remaining: int
    reset_after: int

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_after),
        }


def _storage_uri(redis_url: str) -> str:
    return redis_url if redis_url.startswith("async+") else f"async+{redis_url}"


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.RATE_LIMIT_ENABLED
        self._storage = RedisStorage(
            _storage_uri(settings.REDIS_URL),
            implementation="redispy",
            key_prefix=f"{settings.QUEUE_PREFIX}:ratelimit",
            socket_connect_timeout=2,
            socket_timeout=2,
        )
        self._strategy = MovingWindowRateLimiter(self._storage)
        self._limits: dict[str, list[RateLimitItem]] = {
            "submit": parse_many(settings.RATE_LIMIT_SUBMIT),
            "read": parse_many(settings.RATE_LIMIT_READ),
            "login": parse_many(settings.RATE_LIMIT_LOGIN),
        }

    async def check(self, scope: str, identity: str) -> WindowState | None:
        """Counts one request; raises `TooManyRequests` past a limit. `None` when not checked."""
        if not self.enabled:
            return None
        try:
            return await self._hit(scope, identity)
        except TooManyRequests:
            RATE_LIMITED.labels(scope).inc()
            raise
        except Exception as exc:  # the limiter's storage can fail in many ways; none may fail the request
            LIMITER_ERRORS.inc()
            log.warning("rate limit for %s not checked: %r", scope, exc)
            return None

    async def _hit(self, scope: str, identity: str) -> WindowState:
        """Hits every limit of the scope; reports the one closest to running out."""
        states = []
        for item in self._limits[scope]:
            allowed = await self._strategy.hit(item, scope, identity)
            reset_at, remaining = await self._strategy.get_window_stats(item, scope, identity)
            state = WindowState(
                limit=item.amount,
                remaining=max(0, remaining),
                reset_after=max(1, math.ceil(reset_at - time.time())),
            )
            if not allowed:
                raise TooManyRequests(
                    f"rate limit of {item} exceeded; retry in {state.reset_after} s",
                    retry_after=state.reset_after,
                    headers=state.headers(),
                )
            states.append(state)
        return min(states, key=lambda state: state.remaining)
