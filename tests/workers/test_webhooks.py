"""Webhooks end to end: a real worker, a real webhook worker, a real receiver on loopback."""

import asyncio

import pytest
from standardwebhooks import Webhook

from tests.factories import submit_ok, wait_for
from tests.support.receiver import Receiver
from workers.webhook_delivery import next_delay
from workers.webhook_sender import send, signed_headers

pytestmark = pytest.mark.usefixtures("worker", "webhook_worker")


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


async def secret_of(client, account):
    response = await client.get("/v1/webhooks/secret", headers=account.headers)
    assert response.status_code == 200
    return response.json()["key"]


async def deliveries(client, account, job_id):
    response = await client.get(f"/v1/conversations/{job_id}/webhook-deliveries", headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def settled(client, account, job_id, count, timeout=30.0):
    """The job's deliveries once `count` of them are finished (succeeded, failed or gone)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        items = await deliveries(client, account, job_id)
        done = [d for d in items if d["status"] in ("succeeded", "failed", "gone")]
        if len(done) >= count:
            return items
        if loop.time() > deadline:
            raise AssertionError(f"deliveries not settled: {items}")
        await asyncio.sleep(0.2)


async def test_events_arrive_signed_and_verify_with_the_reference_verifier(client, account, receiver):
    secret = await secret_of(client, account)
    job = await submit_ok(client, account.headers, "I got the job!", model="test-echo", webhook=receiver.url())
    await wait_for(client, account.headers, job["id"])
    await settled(client, account, job["id"], 2)

    events = [Webhook(secret).verify(r.body, r.headers) for r in receiver.received]
    assert [e["type"] for e in events] == ["conversation.started", "conversation.completed"]
    assert events[0]["data"]["status"] == "running"
    assert events[1]["data"]["status"] == "succeeded"
    assert events[1]["data"]["output"]["response"] == "echo: I got the job!"
    assert all(e["data"]["id"] == job["id"] for e in events)
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 2
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "A" * 32).verify(receiver.received[0].body, receiver.received[0].headers)


async def test_each_event_arrives_once_through_500_and_timeout(client, account, receiver):
    receiver.script = [500, (2.5, 200), 200]  # fails, times out (the sender gives up at 1.5 s), succeeds
    job = await submit_ok(
        client,
        account.headers,
        "retry me",
        model="test-echo",
        webhook=receiver.url(),
        webhook_events_filter=["completed"],
    )
    (delivery,) = await settled(client, account, job["id"], 1)
    assert delivery["status"] == "succeeded"
    assert [a["status_code"] for a in delivery["attempt_log"]] == [500, None, 200]
    assert "timed out" in delivery["attempt_log"][1]["error"].lower()
    assert len(receiver.acknowledged()) == 1
    assert {r.headers["webhook-id"] for r in receiver.received} == {delivery["webhook_id"]}
    assert len({r.headers["webhook-timestamp"] for r in receiver.received}) >= 1


async def test_a_receiver_down_for_a_while_gets_everything_later(client, account):
    from scripts.embedded import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    jobs = [await submit_ok(client, account.headers, f"m{i}", model="test-echo", webhook=url) for i in range(3)]
    for job in jobs:
        await wait_for(client, account.headers, job["id"])
    await asyncio.sleep(1.5)  # a few attempts fail: nothing listens yet
    failed_attempts = sum(len(d["attempt_log"]) for d in await deliveries(client, account, jobs[0]["id"]))
    assert failed_attempts >= 2
    receiver = Receiver(port=port)
    try:
        for job in jobs:
            items = await settled(client, account, job["id"], 2)
            assert {d["status"] for d in items} == {"succeeded"}
        ids = [r.json["data"]["id"] for r in receiver.acknowledged()]
        assert sorted(ids) == sorted(job["id"] for job in jobs for _ in range(2))
    finally:
        receiver.close()


async def test_the_events_filter_is_honoured(client, account, receiver):
    job = await submit_ok(
        client,
        account.headers,
        "only the end",
        model="test-echo",
        webhook=receiver.url(),
        webhook_events_filter=["completed"],
    )
    await wait_for(client, account.headers, job["id"])
    await settled(client, account, job["id"], 1)
    await asyncio.sleep(0.5)
    assert [r.json["type"] for r in receiver.received] == ["conversation.completed"]


async def test_410_stops_every_delivery_of_the_job(client, account, receiver):
    receiver.default = 410
    job = await submit_ok(client, account.headers, "sleep:1", model="test-slow", webhook=receiver.url())
    await wait_for(client, account.headers, job["id"])
    await asyncio.sleep(1)
    items = await deliveries(client, account, job["id"])
    # Nothing is retried after a 410, and an event written after it is never sent.
    assert {d["status"] for d in items} == {"gone"}
    assert sum(len(d["attempt_log"]) for d in items) == len(receiver.received) <= 2
    assert all(len(d["attempt_log"]) <= 1 for d in items)


async def test_redirects_are_failures_and_not_followed(client, account, receiver):
    receiver.script = [302]
    receiver.extra_headers = {"location": receiver.url("/elsewhere")}
    job = await submit_ok(
        client, account.headers, "x", model="test-echo", webhook=receiver.url(), webhook_events_filter=["completed"]
    )
    (delivery,) = await settled(client, account, job["id"], 1)
    assert [a["status_code"] for a in delivery["attempt_log"]] == [302, 200]
    assert all(r.path == "/hook" for r in receiver.received)


async def test_rotation_signs_with_both_secrets_during_the_grace_period(client, account, receiver):
    old = await secret_of(client, account)
    rotated = await client.post("/v1/webhooks/secret/rotate", headers=account.headers)
    assert rotated.status_code == 200 and rotated.json()["previous_valid_until"]
    new = rotated.json()["key"]
    assert new != old and await secret_of(client, account) == new
    job = await submit_ok(
        client, account.headers, "x", model="test-echo", webhook=receiver.url(), webhook_events_filter=["completed"]
    )
    await settled(client, account, job["id"], 1)
    (request,) = receiver.received
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        assert Webhook(secret).verify(request.body, request.headers)["data"]["id"] == job["id"]


async def test_redeliver_sends_the_same_event_again(client, account, receiver):
    job = await submit_ok(
        client, account.headers, "x", model="test-echo", webhook=receiver.url(), webhook_events_filter=["completed"]
    )
    (delivery,) = await settled(client, account, job["id"], 1)
    url = f"/v1/conversations/{job['id']}/webhook-deliveries/{delivery['id']}/redeliver"
    response = await client.post(url, headers=account.headers)
    assert response.status_code == 202
    for _ in range(100):
        if len(receiver.received) == 2:
            break
        await asyncio.sleep(0.1)
    first, second = receiver.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"] and first.body == second.body


async def test_canceling_reports_completed_with_the_canceled_job(client, account, receiver):
    job = await submit_ok(client, account.headers, "never runs", model="test-unserved", webhook=receiver.url())
    assert (await client.post(f"/v1/conversations/{job['id']}/cancel", headers=account.headers)).status_code == 200
    (delivery,) = await settled(client, account, job["id"], 1)
    assert delivery["event"] == "conversation.completed"
    assert receiver.received[0].json["data"]["status"] == "canceled"


async def test_delivery_logs_are_tenant_scoped(client, account, other_account, receiver):
    job = await submit_ok(client, account.headers, "x", model="test-echo", webhook=receiver.url())
    (delivery, *_) = await settled(client, account, job["id"], 1)
    base = f"/v1/conversations/{job['id']}/webhook-deliveries"
    assert (await client.get(base, headers=other_account.headers)).status_code == 404
    redeliver = await client.post(f"{base}/{delivery['id']}/redeliver", headers=other_account.headers)
    assert redeliver.status_code == 404


def test_delivery_checks_the_address_again_and_refuses_internal_ones(receiver):
    """DNS rebinding: a URL accepted at submit but internal at delivery is not called."""
    headers = signed_headers(message_id="msg_x", timestamp=__import__("datetime").datetime.now(), body="{}", secrets=[])
    result = send(f"http://localhost:{receiver.port}/hook", body="{}", headers=headers, allowed=[], timeout=1)
    assert result.status_code is None and result.error.startswith("refused")
    assert receiver.received == []


def test_retry_delays_follow_the_schedule_with_jitter_and_retry_after():
    schedule = [0, 5, 300]
    assert next_delay(schedule, 0, None) == 0
    assert 4.5 <= next_delay(schedule, 1, None) <= 5.5
    assert next_delay(schedule, 1, retry_after=60) == 60
    assert 270 <= next_delay(schedule, 2, retry_after=1) <= 330
    assert next_delay(schedule, 3, None) is None
