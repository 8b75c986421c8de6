"""Users and API keys (async, for the API). The caller owns the transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.tables import ApiKey, User

LAST_USED_RESOLUTION = timedelta(minutes=1)


async def get_user(session: AsyncSession, *, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def get_user_by_email(session: AsyncSession, *, email: str) -> User | None:
    return (await session.execute(select(User).where(User.email == email.lower()))).scalar_one_or_none()


async def create_user(session: AsyncSession, *, email: str, hashed_password: str, role: str, now: datetime) -> User:
    user = User(
        id=uuid.uuid4(),
        email=email.lower(),
        hashed_password=hashed_password,
        role=role,
        is_active=True,
        created_at=now,
    )
    session.add(user)
    await session.flush()
    return user


async def create_api_key(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    name: str,
    prefix: str,
    key_hash: str,
    now: datetime,
    expires_at: datetime | None = None,
) -> ApiKey:
    api_key = ApiKey(
        id=uuid.uuid4(),
        user_id=user_id,
        name=name,
        prefix=prefix,
        key_hash=key_hash,
        created_at=now,
        expires_at=expires_at,
    )
    session.add(api_key)
    await session.flush()
    return api_key


async def find_active_api_key(session: AsyncSession, *, key_hash: str) -> tuple[ApiKey, User] | None:
    """The unrevoked key with this hash and its user, in one query (it runs on every request)."""
    query = (
        select(ApiKey, User)
        .join(User, User.id == ApiKey.user_id)
        .where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
    )
    row = (await session.execute(query)).one_or_none()
    return (row[0], row[1]) if row is not None else None


async def touch_api_key(session: AsyncSession, *, api_key_id: uuid.UUID, now: datetime) -> None:
    """Records use at most once a minute, so authentication is not a write per request."""
    await session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == api_key_id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - LAST_USED_RESOLUTION),
        )
        .values(last_used_at=now)
    )


async def list_api_keys(session: AsyncSession, *, user_id: uuid.UUID) -> Sequence[ApiKey]:
    query = (
        select(ApiKey).where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None)).order_by(ApiKey.created_at.desc())
    )
    return (await session.execute(query)).scalars().all()


async def list_users(session: AsyncSession, *, limit: int, offset: int) -> Sequence[User]:
    query = select(User).order_by(User.created_at, User.id).limit(limit).offset(offset)
    return (await session.execute(query)).scalars().all()


async def update_user(
    session: AsyncSession, *, user_id: uuid.UUID, role: str | None, is_active: bool | None
) -> User | None:
    values: dict[str, object] = {}
    if role is not None:
        values["role"] = role
    if is_active is not None:
        values["is_active"] = is_active
    if values:
        await session.execute(update(User).where(User.id == user_id).values(**values))
    return await session.get(User, user_id, populate_existing=True)


async def revoke_api_key(session: AsyncSession, *, api_key_id: uuid.UUID, user_id: uuid.UUID, now: datetime) -> bool:
    result = await session.execute(
        update(ApiKey)
        .where(ApiKey.id == api_key_id, ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
