"""Which browser origins may open a connection: the ``Origin`` check, sans-IO.

Browsers send ``Origin`` with every WebSocket handshake and with cross-origin HTTP requests,
and they do not apply CORS to WebSockets: a page on any site can open a WebSocket to this
server with the user's cookies (cross-site WebSocket hijacking). So the allowed origins are
checked on every handshake, over long-polling and WebSocket alike:

- ``"*"``: any origin;
- an origin or a list of origins (``"https://app.example.com"``): those, exactly;
- ``None`` (the default): the server's own origin only, i.e. an ``Origin`` whose host and
  port are the request's ``Host`` (behind a trusted proxy, its ``X-Forwarded-Host``).

A request without ``Origin`` (a non-browser client: node, Python, curl) is always allowed,
as Node's engine.io does: the header guards browsers, it authenticates nobody.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

_DEFAULT_PORTS: Final = {"http": "80", "https": "443", "ws": "80", "wss": "443"}

OriginsOption = str | Collection[str] | None
"""``"*"``, one origin, several origins, or None (same origin only)."""


def _authority(host: str, scheme: str) -> str:
    """``host[:port]`` in lower case, without the scheme's default port."""
    host = host.strip().lower()
    default = _DEFAULT_PORTS.get(scheme)
    if default is not None and host.endswith(":" + default) and not host.endswith("]"):
        host = host[: -len(default) - 1]
    return host


def same_origin(origin: str, host: str | None) -> bool:
    """Whether ``origin`` (an ``Origin`` header) names the host a request was sent to
    (its ``Host`` header); the scheme is not compared (TLS may end at a proxy)."""
    if not host:
        return False
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    if not parts.scheme or not parts.netloc:
        return False  # "null" (sandboxed frames, file://) and garbage
    scheme = parts.scheme.lower()
    return _authority(parts.netloc, scheme) == _authority(host, scheme)


@dataclass(frozen=True, slots=True)
class OriginPolicy:
    """The origins allowed to connect (see the module docstring)."""

    origins: frozenset[str] | None = None
    """None: same origin only; else the allowed origins (``"*"`` among them: any)."""

    @classmethod
    def from_option(cls, option: OriginsOption) -> OriginPolicy:
        if option is None:
            return cls(None)
        if isinstance(option, str):
            return cls(frozenset({option}))
        return cls(frozenset(option))

    @property
    def any(self) -> bool:
        return self.origins is not None and "*" in self.origins

    def allows(self, origin: str | None, host: str | None) -> bool:
        """Whether a request with this ``Origin`` (None: no header) sent to ``host`` (its
        ``Host``, or the forwarded one) may go on."""
        if origin is None:
            return True
        origins = self.origins
        if origins is None:
            return same_origin(origin, host)
        return "*" in origins or origin in origins
