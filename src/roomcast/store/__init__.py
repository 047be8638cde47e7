"""Durable streams and sessions for connection-state recovery and room history.

Pick a store by URL with ``from_url``:

- ``memory://``: in this process only, the fastest (``MemoryStore``);
- ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``: one file, durable,
  shared by the workers of one machine, nothing to install (``SqliteStore``);
- ``redis://host:port/db`` (``rediss://`` for TLS): shared by every node, in the layout of
  Node's ``@socket.io/redis-streams-adapter`` (``RedisStore``, the ``redis`` extra).

Options go in the query string or as keyword arguments (keywords win): ``max_count`` and
``max_age`` (the whole-store ``Retention``), and each store's own (``synchronous``,
``busy_timeout`` for SQLite; ``stream`` or ``maxlen``, ``session_prefix``, ``approximate``
for Redis). ``from_url("redis://127.0.0.1:6379/0?stream=socket.io&maxlen=10000")``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from .base import (
    DEFAULT_MAX_COUNT,
    Restored,
    Retention,
    SessionRecord,
    Store,
    StoreStatistics,
    StreamEntry,
    new_pid,
    selects,
)
from .memory import MemoryStore
from .sqlite import SqliteStore

__all__ = [
    "MemoryStore",
    "Restored",
    "Retention",
    "SessionRecord",
    "SqliteStore",
    "Store",
    "StoreStatistics",
    "StreamEntry",
    "from_url",
    "new_pid",
    "selects",
]

_NUMBERS = {"max_count": int, "maxlen": int, "max_age": float, "busy_timeout": float}
_FLAGS = {"approximate"}


def _query_options(query: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for name, text in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
        if name in _NUMBERS:
            try:
                options[name] = _NUMBERS[name](text)
            except ValueError:
                raise ValueError(f"store option {name}={text!r} is not a number") from None
        elif name in _FLAGS:
            options[name] = text.lower() not in ("0", "false", "no", "off")
        else:
            options[name] = text
    return options


def from_url(url: str, **options: Any) -> Store:
    """The store ``url`` names (see the module docstring), not started yet.

    Raises:
        ValueError: an unknown scheme or a malformed option.
        ImportError: ``redis://`` without the ``redis`` extra installed.
    """
    parts = urlsplit(url)
    merged = {**_query_options(parts.query), **options}
    if "maxlen" in merged:
        merged.setdefault("max_count", merged.pop("maxlen"))
    if "max_count" in merged or "max_age" in merged:
        merged.setdefault(
            "retention",
            Retention(merged.pop("max_count", DEFAULT_MAX_COUNT), merged.pop("max_age", None)),
        )
    merged.pop("max_count", None)
    merged.pop("max_age", None)
    scheme = parts.scheme.lower()
    if scheme == "memory":
        return MemoryStore(**merged)
    if scheme == "sqlite":
        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        if parts.netloc or not path:
            raise ValueError(
                f"a SQLite store URL is sqlite:///relative/path or sqlite:////absolute/path,"
                f" not {url!r}"
            )
        return SqliteStore(path, **merged)
    if scheme in ("redis", "rediss", "unix"):
        from .redis import RedisStore

        return RedisStore(urlunsplit(parts._replace(query="")), **merged)
    raise ValueError(
        f"unknown store URL scheme {parts.scheme!r} in {url!r}:"
        " use memory://, sqlite:///path or redis://host:port/db"
    )
