async def test_root_reports_healthy_without_auth(client):
    response = await client.get("/")
    assert response.status_code == 200
    assert response.json()["status"] == "healthy"


async def test_liveness(client):
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readiness_checks_database_redis_and_broker(client):
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {"database": "ok", "redis": "ok", "broker": "ok"}


async def test_metrics_use_route_templates_not_raw_paths(client, account):
    await client.get("/v1/conversations/00000000-0000-0000-0000-000000000000", headers=account.headers)
    body = (await client.get("/metrics")).text
    assert "pe_http_request_duration_seconds_bucket" in body
    assert 'route="/v1/conversations/{job_id}"' in body
    assert "00000000-0000-0000-0000-000000000000" not in body


async def test_openapi_documents_the_contract(client):
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path in (
        "/v1/conversations",
        "/v1/conversations/{job_id}",
        "/v1/conversations/{job_id}/cancel",
        "/conversation",
    ):
        assert path in paths
