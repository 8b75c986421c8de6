"""Plain functions that create what tests need, through the public API."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Account:
    id: uuid.UUID
    email: str
    password: str
    headers: dict[str, str]


async def login(client: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
    response = await client.post("/v1/auth/token", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def create_account(
    client: httpx.AsyncClient, admin_headers: dict[str, str], *, role: str = "user", password: str | None = None
) -> Account:
    email = f"user-{uuid.uuid4().hex[:12]}@example.com"
    password = password or secrets.token_urlsafe(16)
    response = await client.post(
        "/v1/users", json={"email": email, "password": password, "role": role}, headers=admin_headers
    )
    assert response.status_code == 201, response.text
    headers = await login(client, email, password)
    return Account(id=uuid.UUID(response.json()["id"]), email=email, password=password, headers=headers)


async def submit(
    client: httpx.AsyncClient, headers: dict[str, str], message: str = "I can't sleep before exams", **body: Any
) -> httpx.Response:
    return await client.post("/v1/conversations", json={"message": message, **body}, headers=headers)


async def submit_ok(
    client: httpx.AsyncClient, headers: dict[str, str], message: str = "hello", **body: Any
) -> dict[str, Any]:
    response = await submit(client, headers, message, **body)
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    return job


async def wait_for(
    client: httpx.AsyncClient, headers: dict[str, str], job_id: str, *, timeout: float = 60
) -> dict[str, Any]:
    """The job once terminal (long-polls), failing the test if it is not terminal in time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        wait = max(1, min(30, int(deadline - loop.time())))
        response = await client.get(f"/v1/conversations/{job_id}", params={"wait": wait}, headers=headers)
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        if job["status"] in ("succeeded", "failed", "canceled"):
            return job
        if loop.time() > deadline:
            raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s")


async def wait_for_status(
    client: httpx.AsyncClient, headers: dict[str, str], job_id: str, status: str, *, timeout: float = 30
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        response = await client.get(f"/v1/conversations/{job_id}", headers=headers)
        job: dict[str, Any] = response.json()
        if job["status"] == status:
            return job
        if loop.time() > deadline:
            raise AssertionError(f"job {job_id} is {job['status']}, never {status}")
        await asyncio.sleep(0.05)
