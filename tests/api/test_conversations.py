"""/v1/conversations through the in-process API and a real worker process."""

import asyncio
import uuid

import pytest

from tests.factories import submit, submit_ok, wait_for, wait_for_status

TERMINAL = {"succeeded", "failed", "canceled"}


async def test_submit_answers_202_with_the_job_and_its_location(client, account):
    response = await submit(client, account.headers, "I can't sleep before exams", user_id="client-17")
    assert response.status_code == 202
    job = response.json()
    assert response.headers["location"] == f"/v1/conversations/{job['id']}"
    assert job["status"] in {"queued", "running", "succeeded"}
    assert job["model"] == "empathy-minilm"
    assert job["input"] == {"message": "I can't sleep before exams", "context": None, "user_id": "client-17"}
    assert job["webhook_events_filter"] == ["start", "completed"]
    assert job["urls"] == {"get": f"/v1/conversations/{job['id']}", "cancel": f"/v1/conversations/{job['id']}/cancel"}


async def test_job_completes_through_a_real_worker(client, worker, account):
    job = await submit_ok(client, account.headers, "My grandmother passed away last night", context=["She raised me"])
    done = await wait_for(client, account.headers, job["id"])
    assert done["status"] == "succeeded", done
    output = done["output"]
    assert output["response"].strip()
    assert 0 <= output["confidence"] <= 1
    assert output["metadata"]["emotion"] == "grief"
    assert sum(output["metadata"]["emotion_scores"].values()) == pytest.approx(1, abs=1e-4)
    assert done["attempts"] == 1 and done["error"] is None
    assert done["started_at"] >= done["created_at"] and done["completed_at"] >= done["started_at"]
    assert done["metrics"]["batch_size"] >= 1 and done["metrics"]["inference_time"] > 0


async def test_prefer_wait_answers_with_the_finished_job(client, worker, account):
    response = await client.post(
        "/v1/conversations",
        json={"message": "hello there", "model": "test-echo"},
        headers={**account.headers, "Prefer": "wait=30"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "succeeded"
    assert response.json()["output"]["response"] == "echo: hello there"
    assert response.headers["preference-applied"] == "wait=30"


async def test_prefer_wait_returns_202_when_time_runs_out(client, account):
    response = await client.post(
        "/v1/conversations",
        json={"message": "nobody serves this", "model": "test-unserved"},
        headers={**account.headers, "Prefer": "wait=1"},
    )
    assert response.status_code == 202
    assert response.json()["status"] == "queued"


async def test_long_poll_returns_when_the_job_finishes(client, worker, account):
    job = await submit_ok(client, account.headers, "sleep:1", model="test-slow")
    started = asyncio.get_running_loop().time()
    response = await client.get(f"/v1/conversations/{job['id']}", params={"wait": 30}, headers=account.headers)
    elapsed = asyncio.get_running_loop().time() - started
    assert response.json()["status"] == "succeeded"
    assert elapsed < 25, "the waiter was woken by the notification, not by the timeout"


async def test_long_poll_times_out_with_the_job_as_it_is(client, account):
    job = await submit_ok(client, account.headers, "never runs", model="test-unserved")
    response = await client.get(f"/v1/conversations/{job['id']}", params={"wait": 1}, headers=account.headers)
    assert response.status_code == 200
    assert response.json()["status"] == "queued"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "message"),
        ({"message": ""}, "message"),
        ({"message": "   "}, "blank"),
        ({"message": "x" * 4001}, "4000"),
        ({"message": "hi", "model": "gpt-17"}, "unknown model"),
        ({"message": "hi", "webhook": "ftp://example.org/hook"}, "webhook"),
        ({"message": "hi", "webhook": "not a url"}, "webhook"),
        ({"message": "hi", "webhook_events_filter": ["finished"]}, "webhook_events_filter"),
        ({"message": "hi", "context": ["x"] * 21}, "context"),
        ({"message": "hi", "context": "x" * 16001}, "context"),
        ({"message": "hi", "user_id": "u" * 257}, "user_id"),
        ({"message": "hi", "temperature": 2}, "temperature"),
        ({"message": 42}, "message"),
    ],
)
async def test_bad_bodies_are_422_with_a_useful_detail(client, account, body, fragment):
    response = await client.post("/v1/conversations", json=body, headers=account.headers)
    assert response.status_code == 422, response.text
    assert fragment in str(response.json()["detail"])


async def test_body_that_is_not_json_is_422(client, account):
    response = await client.post(
        "/v1/conversations", content=b"{not json", headers={**account.headers, "content-type": "application/json"}
    )
    assert response.status_code == 422


