"""The client side's HTTP connections to a serving system, spread over several httpx
clients so that the client's own CPU cost per request stays low under load."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

WAIT_SECONDS = 60  # `Prefer: wait=` and `?wait=` of the platform client
MAX_CONNECTIONS = 1024
KEEPALIVE_SECONDS = 2.0
HTTP_CLIENTS = 32


def expect_json(response: httpx.Response, *expected: int) -> dict[str, Any]:
    """The response's JSON body if its status is one of `expected`; else an error that says what came."""
    if response.status_code not in expected:
        raise RuntimeError(f"HTTP {response.status_code} from {response.request.url.path}: {response.text[:120]}")
    body: dict[str, Any] = response.json()
    return body


class HttpPool:
    """Several httpx clients, each given to the least busy caller. One client juggling a hundred
    requests at once costs about 3 ms of CPU per request here (its pool's bookkeeping grows with
    them); a few at a time cost about 0.7 ms. The client shares the CPUs with what it measures."""

    def __init__(self, base_url: str, size: int = HTTP_CLIENTS) -> None:
        limits = httpx.Limits(
            max_connections=MAX_CONNECTIONS // size,
            max_keepalive_connections=MAX_CONNECTIONS // size,
            keepalive_expiry=KEEPALIVE_SECONDS,  # shorter than uvicorn's 5 s, so no request races a server close
        )
        timeout = httpx.Timeout(WAIT_SECONDS + 30.0, pool=None)
        self.clients = [httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout) for _ in range(size)]
        self.busy = [0] * size

    @contextlib.asynccontextmanager
    async def client(self) -> AsyncIterator[httpx.AsyncClient]:
        """The least busy client (the first at light load, so its connections stay warm)."""
        index = min(range(len(self.busy)), key=self.busy.__getitem__)
        self.busy[index] += 1
        try:
            yield self.clients[index]
        finally:
            self.busy[index] -= 1

    async def aclose(self) -> None:
        await asyncio.gather(*(client.aclose() for client in self.clients))
