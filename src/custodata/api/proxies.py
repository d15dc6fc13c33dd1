"""The client's address behind a trusted reverse proxy, and only there.

``serve`` turns uvicorn's own proxy-header handling off (it trusts 127.0.0.1 by
default, so any local client could claim any address); this middleware takes
over, trusting ``X-Forwarded-For`` only when the socket peer is a configured
proxy.  The address kept is the right-most one that is not itself a trusted
proxy: entries to its left were written by the client and prove nothing.
"""

from __future__ import annotations

import ipaddress

from starlette.types import ASGIApp, Receive, Scope, Send

from custodata.api.settings import Network


def _is_trusted(host: str | None, proxies: tuple[Network, ...]) -> bool:
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in proxies)


def forwarded_client(peer: str | None, header: str | None, proxies: tuple[Network, ...]) -> str | None:
    """The client address to record: the socket peer unless it is a trusted proxy that forwarded one."""
    if not header or not _is_trusted(peer, proxies):
        return peer
    hops = [h.strip() for h in header.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, proxies):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # garbage from the client side of the chain: keep the proxy's address
    return hops[0] if hops else peer


class TrustedProxyMiddleware:
    """Rewrite ``scope['client']`` from ``X-Forwarded-For`` when, and only when, a trusted proxy sent it."""

    def __init__(self, app: ASGIApp, *, proxies: tuple[Network, ...] = ()) -> None:
        self.app = app
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.proxies:
            client = scope.get("client")
            peer = client[0] if client else None
            header = None
            for name, value in scope.get("headers") or ():
                if name == b"x-forwarded-for":
                    header = value.decode("latin-1") if header is None else f"{header},{value.decode('latin-1')}"
            host = forwarded_client(peer, header, self.proxies)
            if host != peer and host is not None:
                scope = {**scope, "client": (host, 0)}
        await self.app(scope, receive, send)
