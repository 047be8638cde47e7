"""The service put together: ``create_server(config)`` is a ``roomcast.Server`` with the
chat's events, its HTTP API and its page; ``roomcast chat`` serves it."""

from __future__ import annotations

from pathlib import Path

import roomcast

from .accounts import Accounts
from .config import ChatConfig
from .events import ChatEvents
from .http_api import HttpApi
from .notifications import Notifier
from .rooms import Typing
from .sqlite_storage import SqliteChatStorage
from .storage import ChatStorage

STATIC = Path(__file__).resolve().parent / "static"
DAY = 86400.0


REDIS_STREAM_EVENTS = 100_000


def history_store(config: ChatConfig) -> roomcast.Store:
    """roomcast's store, for the rooms' history and the tabs' recovery.

    On one machine, ``stream.db`` in the data folder (shared by the workers): chat rooms'
    events kept for ever, the rest (a user's or a tab's own events) a day. With Redis, a
    stream there, shared by every node: the newest ``REDIS_STREAM_EVENTS`` events (older
    messages stay in the database, but history pages stop there).
    """
    if config.redis is not None:
        return roomcast.store_from_url(
            config.redis,
            stream=f"{config.redis_key}-chat",
            session_prefix=f"{config.redis_key}-chat:session:",
            retention=roomcast.Retention(max_count=REDIS_STREAM_EVENTS, max_age=None),
            rooms={
                "user-*": roomcast.Retention(max_age=DAY),
                "session-*": roomcast.Retention(max_age=DAY),
            },
        )
    return roomcast.SqliteStore(
        config.stream_db,
        retention=roomcast.Retention(max_count=None, max_age=DAY),
        rooms={"room-*": roomcast.Retention(max_count=None, max_age=None)},
    )


class _Closing:
    """Closes the storage when the server is released (a ``Server.services`` entry)."""

    def __init__(self, storage: ChatStorage, typing: Typing) -> None:
        self.storage = storage
        self.typing = typing

    async def start(self) -> None:
        pass

    async def aclose(self) -> None:
        self.typing.aclose()
        await self.storage.aclose()


POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def create_storage(config: ChatConfig) -> ChatStorage:
    """The service's storage: PostgreSQL for a ``postgresql://`` store, else SQLite in the
    data folder."""
    if config.store is None:
        return SqliteChatStorage(config.chat_db)
    if config.store.startswith(POSTGRES_SCHEMES):
        from .postgres_storage import PostgresChatStorage

        return PostgresChatStorage(config.store)
    raise ValueError(f"--store takes a postgresql:// URL, not {config.store!r}")


def create_server(config: ChatConfig) -> roomcast.Server:
    io = roomcast.Server(
        recovery=roomcast.Recovery(max_disconnection_duration=120.0),
        store=history_store(config),
        rate_limit=roomcast.RateLimit("50/s", burst=100),
        max_event_bytes=32_000,
        max_event_depth=8,
        trusted_proxies=config.trusted_proxies,
    )
    storage = create_storage(config)
    accounts = Accounts(storage, config.secret, lifetime=config.token_lifetime)
    notifier = Notifier(io, storage)
    typing = Typing(io, ttl=config.typing_ttl)
    io.services.append(_Closing(storage, typing))

    io.use(roomcast.jwt_auth(secret=config.secret))
    io.on_server_side("notify")(notifier.from_emitter)
    ChatEvents(io, storage, accounts, notifier, typing).register()  # its middleware next
    HttpApi(io, accounts, notifier, config.notify_token).register()
    if STATIC.is_dir():
        io.static("/", STATIC)
    return io
