"""`/v1/api-keys`: create (the secret is shown once), list, revoke."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import APIRouter, Response

from api.deps import CurrentUser, ReadRateLimit, SessionDep
from api.errors import NotFound
from api.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyView
from api.security import api_key_display_prefix, generate_api_key, hash_api_key
from db import accounts
from db.tables import utcnow

router = APIRouter(prefix="/v1/api-keys", tags=["api keys"], dependencies=[ReadRateLimit])


@router.post("", status_code=201, response_model=ApiKeyCreated)
async def create_api_key(body: ApiKeyCreate, user: CurrentUser, session: SessionDep) -> ApiKeyCreated:
    key = generate_api_key()
    now = utcnow()
    api_key = await accounts.create_api_key(
        session,
        user_id=user.id,
        name=body.name,
        prefix=api_key_display_prefix(key),
        key_hash=hash_api_key(key),
        now=now,
        expires_at=now + timedelta(days=body.expires_in_days) if body.expires_in_days else None,
    )
    await session.commit()
    return ApiKeyCreated(
        id=api_key.id,
        name=api_key.name,
        prefix=api_key.prefix,
        created_at=api_key.created_at,
        last_used_at=None,
        expires_at=api_key.expires_at,
        key=key,
    )


@router.get("", response_model=list[ApiKeyView])
async def list_api_keys(user: CurrentUser, session: SessionDep) -> list[ApiKeyView]:
    keys = await accounts.list_api_keys(session, user_id=user.id)
    return [ApiKeyView.model_validate(key, from_attributes=True) for key in keys]


@router.delete("/{api_key_id}", status_code=204, response_class=Response)
async def revoke_api_key(api_key_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Response:
    if not await accounts.revoke_api_key(session, api_key_id=api_key_id, user_id=user.id, now=utcnow()):
        raise NotFound("API key not found")
    await session.commit()
    return Response(status_code=204)
