"""`POST /v1/users`: admins create accounts."""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter
from sqlalchemy.exc import IntegrityError

from api.deps import AdminUser, CurrentUser, SessionDep
from api.errors import Conflict
from api.schemas import UserCreate, UserView
from api.security import hash_password
from db import accounts
from db.tables import utcnow

router = APIRouter(prefix="/v1/users", tags=["users"])


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


@router.get("/me", response_model=UserView)
async def read_me(user: CurrentUser) -> UserView:
    return UserView.model_validate(user, from_attributes=True)
