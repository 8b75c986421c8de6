"""FastAPI dependencies, as `Annotated` aliases. Routes never build engines or clients."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

import jwt
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import NotAuthenticated, PermissionDenied
from api.job_events import JobEvents
from api.publisher import JobPublisher
from api.security import API_KEY_PREFIX, decode_access_token, hash_api_key, looks_like_api_key
from db import accounts
from db.tables import Role, User, utcnow
from settings import Settings

_bearer = HTTPBearer(auto_error=False, description="A JWT access token or an API key")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as session:
        yield session


def _events(request: Request) -> JobEvents:
    events: JobEvents = request.app.state.job_events
    return events


def _publisher(request: Request) -> JobPublisher:
    publisher: JobPublisher = request.app.state.publisher
    return publisher


SettingsDep = Annotated[Settings, Depends(_settings)]
SessionDep = Annotated[AsyncSession, Depends(_session)]
EventsDep = Annotated[JobEvents, Depends(_events)]
PublisherDep = Annotated[JobPublisher, Depends(_publisher)]


async def _current_user(
    session: SessionDep,
    settings: SettingsDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_api_key_header)],
) -> User:
    credential = bearer.credentials if bearer else header_key
    if not credential:
        raise NotAuthenticated("missing credentials: send 'Authorization: Bearer <token or API key>'")
    if credential.startswith(API_KEY_PREFIX):
        user = await _user_for_api_key(session, credential)
    else:
        try:
            user_id = decode_access_token(credential, settings=settings)
        except jwt.InvalidTokenError:
            raise NotAuthenticated("invalid or expired token") from None
        user = await accounts.get_user(session, user_id=user_id)
    if user is None or not user.is_active:
        raise NotAuthenticated("invalid credentials")
    return user


async def _user_for_api_key(session: AsyncSession, key: str) -> User | None:
    if not looks_like_api_key(key):
        raise NotAuthenticated("malformed API key")
    api_key = await accounts.find_active_api_key(session, key_hash=hash_api_key(key))
    if api_key is None:
        raise NotAuthenticated("invalid API key")
    now = utcnow()
    if api_key.last_used_at is None or now - api_key.last_used_at > accounts.LAST_USED_RESOLUTION:
        await accounts.touch_api_key(session, api_key_id=api_key.id, now=now)
        await session.commit()
    return await accounts.get_user(session, user_id=api_key.user_id)


CurrentUser = Annotated[User, Depends(_current_user)]


def _admin(user: CurrentUser) -> User:
    if user.role != Role.admin:
        raise PermissionDenied("admin role required")
    return user


AdminUser = Annotated[User, Depends(_admin)]


def _owner_scope(user: CurrentUser) -> uuid.UUID | None:
    """Whose jobs the caller may see and act on: admins every job (`None`), others their own."""
    return None if user.role == Role.admin else user.id


OwnerScope = Annotated[uuid.UUID | None, Depends(_owner_scope)]
