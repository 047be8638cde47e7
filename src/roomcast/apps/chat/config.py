"""Where the service keeps its data, and its secrets.

Everything lives in one folder (``--store postgresql://...`` moves the chat's own data to
PostgreSQL) (``--data``, default ``./roomcast-data``): ``chat.db`` (users,
rooms, messages, notifications), ``stream.db`` (roomcast's store: room history offsets and
connection-state recovery), ``secret`` (signs the session tokens) and ``notify-token`` (for
``POST /api/notify``, unless one is given). Secrets are made on first start (mode 0600) and
kept, so sessions outlive a restart and every worker signs with the same key.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA = "roomcast-data"
NOTIFY_TOKEN_ENV = "ROOMCAST_NOTIFY_TOKEN"
SECRET_ENV = "ROOMCAST_CHAT_SECRET"


def _kept_secret(path: Path) -> str:
    """The secret in ``path``, made on first use."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(value + "\n")
    return value


@dataclass(frozen=True, slots=True)
class ChatConfig:
    data: Path
    secret: str
    notify_token: str
    notify_token_file: Path | None
    """Where the notify token was read from (None: given on the command line or env)."""
    store: str | None = None
    """Where users, rooms, messages and notifications go: a ``postgresql://`` URL, or None
    for ``chat.db`` in the data folder."""
    redis: str | None = None
    """The nodes' Redis: the rooms' event stream goes there (shared by every node)."""
    redis_key: str = "socket.io"
    trusted_proxies: tuple[str, ...] = ()
    """The reverse proxies (addresses, networks) whose ``X-Forwarded-For`` names the client:
    the limits per client address count that one."""
    token_lifetime: float = 7 * 86400.0
    typing_ttl: float = 5.0

    @classmethod
    def prepare(
        cls,
        data: str | os.PathLike[str],
        *,
        notify_token: str | None,
        secret: str | None = None,
        store: str | None = None,
        redis: str | None = None,
        redis_key: str = "socket.io",
        trusted_proxies: tuple[str, ...] = (),
    ) -> ChatConfig:
        """Make the data folder and the secrets not given (before the workers start)."""
        folder = Path(data).resolve()
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        token_file = None if notify_token else folder / "notify-token"
        return cls(
            data=folder,
            secret=secret or _kept_secret(folder / "secret"),
            notify_token=notify_token or _kept_secret(folder / "notify-token"),
            notify_token_file=token_file,
            store=store,
            redis=redis,
            redis_key=redis_key,
            trusted_proxies=trusted_proxies,
        )

    @property
    def chat_db(self) -> Path:
        return self.data / "chat.db"

    @property
    def stream_db(self) -> Path:
        return self.data / "stream.db"