@pytest.mark.parametrize("prefer", ["wait=soon", "wait=-1"])
async def test_bad_prefer_wait_is_422(client, account, prefer):
    response = await client.post(
        "/v1/conversations", json={"message": "hi"}, headers={**account.headers, "Prefer": prefer}
    )
    assert response.status_code == 422


async def test_unknown_job_is_404_and_malformed_id_is_422(client, account):
    assert (await client.get(f"/v1/conversations/{uuid.uuid4()}", headers=account.headers)).status_code == 404
    response = await client.get("/v1/conversations/not-a-uuid", headers=account.headers)
    assert response.status_code == 422
    assert (await client.post(f"/v1/conversations/{uuid.uuid4()}/cancel", headers=account.headers)).status_code == 404


async def test_wait_above_60_seconds_is_422(client, account):
    job = await submit_ok(client, account.headers, "hi", model="test-unserved")
    response = await client.get(f"/v1/conversations/{job['id']}", params={"wait": 61}, headers=account.headers)
    assert response.status_code == 422


async def test_another_account_cannot_see_wait_for_list_or_cancel_a_job(client, account, other_account):
    job = await submit_ok(client, account.headers, "my secret worry", model="test-unserved")
    url = f"/v1/conversations/{job['id']}"
    assert (await client.get(url, headers=other_account.headers)).status_code == 404
    assert (await client.get(url, params={"wait": 1}, headers=other_account.headers)).status_code == 404
    assert (await client.post(f"{url}/cancel", headers=other_account.headers)).status_code == 404
    listed = (await client.get("/v1/conversations", headers=other_account.headers)).json()
    assert job["id"] not in str(listed) and "my secret worry" not in str(listed)
    assert (await client.get(url, headers=account.headers)).json()["status"] == "queued"


async def test_admins_see_every_job(client, account, admin_headers):
    job = await submit_ok(client, account.headers, "hi", model="test-unserved")
    assert (await client.get(f"/v1/conversations/{job['id']}", headers=admin_headers)).status_code == 200


async def test_list_is_newest_first_with_cursor_pagination(client, account):
    ids = [(await submit_ok(client, account.headers, f"message {i}", model="test-unserved"))["id"] for i in range(5)]
    first = (await client.get("/v1/conversations", params={"limit": 2}, headers=account.headers)).json()
    assert [item["id"] for item in first["items"]] == ids[::-1][:2]
    second = (
        await client.get(
            "/v1/conversations", params={"limit": 2, "cursor": first["next_cursor"]}, headers=account.headers
        )
    ).json()
    assert [item["id"] for item in second["items"]] == ids[::-1][2:4]
    third = (
        await client.get(
            "/v1/conversations", params={"limit": 2, "cursor": second["next_cursor"]}, headers=account.headers
        )
    ).json()
    assert [item["id"] for item in third["items"]] == ids[:1]
    assert third["next_cursor"] is None


async def test_list_filters_by_status_and_user_id(client, account):
    kept = await submit_ok(client, account.headers, "a", model="test-unserved", user_id="end-user-1")
    await submit_ok(client, account.headers, "b", model="test-unserved", user_id="end-user-2")
    canceled = await submit_ok(client, account.headers, "c", model="test-unserved", user_id="end-user-1")
    await client.post(f"/v1/conversations/{canceled['id']}/cancel", headers=account.headers)

    by_user = (await client.get("/v1/conversations", params={"user_id": "end-user-1"}, headers=account.headers)).json()
    assert {item["id"] for item in by_user["items"]} == {kept["id"], canceled["id"]}
    by_status = (await client.get("/v1/conversations", params={"status": "canceled"}, headers=account.headers)).json()
    assert [item["id"] for item in by_status["items"]] == [canceled["id"]]


@pytest.mark.parametrize(
    "params", [{"status": "done"}, {"limit": 0}, {"limit": 101}, {"cursor": "garbage!"}, {"cursor": "Zm9vfGJhcg"}]
)
async def test_bad_list_parameters_are_422(client, account, params):
    response = await client.get("/v1/conversations", params=params, headers=account.headers)
    assert response.status_code == 422, response.text


async def test_idempotency_key_returns_the_same_job(client, account, other_account):
    headers = {**account.headers, "Idempotency-Key": "order-42"}
    body = {"message": "same request", "model": "test-unserved"}
    first = await client.post("/v1/conversations", json=body, headers=headers)
    second = await client.post("/v1/conversations", json=body, headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]

    changed = await client.post("/v1/conversations", json={**body, "message": "other"}, headers=headers)
    assert changed.status_code == 422
    assert "Idempotency-Key" in changed.json()["detail"]

    elsewhere = await client.post(
        "/v1/conversations", json=body, headers={**other_account.headers, "Idempotency-Key": "order-42"}
    )
    assert elsewhere.status_code == 202 and elsewhere.json()["id"] != first.json()["id"]


