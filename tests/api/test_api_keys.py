from api.security import API_KEY_LENGTH, generate_api_key, looks_like_api_key


async def _create_key(client, headers, name="ci"):
    response = await client.post("/v1/api-keys", json={"name": name}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_create_shows_the_key_once_and_lists_without_it(client, account):
    created = await _create_key(client, account.headers)
    assert created["key"].startswith("pe_") and len(created["key"]) == API_KEY_LENGTH
    assert created["key"].startswith(created["prefix"])
    listed = (await client.get("/v1/api-keys", headers=account.headers)).json()
    assert [item["id"] for item in listed] == [created["id"]]
    assert "key" not in listed[0]
    assert created["key"] not in str(listed)


async def test_key_authenticates_as_bearer_and_as_x_api_key(client, account):
    key = (await _create_key(client, account.headers))["key"]
    for headers in ({"Authorization": f"Bearer {key}"}, {"X-API-Key": key}):
        response = await client.get("/v1/users/me", headers=headers)
        assert response.status_code == 200
        assert response.json()["id"] == str(account.id)


async def test_key_use_is_recorded(client, account):
    created = await _create_key(client, account.headers)
    await client.get("/v1/conversations", headers={"X-API-Key": created["key"]})
    listed = (await client.get("/v1/api-keys", headers=account.headers)).json()
    assert listed[0]["last_used_at"] is not None


async def test_revoked_key_stops_working_at_once(client, account):
    created = await _create_key(client, account.headers)
    headers = {"X-API-Key": created["key"]}
    assert (await client.get("/v1/conversations", headers=headers)).status_code == 200
    assert (await client.delete(f"/v1/api-keys/{created['id']}", headers=account.headers)).status_code == 204
    assert (await client.get("/v1/conversations", headers=headers)).status_code == 401
    assert (await client.get("/v1/api-keys", headers=account.headers)).json() == []


async def test_cannot_revoke_another_accounts_key(client, account, other_account):
    created = await _create_key(client, account.headers)
    response = await client.delete(f"/v1/api-keys/{created['id']}", headers=other_account.headers)
    assert response.status_code == 404
    assert (await client.get("/v1/users/me", headers={"X-API-Key": created["key"]})).status_code == 200


async def test_malformed_and_unknown_keys_are_401(client):
    unknown = generate_api_key()
    tampered = unknown[:-1] + ("A" if unknown[-1] != "A" else "B")
    for key, detail in (
        (unknown, "invalid API key"),
        (tampered, "malformed API key"),
        ("pe_short", "malformed API key"),
    ):
        response = await client.get("/v1/conversations", headers={"X-API-Key": key})
        assert response.status_code == 401
        assert response.json()["detail"] == detail


async def test_create_validates_the_name(client, account):
    for body in ({}, {"name": ""}, {"name": "x" * 101}, {"name": "ok", "extra": 1}):
        assert (await client.post("/v1/api-keys", json=body, headers=account.headers)).status_code == 422


def test_checksum_recognises_keys():
    key = generate_api_key()
    assert looks_like_api_key(key)
    assert not looks_like_api_key(key[:-6] + "000000")
    assert not looks_like_api_key("pe_" + "!" * (API_KEY_LENGTH - 3))
