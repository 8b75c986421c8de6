"""PostgreSQL or Redis unreachable: 503 with Retry-After, never a 500, never a lost job."""

from datetime import timedelta

import pytest

from api.security import create_access_token
from db.tables import utcnow
from tests.support.apps import client_for

DEAD_POSTGRES = "postgresql://postgres@127.0.0.1:1/nowhere"
DEAD_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
def token_headers(settings, account):
    token = create_access_token(subject=account.id, settings=settings, now=utcnow() - timedelta(seconds=1))
    return {"Authorization": f"Bearer {token.token}"}


async def test_database_down_is_503_with_retry_after(settings, token_headers):
    async with client_for(settings, DATABASE_URL=DEAD_POSTGRES, DB_CONNECT_TIMEOUT_SECONDS=2) as http:
        requests = [
            http.get("/v1/conversations", headers=token_headers),
            http.post("/v1/conversations", json={"message": "hi"}, headers=token_headers),
            http.post("/v1/auth/token", data={"username": "a@example.com", "password": "whatever-it-is"}),
        ]
        for request in requests:
            response = await request
            assert response.status_code == 503, response.text
            assert int(response.headers["retry-after"]) > 0
            assert "unavailable" in response.json()["detail"]
        ready = await http.get("/readyz")
        assert ready.status_code == 503 and ready.headers["retry-after"]
        assert ready.json()["checks"]["database"].startswith("unavailable")
        assert (await http.get("/healthz")).status_code == 200


async def test_redis_down_at_submit_still_accepts_and_completes_the_job(settings, worker, account, client):
    """The row is committed, the publish fails, the sweeper publishes it: 202, then done."""
    async with client_for(settings, REDIS_URL=DEAD_REDIS, BROKER_URL=DEAD_REDIS) as http:
        response = await http.post(
            "/v1/conversations", json={"message": "still there?", "model": "test-echo"}, headers=account.headers
        )
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        ready = await http.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["redis"].startswith("unavailable")
        # Without notifications the long-poll falls back to re-reading the database.
        done = await http.get(f"/v1/conversations/{job_id}", params={"wait": 30}, headers=account.headers)
    assert done.json()["status"] == "succeeded", done.json()
