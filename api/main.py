"""The FastAPI application factory: `uvicorn api.main:app`, or `create_app(settings)` in tests."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from fastapi import FastAPI

from api.backpressure import Backpressure
from api.body_limit import BodySizeLimit
from api.errors import install_error_handlers
from api.job_events import JobEvents
from api.metrics import RequestMetrics, metrics_endpoint
from api.publisher import JobPublisher
from api.rate_limits import RateLimiter
from api.routes import api_keys, auth, conversations, health, legacy, users, webhooks
from api.superuser import ensure_first_superuser
from celeryconfig import make_celery
from db.session import async_session_factory, make_async_engine
from models.registry import check_served_models
from settings import Settings, get_settings
from workers.queues import job_finished_channel

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    check_served_models(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_async_engine(settings)
        redis_client = aioredis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=3, socket_timeout=5)
        events = JobEvents(redis_client, job_finished_channel(settings))
        publisher = JobPublisher(make_celery(settings), settings)
        app.state.settings = settings
        app.state.engine = engine
        app.state.sessionmaker = async_session_factory(engine)
        app.state.redis = redis_client
        app.state.job_events = events
        app.state.publisher = publisher
        app.state.rate_limiter = RateLimiter(settings)
        app.state.backpressure = Backpressure(settings)
        await events.start()
        await ensure_first_superuser(app.state.sessionmaker, settings)
        try:
            yield
        finally:
            await events.stop()
            publisher.close()
            await redis_client.aclose()
            await engine.dispose()

    app = FastAPI(
        title="Pixelated Empathy",
        summary="Asynchronous inference for conversation models.",
        version=health.VERSION,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.MAX_BODY_BYTES)
    app.add_middleware(RequestMetrics)
    for module in (health, auth, api_keys, users, conversations, webhooks, legacy):
        app.include_router(module.router)
    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)
    return app


def __getattr__(name: str) -> FastAPI:
    """`uvicorn api.main:app` builds the app on first access, from the environment."""
    if name == "app":
        return create_app()
    raise AttributeError(name)
