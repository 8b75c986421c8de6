"""Apps built with other settings than the session's, for tests of limits and outages."""

import contextlib

import httpx

from api.main import create_app
from settings import Settings


@contextlib.asynccontextmanager
async def client_for(settings: Settings, **changes: object):
    """An in-process client of an app built with other settings (limits, dead servers...)."""
    app = create_app(settings.model_copy(update=changes))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60) as http:
            yield http
