"""Abuse: roles and tenancy, revoked credentials, rate limits, caps and oversize input.

Every test asserts the status code and that nothing of another tenant leaked."""

import asyncio
import hmac
import uuid

import pytest

from tests.factories import create_account, login, submit_ok
from tests.support.apps import client_for


async def test_users_cannot_escalate(client, account):
    me = account.id
    for method, url, body in [
        ("post", "/v1/users", {"email": "evil@example.com", "password": "long-enough-pw", "role": "admin"}),
        ("patch", f"/v1/users/{me}", {"role": "admin"}),
        ("get", "/v1/users", None),
    ]:
        response = await client.request(method, url, json=body, headers=account.headers)
        assert response.status_code == 403, (url, response.text)
    assert (await client.get("/v1/users/me", headers=account.headers)).json()["role"] == "user"


async def test_operators_see_and_cancel_any_job_but_cannot_manage_users(client, admin_headers, account):
    operator = await create_account(client, admin_headers, role="operator")
    job = await submit_ok(client, account.headers, "private", model="test-unserved")
    assert (await client.get(f"/v1/conversations/{job['id']}", headers=operator.headers)).status_code == 200
    listed = (await client.get("/v1/conversations", params={"limit": 100}, headers=operator.headers)).json()
    assert job["id"] in {item["id"] for item in listed["items"]}
    canceled = await client.post(f"/v1/conversations/{job['id']}/cancel", headers=operator.headers)
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    response = await client.post(
        "/v1/users", json={"email": f"{uuid.uuid4().hex}@example.com", "password": "long-enough-pw"},
        headers=operator.headers,
    )  # fmt: skip
    assert response.status_code == 403


async def test_cross_tenant_reads_cancels_and_waits_leak_nothing(client, account, other_account):
    job = await submit_ok(client, account.headers, "only mine: 7f3a", model="test-unserved", user_id="private-user")
    url = f"/v1/conversations/{job['id']}"
    responses = await asyncio.gather(
        client.get(url, headers=other_account.headers),
        client.get(url, params={"wait": 1}, headers=other_account.headers),
        client.post(f"{url}/cancel", headers=other_account.headers),
        client.get("/v1/conversations", params={"user_id": "private-user"}, headers=other_account.headers),
    )
    assert [r.status_code for r in responses] == [404, 404, 404, 200]
    for response in responses:
        assert "7f3a" not in response.text and job["id"] not in response.text
    assert responses[3].json()["items"] == []


async def test_deactivated_user_is_locked_out_at_once(client, admin_headers):
    victim = await create_account(client, admin_headers)
    key = (await client.post("/v1/api-keys", json={"name": "k"}, headers=victim.headers)).json()["key"]
    assert (await client.get("/v1/users/me", headers=victim.headers)).status_code == 200
    update = await client.patch(f"/v1/users/{victim.id}", json={"is_active": False}, headers=admin_headers)
    assert update.status_code == 200 and update.json()["is_active"] is False
    for headers in (victim.headers, {"X-API-Key": key}):
        assert (await client.get("/v1/users/me", headers=headers)).status_code == 401
    relogin = await client.post("/v1/auth/token", data={"username": victim.email, "password": victim.password})
    assert relogin.status_code == 401


async def test_admins_cannot_lock_themselves_out(client, admin_headers):
    me = (await client.get("/v1/users/me", headers=admin_headers)).json()
    for body in ({"is_active": False}, {"role": "user"}):
        assert (await client.patch(f"/v1/users/{me['id']}", json=body, headers=admin_headers)).status_code == 409


async def test_api_keys_expire(client, account, settings):
    created = (
        await client.post("/v1/api-keys", json={"name": "short", "expires_in_days": 1}, headers=account.headers)
    ).json()
    assert created["expires_at"] is not None
    headers = {"X-API-Key": created["key"]}
    assert (await client.get("/v1/users/me", headers=headers)).status_code == 200

    from sqlalchemy import update

    from db.session import make_sync_engine
    from db.tables import ApiKey, utcnow

    engine = make_sync_engine(settings)
    with engine.begin() as conn:
        conn.execute(update(ApiKey).where(ApiKey.id == uuid.UUID(created["id"])).values(expires_at=utcnow()))
    engine.dispose()
    response = await client.get("/v1/users/me", headers=headers)
    assert response.status_code == 401 and response.json()["detail"] == "API key expired"


async def test_api_key_check_is_constant_time(client, account, monkeypatch):
    """The stored hash is compared with hmac.compare_digest, never with ==."""
    key = (await client.post("/v1/api-keys", json={"name": "t"}, headers=account.headers)).json()["key"]
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr("api.deps.hmac.compare_digest", spy)
    assert (await client.get("/v1/users/me", headers={"X-API-Key": key})).status_code == 200
    assert len(calls) == 1 and calls[0][0] == calls[0][1]


