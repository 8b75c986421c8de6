"""`/v1/users`: admins manage accounts; everyone can read their own."""

from __future__ import annotations

import uuid
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Query
from sqlalchemy.exc import IntegrityError

from api.deps import AdminUser, CurrentUser, ReadRateLimit, SessionDep
from api.errors import Conflict, NotFound
from api.schemas import UserCreate, UserUpdate, UserView
from api.security import hash_password
from db import accounts
from db.tables import utcnow

router = APIRouter(prefix="/v1/users", tags=["users"], dependencies=[ReadRateLimit])


@router.post("", status_code=201, response_model=UserView)
async def create_user(body: UserCreate, _: AdminUser, session: SessionDep) -> UserView:
    if await accounts.get_user_by_email(session, email=body.email) is not None:
        raise Conflict("a user with this email already exists")
    user = await accounts.create_user(
        session,
        email=body.email,
        hashed_password=await anyio.to_thread.run_sync(hash_password, body.password),
        role=body.role.value,
        now=utcnow(),
    )
    try:
        await session.commit()
    except IntegrityError:
        raise Conflict("a user with this email already exists") from None
    return UserView.model_validate(user, from_attributes=True)


@router.get("", response_model=list[UserView])
async def list_users(
    _: AdminUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[UserView]:
    users = await accounts.list_users(session, limit=limit, offset=offset)
    return [UserView.model_validate(user, from_attributes=True) for user in users]


@router.get("/me", response_model=UserView)
async def read_me(user: CurrentUser) -> UserView:
    return UserView.model_validate(user, from_attributes=True)


@router.patch("/{user_id}", response_model=UserView)
async def update_user(user_id: uuid.UUID, body: UserUpdate, admin: AdminUser, session: SessionDep) -> UserView:
    """Change a user's role or deactivate them; a deactivated user's tokens and keys stop at once."""
    if user_id == admin.id and (body.is_active is False or (body.role and body.role != admin.role)):
        raise Conflict("admins cannot demote or deactivate themselves")
    user = await accounts.update_user(
        session, user_id=user_id, role=body.role.value if body.role else None, is_active=body.is_active
    )
    if user is None:
        raise NotFound("user not found")
    await session.commit()
    return UserView.model_validate(user, from_attributes=True)
