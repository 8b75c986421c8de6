"""POST /conversation: the synchronous form of the original API."""


async def test_answers_with_the_original_response_shape(client, worker, account):
    response = await client.post(
        "/conversation", json={"message": "I finally finished my thesis!"}, headers=account.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"response", "confidence", "processing_time", "metadata"}
    assert body["response"].strip() and 0 <= body["confidence"] <= 1
    assert body["metadata"]["emotion"] in body["metadata"]["emotion_scores"]


async def test_model_failure_is_502_with_the_error_and_location(client, worker, account):
    response = await client.post(
        "/conversation", json={"message": "boom", "model": "test-flaky"}, headers=account.headers
    )
    assert response.status_code == 502
    assert response.json()["detail"]["error"]["type"] == "model_error"
    assert response.headers["location"].startswith("/v1/conversations/")


async def test_not_done_in_time_is_504_with_location(client, account):
    response = await client.post(
        "/conversation", json={"message": "never", "model": "test-unserved"}, headers=account.headers
    )
    assert response.status_code == 504
    job = await client.get(response.headers["location"], headers=account.headers)
    assert job.status_code == 200 and job.json()["status"] == "queued"


async def test_requires_credentials_and_a_valid_body(client, account):
    assert (await client.post("/conversation", json={"message": "hi"})).status_code == 401
    assert (await client.post("/conversation", json={"message": ""}, headers=account.headers)).status_code == 422
