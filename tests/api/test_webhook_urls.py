"""SSRF protection at submit: internal targets are refused with 422."""

import pytest

from tests.support.apps import client_for
from workers.webhook_targets import UnsafeWebhookTarget, check_address

REFUSED = [
    "http://127.0.0.1/hook",
    "http://localhost:8080/hook",  # a hostname that resolves to loopback
    "http://169.254.169.254/latest/meta-data/",
    "http://10.1.2.3/hook",
    "http://192.168.0.10/hook",
    "http://172.16.5.4/hook",
    "http://100.64.0.1/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[fd00::1]/hook",
    "http://[fe80::1]/hook",
    "http://0.0.0.0/hook",
    "http://224.0.0.1/hook",
    "http://does-not-exist.invalid/hook",
]


@pytest.mark.parametrize("url", REFUSED)
async def test_internal_webhook_targets_are_refused_at_submit(settings, account, url):
    async with client_for(settings, WEBHOOK_ALLOWED_NETWORKS=[]) as strict:
        response = await strict.post(
            "/v1/conversations", json={"message": "hi", "webhook": url}, headers=account.headers
        )
    assert response.status_code == 422, response.text
    assert "webhook" in str(response.json()["detail"]).lower()


async def test_allowed_networks_let_loopback_through(client, account):
    response = await client.post(
        "/v1/conversations",
        json={"message": "hi", "model": "test-unserved", "webhook": "http://127.0.0.1:9/hook"},
        headers=account.headers,
    )
    assert response.status_code == 202


@pytest.mark.parametrize("address", ["8.8.8.8", "2001:4860:4860::8888", "1.1.1.1"])
def test_public_addresses_pass(address):
    assert str(check_address(address, [])) == address


@pytest.mark.parametrize("address", ["::ffff:10.0.0.1", "2002:a00:1::1", "::", "127.0.0.1%lo"])
def test_disguised_internal_addresses_fail(address):
    with pytest.raises(UnsafeWebhookTarget):
        check_address(address, [])
