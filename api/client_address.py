"""The client's address: the socket's peer, unless that peer is a trusted proxy.

Only then is `X-Forwarded-For` read, from the right, skipping trusted hops: the first
untrusted address is the client. A client cannot choose its own address by sending
the header, because its own hop is never trusted. (Run uvicorn with
`--no-proxy-headers` so this is the only place that reads the header.)
"""

from __future__ import annotations

import ipaddress

from starlette.requests import Request

from settings import IPNetwork


def _trusted(address: str, proxies: list[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_address(request: Request, trusted_proxies: list[IPNetwork]) -> str:
    peer = request.client.host if request.client else "unknown"
    if not _trusted(peer, trusted_proxies):
        return peer
    hops = [hop.strip() for hop in request.headers.get("x-forwarded-for", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, trusted_proxies):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # a garbled header: fall back to what the socket says
    return peer
