"""Creates `FIRST_SUPERUSER` at start-up if it does not exist yet."""

from __future__ import annotations

import logging
from typing import Any

import anyio.to_thread
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker

from api.errors import OUTAGE_ERRORS
from api.security import hash_password
from db import accounts
from db.tables import Role, utcnow
from settings import Settings

log = logging.getLogger(__name__)


async def ensure_first_superuser(sessionmaker: async_sessionmaker[Any], settings: Settings) -> None:
    if not settings.FIRST_SUPERUSER or settings.FIRST_SUPERUSER_PASSWORD is None:
        return
    password = settings.FIRST_SUPERUSER_PASSWORD.get_secret_value()
    try:
        async with sessionmaker() as session:
            if await accounts.get_user_by_email(session, email=settings.FIRST_SUPERUSER) is not None:
                return
            hashed = await anyio.to_thread.run_sync(hash_password, password)
            await accounts.create_user(
                session, email=settings.FIRST_SUPERUSER, hashed_password=hashed, role=Role.admin.value, now=utcnow()
            )
            await session.commit()
            log.info("created the first superuser %s", settings.FIRST_SUPERUSER)
    except IntegrityError:
        pass  # another API process created it first
    except OUTAGE_ERRORS as exc:
        # Start anyway: /readyz reports the outage, and the next start retries.
        log.error("could not ensure the first superuser (database unavailable): %r", exc)
