"""The client's address behind the front door: ``X-Forwarded-For``, believed only from a proxy.

Anyone can send ``X-Forwarded-For``; only a request whose peer is one of
``NNSERVE_TRUSTED_PROXIES`` has it read. Its addresses are walked from the right (the hop nearest
to us) past trusted proxies, and the first untrusted one becomes ``REMOTE_ADDR``, so a client
cannot choose its logged address by sending the header itself.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def parse_networks(spec: str) -> list[Network]:
    """``"10.0.0.5, 172.28.0.0/24"`` as networks; ``ValueError`` names a bad entry."""
    networks = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"NNSERVE_TRUSTED_PROXIES: {item!r} is not an address or "
                             "network") from None
    return networks


def _trusted(address: str, networks: list[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address(peer: str, forwarded_for: str | None, networks: list[Network]) -> str:
    """The address to log for a request from ``peer`` carrying ``forwarded_for``."""
    if not forwarded_for or not _trusted(peer, networks):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            return hop
    return hops[0] if hops else peer


class TrustedProxies:
    """WSGI middleware setting ``REMOTE_ADDR`` from a trusted proxy's ``X-Forwarded-For``."""

    def __init__(self, app: WsgiApp, networks: list[Network]) -> None:
        self.app, self.networks = app, networks

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        peer = environ.get("REMOTE_ADDR", "")
        environ["REMOTE_ADDR"] = client_address(
            peer, environ.get("HTTP_X_FORWARDED_FOR"), self.networks)
        return self.app(environ, start_response)
