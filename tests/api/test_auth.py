"""Login and token checks: every way a credential can be wrong answers 401, never 500."""

from datetime import timedelta

import jwt
import pytest

from db.tables import utcnow
from tests.factories import create_account, login


async def test_login_returns_a_bearer_token(client, account):
    response = await client.post("/v1/auth/token", data={"username": account.email, "password": account.password})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] > 0
    me = await client.get("/v1/users/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json()["email"] == account.email


async def test_login_is_case_insensitive_on_email(client, account):
    headers = await login(client, account.email.upper(), account.password)
    assert (await client.get("/v1/users/me", headers=headers)).status_code == 200


@pytest.mark.parametrize("which", ["wrong password", "unknown user"])
async def test_bad_login_is_401(client, account, which):
    username = account.email if which == "wrong password" else "nobody@example.com"
    response = await client.post("/v1/auth/token", data={"username": username, "password": "not-the-password"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["detail"] == "incorrect email or password"


async def test_login_without_form_fields_is_422(client):
    response = await client.post("/v1/auth/token", data={"username": "x@example.com"})
    assert response.status_code == 422


async def test_passwords_longer_than_72_bytes_count_in_full(client, admin_headers):
    """bcrypt alone ignores bytes after the 72nd; a password differing only there must fail."""
    password = "p" * 72 + "-the-tail-matters"
    account = await create_account(client, admin_headers, password=password)
    assert (
        await client.post("/v1/auth/token", data={"username": account.email, "password": password})
    ).status_code == 200
    other_tail = "p" * 72 + "-another-tail-here"
    response = await client.post("/v1/auth/token", data={"username": account.email, "password": other_tail})
    assert response.status_code == 401


async def test_missing_credentials_is_401(client):
    response = await client.get("/v1/conversations")
    assert response.status_code == 401
    assert "missing credentials" in response.json()["detail"]


def _token(settings, **claims):
    now = utcnow()
    base = {"sub": claims.pop("sub", None), "iat": now, "exp": now + timedelta(minutes=5)}
    base.update(claims)
    payload = {key: value for key, value in base.items() if value is not None}
    return jwt.encode(payload, settings.JWT_SECRET_KEY.get_secret_value(), algorithm="HS256")


def _tampered(token):
    """Same header and signature, payload swapped for another subject's."""
    import base64
    import json

    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "00000000-0000-0000-0000-000000000001"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{header}.{forged}.{signature}"


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda s, sub: "not-a-jwt", id="garbage"),
        pytest.param(lambda s, sub: _token(s, sub=sub, exp=utcnow() - timedelta(minutes=5)), id="expired"),
        pytest.param(
            lambda s, sub: jwt.encode(
                {"sub": sub, "iat": utcnow(), "exp": utcnow() + timedelta(minutes=5)},
                "another-key-of-at-least-32-bytes!!",
                algorithm="HS256",
            ),
            id="other-key",
        ),
        pytest.param(
            lambda s, sub: jwt.encode(
                {"sub": sub, "iat": utcnow(), "exp": utcnow() + timedelta(minutes=5)}, None, algorithm="none"
            ),
            id="alg-none",
        ),
        pytest.param(lambda s, sub: _token(s, sub=sub, exp=None), id="no-exp"),
        pytest.param(lambda s, sub: _token(s, sub=sub, iat=None), id="no-iat"),
        pytest.param(lambda s, sub: _token(s), id="no-sub"),
        pytest.param(lambda s, sub: _token(s, sub="not-a-uuid"), id="bad-sub"),
        pytest.param(lambda s, sub: _token(s, sub="00000000-0000-0000-0000-000000000000"), id="unknown-user"),
        pytest.param(lambda s, sub: _token(s, sub=sub, nbf=utcnow() + timedelta(minutes=5)), id="not-yet-valid"),
        pytest.param(lambda s, sub: _token(s, sub=sub, iat=utcnow() + timedelta(minutes=5)), id="issued-in-future"),
        pytest.param(
            lambda s, sub: jwt.encode(
                {"sub": sub, "iat": utcnow(), "exp": utcnow() + timedelta(minutes=5)},
                s.JWT_SECRET_KEY.get_secret_value(),
                algorithm="HS512",
            ),
            id="other-algorithm",
        ),
        pytest.param(lambda s, sub: _tampered(_token(s, sub=sub)), id="tampered-payload"),
    ],
)
async def test_untrustworthy_tokens_are_401(client, settings, account, make_token):
    token = make_token(settings, str(account.id))
    response = await client.get("/v1/conversations", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, response.text


async def test_a_valid_handmade_token_is_accepted(client, settings, account):
    """The negative cases above fail for their flaw, not because handmade tokens never work."""
    token = _token(settings, sub=str(account.id))
    response = await client.get("/v1/conversations", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
