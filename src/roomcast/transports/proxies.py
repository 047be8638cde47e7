"""Who a request comes from, behind reverse proxies that are trusted, sans-IO.

By default a request comes from its peer address and was sent to its ``Host``: headers a
client writes itself (``X-Forwarded-For``, ``X-Forwarded-Host``) are ignored, or anyone
could pick the address its limits are counted on. With ``trusted_proxies`` (addresses or
networks: ``["10.0.0.0/8", "127.0.0.1"]``), a request whose peer is one of them is taken
from ``X-Forwarded-For``: its hops are read from the right (the nearest) and the first one
that is not a trusted proxy is the client, so a client cannot forge what a proxy appended.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from .http import HandshakeRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=4096)
def _parse(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    address = address.strip()
    if address.startswith("[") and "]" in address:  # "[::1]:8080"
        address = address[1 : address.index("]")]
    elif address.count(":") == 1:  # "1.2.3.4:5678"
        address = address.split(":", 1)[0]
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped
    return parsed


class TrustedProxies:
    """The reverse proxies whose forwarding headers are believed (none: the default)."""

    __slots__ = ("_networks", "_verdicts")

    def __init__(self, proxies: Iterable[str] = ()) -> None:
        self._networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(proxy.strip(), strict=False) for proxy in proxies
        )
        self._verdicts: dict[str, bool] = {}

    def __bool__(self) -> bool:
        return bool(self._networks)

    def trusts(self, address: str) -> bool:
        """Whether ``address`` is one of the trusted proxies."""
        verdict = self._verdicts.get(address)
        if verdict is None:
            parsed = _parse(address)
            verdict = parsed is not None and any(parsed in net for net in self._networks)
            if len(self._verdicts) >= 4096:
                self._verdicts.clear()
            self._verdicts[address] = verdict
        return verdict

    def client_address(self, request: HandshakeRequest) -> str:
        """The address of the client that sent ``request``: its peer, or the last hop of
        ``X-Forwarded-For`` that is not a trusted proxy when the peer is one."""
        peer = request.address
        if not self._networks or not self.trusts(peer):
            return peer
        hops = [
            hop.strip()
            for value in request.headers.getall("X-Forwarded-For", [])
            for hop in value.split(",")
            if hop.strip()
        ]
        for hop in reversed(hops):
            if not self.trusts(hop):
                parsed = _parse(hop)
                return hop if parsed is None else str(parsed)
        return hops[0] if hops else peer

    def host(self, request: HandshakeRequest) -> str | None:
        """The host the client sent ``request`` to: ``Host``, or the ``X-Forwarded-Host``
        a trusted proxy set (its first value: the one the client's request had)."""
        if self._networks and self.trusts(request.address):
            forwarded = request.headers.get("X-Forwarded-Host")
            if forwarded:
                return forwarded.split(",", 1)[0].strip()
        return request.headers.get("Host")
