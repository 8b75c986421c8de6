"""Engines and sessions: async for the API, psycopg2 / sqlite3 for workers and Alembic.

One `DATABASE_URL` names the database; the driver is chosen here per side, so a
deployment never has to spell out two URLs for one database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import sessionmaker

from settings import Settings

_ASYNC_DRIVERS = {"postgresql": "asyncpg", "sqlite": "aiosqlite"}
_SYNC_DRIVERS = {"postgresql": "psycopg2", "sqlite": "pysqlite"}


def _with_driver(url: str, drivers: dict[str, str]) -> URL:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgres":
        backend = "postgresql"
    if backend not in drivers:
        raise ValueError(f"unsupported database {backend!r}: use postgresql:// or sqlite://")
    return parsed.set(drivername=f"{backend}+{drivers[backend]}")


def async_url(url: str) -> URL:
    return _with_driver(url, _ASYNC_DRIVERS)


def sync_url(url: str) -> URL:
    return _with_driver(url, _SYNC_DRIVERS)


def _prepare_sqlite(url: URL) -> None:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets the API read while a worker writes; busy_timeout queues writers."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_async_engine(settings: Settings) -> AsyncEngine:
    url = async_url(settings.DATABASE_URL)
    if url.get_backend_name() == "sqlite":
        _prepare_sqlite(url)
        engine = create_async_engine(url, connect_args={"timeout": 10})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        pool_size=settings.DB_POOL_SIZE,
        max_overflow=settings.DB_POOL_SIZE,
        # No pre-ping: it costs a round trip per checkout. A connection found dead is
        # reported as an outage (503) and SQLAlchemy then replaces the whole pool.
        pool_recycle=3600,
        pool_timeout=settings.DB_CONNECT_TIMEOUT_SECONDS,
        connect_args={"timeout": settings.DB_CONNECT_TIMEOUT_SECONDS},
    )


def make_sync_engine(settings: Settings, *, pool_size: int = 4) -> Engine:
    url = sync_url(settings.DATABASE_URL)
    if url.get_backend_name() == "sqlite":
        _prepare_sqlite(url)
        engine = create_engine(url, connect_args={"timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=3600,  # no pre-ping: workers retry their writes through disconnects
        connect_args={"connect_timeout": max(1, int(settings.DB_CONNECT_TIMEOUT_SECONDS))},
    )


def async_session_factory(engine: AsyncEngine) -> async_sessionmaker[Any]:
    return async_sessionmaker(engine, expire_on_commit=False)


def sync_session_factory(engine: Engine) -> sessionmaker[Any]:
    return sessionmaker(engine, expire_on_commit=False)