async def test_concurrent_requests_with_one_idempotency_key_create_one_job(client, account):
    headers = {**account.headers, "Idempotency-Key": f"race-{uuid.uuid4()}"}
    body = {"message": "raced", "model": "test-unserved"}
    responses = await asyncio.gather(*(client.post("/v1/conversations", json=body, headers=headers) for _ in range(5)))
    assert {response.status_code for response in responses} == {202}
    assert len({response.json()["id"] for response in responses}) == 1


async def test_bad_idempotency_key_is_422(client, account):
    response = await client.post(
        "/v1/conversations", json={"message": "hi"}, headers={**account.headers, "Idempotency-Key": "k" * 256}
    )
    assert response.status_code == 422


async def test_canceled_queued_job_never_runs(client, worker, account, settings):
    """Cancel a job no worker has picked up, then deliver its message: the worker drops it."""
    from celeryconfig import make_celery
    from workers.queues import send_job

    job = await submit_ok(client, account.headers, "cancel me", model="test-unserved")
    canceled = await client.post(f"/v1/conversations/{job['id']}/cancel", headers=account.headers)
    assert canceled.status_code == 200
    assert canceled.json()["status"] == "canceled"

    celery = make_celery(settings)
    await asyncio.to_thread(send_job, celery, settings, uuid.UUID(job["id"]), "test-echo")
    sentinel = await submit_ok(client, account.headers, "after the canceled one", model="test-echo")
    assert (await wait_for(client, account.headers, sentinel["id"]))["status"] == "succeeded"
    await asyncio.sleep(0.5)
    final = (await client.get(f"/v1/conversations/{job['id']}", headers=account.headers)).json()
    assert final["status"] == "canceled"
    assert final["attempts"] == 0 and final["started_at"] is None and final["output"] is None
    celery.close()


async def test_canceling_a_running_job_discards_its_result(client, worker, account):
    job = await submit_ok(client, account.headers, "sleep:2", model="test-slow")
    await wait_for_status(client, account.headers, job["id"], "running")
    canceled = await client.post(f"/v1/conversations/{job['id']}/cancel", headers=account.headers)
    assert canceled.status_code == 200
    await asyncio.sleep(3)
    final = (await client.get(f"/v1/conversations/{job['id']}", headers=account.headers)).json()
    assert final["status"] == "canceled"
    assert final["output"] is None


async def test_canceling_a_finished_job_is_409(client, worker, account):
    job = await submit_ok(client, account.headers, "quick", model="test-echo")
    await wait_for(client, account.headers, job["id"])
    response = await client.post(f"/v1/conversations/{job['id']}/cancel", headers=account.headers)
    assert response.status_code == 409
    assert "succeeded" in response.json()["detail"]


async def test_model_error_fails_the_job_and_the_worker_keeps_serving(client, worker, account):
    bad = await submit_ok(client, account.headers, "boom", model="test-flaky")
    failed = await wait_for(client, account.headers, bad["id"])
    assert failed["status"] == "failed"
    assert failed["error"]["type"] == "model_error"
    assert "boom" in failed["error"]["message"]
    assert failed["output"] is None

    good = await submit_ok(client, account.headers, "fine", model="test-flaky")
    assert (await wait_for(client, account.headers, good["id"]))["status"] == "succeeded"


async def test_many_jobs_each_reach_exactly_one_terminal_state(client, worker, account):
    jobs = await asyncio.gather(*(submit_ok(client, account.headers, f"job {i}", model="test-echo") for i in range(40)))
    finished = await asyncio.gather(*(wait_for(client, account.headers, job["id"]) for job in jobs))
    assert all(job["status"] == "succeeded" and job["attempts"] == 1 for job in finished)
    assert [job["output"]["response"] for job in finished] == [f"echo: job {i}" for i in range(40)]


async def test_jobs_arriving_while_a_batch_runs_are_batched_together(client, worker, account):
    slow = await submit_ok(client, account.headers, "sleep:1.5", model="test-slow")
    await wait_for_status(client, account.headers, slow["id"], "running")
    quick = await asyncio.gather(*(submit_ok(client, account.headers, f"q{i}", model="test-slow") for i in range(12)))
    finished = await asyncio.gather(*(wait_for(client, account.headers, job["id"]) for job in quick))
    sizes = [job["metrics"]["batch_size"] for job in finished]
    assert max(sizes) > 1, sizes
    assert all(job["output"]["metadata"]["batch_size"] == job["metrics"]["batch_size"] for job in finished)
    assert [job["output"]["response"] for job in finished] == [f"echo: q{i}" for i in range(12)]
