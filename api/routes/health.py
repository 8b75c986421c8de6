"""Liveness and readiness. Readiness checks that the database and the broker answer."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.errors import OUTAGE_RETRY_AFTER_SECONDS
from api.schemas import Health

router = APIRouter(tags=["health"])

VERSION = "1.0.0"
CHECK_TIMEOUT_SECONDS = 3.0


@router.get("/", response_model=Health)
async def root() -> Health:
    return Health(status="healthy", version=VERSION)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def _check(probe: Any) -> str:
    try:
        await asyncio.wait_for(probe, timeout=CHECK_TIMEOUT_SECONDS)
    except Exception as exc:  # any failure, of any library, means "not ready"
        return f"unavailable: {type(exc).__name__}"
    return "ok"


async def _database_answers(request: Request) -> None:
    async with request.app.state.engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    checks = {
        "database": await _check(_database_answers(request)),
        "redis": await _check(request.app.state.redis.ping()),
        "broker": await _check(request.app.state.publisher.ping()),
    }
    ready = all(result == "ok" for result in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
        headers={} if ready else {"Retry-After": str(OUTAGE_RETRY_AFTER_SECONDS)},
    )
