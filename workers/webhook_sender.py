"""One signed HTTP attempt at a webhook, to an address checked just before connecting.

Standard Webhooks headers: `webhook-id` (the delivery's id, stable across retries),
`webhook-timestamp` (this attempt), `webhook-signature` (`v1,<base64 HMAC-SHA256 of
id.timestamp.body>`, one per valid secret, space-separated while a rotated secret is
in its grace period). No redirects are followed: a 3xx is a failure.
"""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

import urllib3
from standardwebhooks import Webhook

from settings import IPNetwork
from workers.webhook_targets import UnsafeWebhookTarget, check_addresses, parse_target, resolve

USER_AGENT = "pixelated-empathy-webhooks/1.0"
MAX_RESPONSE_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class AttemptResult:
    status_code: int | None
    duration: float
    error: str | None = None
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def signed_headers(*, message_id: str, timestamp: datetime, body: str, secrets: list[str]) -> dict[str, str]:
    signatures = " ".join(Webhook(secret).sign(message_id, timestamp, body) for secret in secrets)
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signatures,
    }


def _retry_after(value: str | None, now: float) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


def send(url: str, *, body: str, headers: dict[str, str], allowed: list[IPNetwork], timeout: float) -> AttemptResult:
    started = time.perf_counter()
    try:
        target = parse_target(url)
        address = str(check_addresses(resolve(target), allowed)[0])
    except UnsafeWebhookTarget as exc:
        return AttemptResult(status_code=None, duration=time.perf_counter() - started, error=f"refused: {exc}")
    host = f"[{target.host}]" if ":" in target.host else target.host
    host_header = host if target.port == {"http": 80, "https": 443}[target.scheme] else f"{host}:{target.port}"
    pool: urllib3.HTTPConnectionPool
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            address,
            target.port,
            server_hostname=target.host,
            assert_hostname=target.host,
            ssl_context=ssl.create_default_context(),
            retries=False,
        )
    else:
        pool = urllib3.HTTPConnectionPool(address, target.port, retries=False)
    try:
        response = pool.urlopen(
            "POST",
            target.path,
            body=body.encode(),
            headers={**headers, "host": host_header},
            redirect=False,
            retries=False,
            timeout=urllib3.Timeout(total=timeout),
            preload_content=False,
            assert_same_host=False,
        )
        try:
            response.read(MAX_RESPONSE_BYTES)
        finally:
            response.release_conn()
        retry_after = _retry_after(response.headers.get("retry-after"), time.time())
        error = None if 200 <= response.status < 300 else f"HTTP {response.status}"
        return AttemptResult(response.status, time.perf_counter() - started, error, retry_after)
    except urllib3.exceptions.HTTPError as exc:
        return AttemptResult(
            status_code=None, duration=time.perf_counter() - started, error=f"{type(exc).__name__}: {exc}"
        )
    finally:
        pool.close()
