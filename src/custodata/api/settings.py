"""How the web layer of one deployment is configured: cookies over TLS, trusted proxies, the console key.

Every worker of ``custodata serve --workers N`` builds its application from the
environment (:meth:`WebSettings.from_env`), so whatever one worker trusts or
signs with, all of them do.  ``serve`` sets the variables from its options.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

from custodata.errors import ConfigError

SECURE_COOKIES_ENV = "CUSTODATA_SECURE_COOKIES"
TRUSTED_PROXIES_ENV = "CUSTODATA_TRUSTED_PROXIES"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def parse_proxies(raw: str | None, *, source: str = TRUSTED_PROXIES_ENV) -> tuple[Network, ...]:
    """Comma-separated addresses or networks (``10.0.0.5, 10.1.0.0/16``); empty trusts no proxy.

    ``*`` is refused: trusting every client's ``X-Forwarded-For`` is exactly the
    hole this setting closes (anyone could write any address into the audit log).
    """
    networks: list[Network] = []
    for part in (raw or "").split(","):
        item = part.strip()
        if not item:
            continue
        if item == "*":
            raise ConfigError(f"{source}: '*' would trust X-Forwarded-For from any client; name the proxies")
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(f"{source}: {item!r} is not an IP address or network (e.g. 10.0.0.5, 10.1.0.0/16)") \
                from None
    return tuple(networks)


def _flag(name: str) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigError(f"{name} must be 1 or 0 (true/false), not {raw!r}")


@dataclass(frozen=True)
class WebSettings:
    """``secure_cookies``: cookies only over HTTPS (on wherever TLS is used, at the server or a proxy).

    ``trusted_proxies``: the reverse proxies whose ``X-Forwarded-For`` names the
    client; from anyone else the header is ignored and the socket peer is the
    source address the audit log records.
    """

    secure_cookies: bool = False
    trusted_proxies: tuple[Network, ...] = ()

    @classmethod
    def from_env(cls) -> WebSettings:
        return cls(secure_cookies=_flag(SECURE_COOKIES_ENV),
                   trusted_proxies=parse_proxies(os.environ.get(TRUSTED_PROXIES_ENV)))
