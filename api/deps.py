"""FastAPI dependencies, as `Annotated` aliases. Routes never build engines or clients.

Access policy lives here and only here: who is calling (`CurrentUser`), whose jobs they
may see and act on (`JobScope`), who may manage users (`AdminUser`), and how often they
may call (`SubmitRateLimit`, `ReadRateLimit`).
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

import jwt
from fastapi import Depends, Request, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from api.backpressure import Backpressure
from api.client_address import client_address
from api.errors import NotAuthenticated, PermissionDenied
from api.job_events import JobEvents
from api.publisher import JobPublisher
from api.rate_limits import RateLimiter
from api.security import API_KEY_PREFIX, decode_access_token, hash_api_key, looks_like_api_key
from db import accounts
from db.tables import Role, User, utcnow
from settings import Settings

_bearer = HTTPBearer(auto_error=False, description="A JWT access token or an API key")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as session:
        yield session


async def _events(request: Request) -> JobEvents:
    events: JobEvents = request.app.state.job_events
    return events


async def _publisher(request: Request) -> JobPublisher:
    publisher: JobPublisher = request.app.state.publisher
    return publisher


async def _backpressure(request: Request) -> Backpressure:
    backpressure: Backpressure = request.app.state.backpressure
    return backpressure


async def _limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


SettingsDep = Annotated[Settings, Depends(_settings)]
SessionDep = Annotated[AsyncSession, Depends(_session)]
EventsDep = Annotated[JobEvents, Depends(_events)]
PublisherDep = Annotated[JobPublisher, Depends(_publisher)]
LimiterDep = Annotated[RateLimiter, Depends(_limiter)]
BackpressureDep = Annotated[Backpressure, Depends(_backpressure)]


async def _current_user(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_api_key_header)],
) -> User:
    """The active user behind the credential, read from the database on every request,
    so deactivating a user or revoking a key takes effect at once."""
    credential = bearer.credentials if bearer else header_key
    if not credential:
        raise NotAuthenticated("missing credentials: send 'Authorization: Bearer <token or API key>'")
    if credential.startswith(API_KEY_PREFIX):
        user = await _user_for_api_key(request, session, credential)
    else:
        try:
            user_id = decode_access_token(credential, settings=settings)
        except jwt.InvalidTokenError:
            raise NotAuthenticated("invalid or expired token") from None
        user = await accounts.get_user(session, user_id=user_id)
        request.state.principal = f"user:{user_id}"
    if user is None or not user.is_active:
        raise NotAuthenticated("invalid credentials")
    return user


async def _user_for_api_key(request: Request, session: AsyncSession, key: str) -> User | None:
    if not looks_like_api_key(key):
        raise NotAuthenticated("malformed API key")
    key_hash = hash_api_key(key)
    found = await accounts.find_active_api_key(session, key_hash=key_hash)
    # The lookup is by SHA-256, which an attacker cannot steer byte by byte; the
    # constant-time comparison keeps the final check free of timing signal too.
    if found is None or not hmac.compare_digest(found[0].key_hash, key_hash):
        raise NotAuthenticated("invalid API key")
    api_key, user = found
    now = utcnow()
    if api_key.expires_at is not None and api_key.expires_at <= now:
        raise NotAuthenticated("API key expired")
    if api_key.last_used_at is None or now - api_key.last_used_at > accounts.LAST_USED_RESOLUTION:
        await accounts.touch_api_key(session, api_key_id=api_key.id, now=now)
        await session.commit()
    request.state.principal = f"key:{api_key.id}"
    return user


CurrentUser = Annotated[User, Depends(_current_user)]


async def _admin(user: CurrentUser) -> User:
    if user.role != Role.admin:
        raise PermissionDenied("admin role required")
    return user


AdminUser = Annotated[User, Depends(_admin)]


async def _job_scope(user: CurrentUser) -> uuid.UUID | None:
    """Whose jobs the caller may see and cancel: admins and operators every job (`None`),
    users their own. Anything outside the scope answers 404, as if it did not exist."""
    return None if user.role in (Role.admin, Role.operator) else user.id


JobScope = Annotated[uuid.UUID | None, Depends(_job_scope)]


async def _limit(scope: str, response: Response, limiter: RateLimiter, identity: str) -> None:
    state = await limiter.check(scope, identity)
    if state is not None:
        response.headers.update(state.headers())


async def _limit_submits(request: Request, response: Response, _: CurrentUser, limiter: LimiterDep) -> None:
    await _limit("submit", response, limiter, request.state.principal)


async def _limit_reads(request: Request, response: Response, _: CurrentUser, limiter: LimiterDep) -> None:
    await _limit("read", response, limiter, request.state.principal)


async def _limit_logins(request: Request, response: Response, settings: SettingsDep, limiter: LimiterDep) -> None:
    """Per client address: slows password guessing against any account from one place."""
    await _limit("login", response, limiter, client_address(request, settings.TRUSTED_PROXIES))


SubmitRateLimit = Depends(_limit_submits)
ReadRateLimit = Depends(_limit_reads)
LoginRateLimit = Depends(_limit_logins)