async def test_rate_limits_answer_429_with_headers(settings, client, account):
    async with client_for(settings, RATE_LIMIT_READ="3/minute", RATE_LIMIT_SUBMIT="2/minute") as limited:
        statuses, last = [], None
        for _ in range(4):
            last = await limited.get("/v1/conversations", headers=account.headers)
            statuses.append(last.status_code)
        assert statuses == [200, 200, 200, 429]
        assert int(last.headers["retry-after"]) >= 1
        assert last.headers["x-ratelimit-limit"] == "3" and last.headers["x-ratelimit-remaining"] == "0"

        body = {"message": "hi", "model": "test-unserved"}
        submits = [(await limited.post("/v1/conversations", json=body, headers=account.headers)) for _ in range(3)]
        assert [r.status_code for r in submits] == [202, 202, 429]
        assert submits[0].headers["x-ratelimit-remaining"] == "1"


async def test_rate_limits_are_per_credential(settings, client, account, other_account):
    async with client_for(settings, RATE_LIMIT_READ="1/minute") as limited:
        assert (await limited.get("/v1/conversations", headers=account.headers)).status_code == 200
        assert (await limited.get("/v1/conversations", headers=account.headers)).status_code == 429
        assert (await limited.get("/v1/conversations", headers=other_account.headers)).status_code == 200
        key = (await client.post("/v1/api-keys", json={"name": "k"}, headers=account.headers)).json()["key"]
        assert (await limited.get("/v1/conversations", headers={"X-API-Key": key})).status_code == 200


async def test_login_attempts_are_limited_per_client_address(settings, account):
    async with client_for(settings, RATE_LIMIT_LOGIN="2/minute") as limited:
        form = {"username": account.email, "password": "wrong-password"}
        statuses = [(await limited.post("/v1/auth/token", data=form)).status_code for _ in range(3)]
    assert statuses == [401, 401, 429]


async def test_limiter_outage_does_not_fail_requests(settings, account):
    async with client_for(settings, RATE_LIMIT_READ="1/minute", REDIS_URL="redis://127.0.0.1:1/0") as limited:
        for _ in range(3):
            response = await limited.get("/v1/conversations", headers=account.headers)
            assert response.status_code == 200
            assert "x-ratelimit-limit" not in response.headers


async def test_account_in_flight_cap_is_429(settings, client, admin_headers):
    account = await create_account(client, admin_headers)
    async with client_for(settings, MAX_JOBS_IN_FLIGHT_PER_ACCOUNT=2) as capped:
        body = {"message": "wait", "model": "test-unserved"}
        statuses = [(await capped.post("/v1/conversations", json=body, headers=account.headers)) for _ in range(3)]
        assert [r.status_code for r in statuses] == [202, 202, 429]
        assert statuses[2].headers["retry-after"]
        await client.post(f"/v1/conversations/{statuses[0].json()['id']}/cancel", headers=account.headers)
        await asyncio.sleep(1.1)  # the count is refreshed from the database once a second
        assert (await capped.post("/v1/conversations", json=body, headers=account.headers)).status_code == 202


async def test_global_queue_depth_cap_is_503(settings, account):
    async with client_for(settings, MAX_QUEUE_DEPTH=1) as capped:
        await capped.post("/v1/conversations", json={"message": "x", "model": "test-unserved"}, headers=account.headers)
        response = await capped.post("/v1/conversations", json={"message": "y"}, headers=account.headers)
        assert response.status_code == 503 and response.headers["retry-after"]
        metrics = (await capped.get("/metrics")).text
    assert 'pe_backpressure_rejections_total{reason="queue_depth"}' in metrics


async def test_oversize_bodies_are_413(client, account, settings):
    big = {"message": "x" * (settings.MAX_BODY_BYTES + 10)}
    response = await client.post("/v1/conversations", json=big, headers=account.headers)
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]

    async def chunks():
        for _ in range(settings.MAX_BODY_BYTES // 1000 + 2):
            yield b"x" * 1000

    streamed = await client.post(
        "/v1/conversations", content=chunks(), headers={**account.headers, "content-type": "application/json"}
    )
    assert streamed.status_code == 413


@pytest.mark.parametrize("peer_trusted", [False, True])
def test_client_address_trusts_forwarded_for_only_from_proxies(peer_trusted):
    import ipaddress

    from starlette.requests import Request

    from api.client_address import client_address

    scope = {
        "type": "http",
        "client": ("10.0.0.5", 1234),
        "headers": [(b"x-forwarded-for", b"6.6.6.6, 203.0.113.7, 10.0.0.9")],
    }
    proxies = [ipaddress.ip_network("10.0.0.0/8")] if peer_trusted else []
    assert client_address(Request(scope), proxies) == ("203.0.113.7" if peer_trusted else "10.0.0.5")


async def test_login_still_works_after_tokens_of_other_users_are_revoked(client, admin_headers, account):
    """A control for the lockout tests: the failures above are specific, not global."""
    assert (
        await client.get("/v1/users/me", headers=await login(client, account.email, account.password))
    ).status_code == 200
