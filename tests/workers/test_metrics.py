"""The worker's own Prometheus endpoint, after it ran jobs."""

import httpx

from tests.factories import submit_ok, wait_for


async def test_worker_exposes_job_batch_queue_and_busy_metrics(client, worker, account):
    job = await submit_ok(client, account.headers, "count me", model="test-echo")
    await wait_for(client, account.headers, job["id"])
    async with httpx.AsyncClient() as http:
        body = (await http.get(f"http://127.0.0.1:{worker.metrics_port}/metrics")).text
    assert 'pe_jobs_finished_total{model="test-echo",outcome="succeeded"}' in body
    for name in (
        "pe_job_queue_wait_seconds_bucket",
        "pe_model_call_seconds_bucket",
        "pe_job_end_to_end_seconds_bucket",
        "pe_batch_size_bucket",
        "pe_worker_busy_seconds_total",
        "pe_queue_depth{queue=",
    ):
        assert name in body, name
