"""`POST /v1/auth/token`: OAuth2 password flow → a JWT access token."""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import LoginRateLimit, SessionDep, SettingsDep
from api.errors import NotAuthenticated
from api.schemas import Token
from api.security import create_access_token, verify_password
from db import accounts
from db.tables import utcnow

router = APIRouter(prefix="/v1/auth", tags=["auth"])


@router.post("/token", response_model=Token, dependencies=[LoginRateLimit])
async def issue_token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep, settings: SettingsDep
) -> Token:
    user = await accounts.get_user_by_email(session, email=form.username)
    # bcrypt is deliberately slow: keep it off the event loop.
    valid = await anyio.to_thread.run_sync(verify_password, form.password, user.hashed_password if user else None)
    if user is None or not valid or not user.is_active:
        raise NotAuthenticated("incorrect email or password")
    access = create_access_token(subject=user.id, settings=settings, now=utcnow())
    return Token(access_token=access.token, expires_in=access.expires_in)
