"""Where a webhook may be sent: SSRF protection, shared by submit (API) and delivery (worker).

A URL is acceptable when it is http(s) and every address its host resolves to is
globally routable: no loopback, private, link-local (169.254.169.254 included),
CGNAT, unique-local or multicast address, no IPv4 address hidden in IPv6. Networks in
`WEBHOOK_ALLOWED_NETWORKS` are let through (local development, tests). The worker
checks again at delivery time and connects to the very address it checked, so DNS
rebinding between the check and the connection is not possible.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from settings import IPNetwork

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeWebhookTarget(ValueError):
    """The URL must not be called: its scheme, its host, or an address it resolves to."""


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str  # as written in the URL, for the Host header and TLS
    port: int
    path: str  # path and query


def parse_target(url: str) -> Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeWebhookTarget("webhook URL must be http or https")
    if not parts.hostname:
        raise UnsafeWebhookTarget("webhook URL has no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeWebhookTarget("webhook URL has an invalid port") from None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme=parts.scheme, host=parts.hostname, port=port, path=path)


def _unwrap(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return embedded
    return address


def check_address(address: str, allowed: list[IPNetwork]) -> IPAddress:
    """The address, if a webhook may be sent there; raises `UnsafeWebhookTarget` otherwise."""
    parsed = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if any(parsed in network for network in allowed):
        return parsed
    plain = _unwrap(parsed)
    if any(plain in network for network in allowed):
        return parsed
    if not plain.is_global or plain.is_multicast or plain.is_reserved or plain.is_unspecified:
        raise UnsafeWebhookTarget(f"webhook host resolves to a non-public address ({parsed})")
    return parsed


def check_addresses(addresses: list[str], allowed: list[IPNetwork]) -> list[IPAddress]:
    """Every address must pass: a host resolving to one internal address is refused."""
    if not addresses:
        raise UnsafeWebhookTarget("webhook host does not resolve")
    return [check_address(address, allowed) for address in addresses]


def resolve(target: Target) -> list[str]:
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise UnsafeWebhookTarget(f"webhook host {target.host!r} does not resolve") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))
