"""What the portal does to every HTTP request before routing: the client's address (believed
from ``X-Forwarded-For`` only when the socket's peer is a trusted proxy), and ``HEAD`` answered
as ``GET`` without its body."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import cast

from litestar.types import ASGIApp, Message, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(value: str) -> tuple[Network, ...]:
    """``PORTAL_TRUSTED_PROXIES``: comma-separated addresses or networks (``10.0.0.0/8``).
    Raises ValueError naming the first entry that is neither."""
    networks = []
    for entry in (e.strip() for e in value.split(",")):
        if entry:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
    return tuple(networks)


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _trusted(address: str, networks: Iterable[Network]) -> bool:
    ip = _ip(address)
    return ip is not None and any(ip in n for n in networks)


def client_address(peer: str, forwarded_for: list[str], trusted: tuple[Network, ...]) -> str:
    """The client's address: the socket's ``peer`` unless it is a trusted proxy; then the
    right-most address of ``X-Forwarded-For`` that is not itself a trusted proxy (every
    proxy appends the address it saw, so only the entries our own proxies added can be
    believed). An entry that is not an address ends the walk: the last believed hop stands."""
    if not trusted or not _trusted(peer, trusted):
        return peer
    client = peer
    hops = [h.strip() for header in forwarded_for for h in header.split(",")]
    for hop in reversed(hops):
        if _ip(hop) is None:
            break
        client = str(_ip(hop))
        if not _trusted(client, trusted):
            break
    return client


def resolve_client(scope: Scope, trusted: tuple[Network, ...]) -> None:
    """Rewrite ``scope["client"]`` (rate limit, audit log) from a trusted proxy's header."""
    client = scope.get("client")
    if not trusted or not client:
        return
    forwarded = [v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"x-forwarded-for"]
    if forwarded:
        scope["client"] = (client_address(client[0], forwarded, trusted)[:64], client[1])


async def head_as_get(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    """Answer HEAD exactly as GET would (status, headers, Content-Length), without the body."""

    async def without_body(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    as_get = cast(Scope, {**scope, "method": "GET"})  # the same scope, as GET
    await app(as_get, receive, without_body)
