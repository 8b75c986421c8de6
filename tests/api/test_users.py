import uuid

import pytest


def _new_email():
    return f"new-{uuid.uuid4().hex[:10]}@example.com"


async def test_admin_creates_users(client, admin_headers):
    response = await client.post(
        "/v1/users", json={"email": _new_email(), "password": "long-enough-pw", "role": "user"}, headers=admin_headers
    )
    assert response.status_code == 201
    body = response.json()
    assert body["role"] == "user" and body["is_active"] is True
    assert "password" not in str(body) and "hashed" not in str(body)


async def test_users_cannot_create_users_or_admins(client, account):
    for role in ("user", "admin"):
        response = await client.post(
            "/v1/users",
            json={"email": _new_email(), "password": "long-enough-pw", "role": role},
            headers=account.headers,
        )
        assert response.status_code == 403


async def test_duplicate_email_is_409(client, admin_headers, account):
    response = await client.post(
        "/v1/users", json={"email": account.email, "password": "long-enough-pw"}, headers=admin_headers
    )
    assert response.status_code == 409


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": "long-enough-pw"},
        {"email": "a@example.com", "password": "short"},
        {"email": "a@example.com", "password": "long-enough-pw", "role": "superuser"},
        {"password": "long-enough-pw"},
    ],
)
async def test_bad_user_bodies_are_422(client, admin_headers, body):
    assert (await client.post("/v1/users", json=body, headers=admin_headers)).status_code == 422
