"""``roomcast chat``: the options (each also an environment variable) and the start."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .config import DEFAULT_DATA, NOTIFY_TOKEN_ENV, SECRET_ENV

if TYPE_CHECKING:
    from .storage import ChatStorage

logger = logging.getLogger("roomcast.chat")

DESCRIPTION = """\
Serve the chat and live-notification service: accounts, rooms, direct messages, history,
typing, presence and per-user notifications, with its web page at / and the official
Socket.IO client at /socket.io/socket.io.js. Run in an empty folder it needs nothing
else: its data (SQLite files and secrets) goes to ./roomcast-data.

Notifications: POST /api/notify with "Authorization: Bearer <notify token>" and the JSON
{"user": <id or name>, "title": ..., "body": ..., "url": ...}. The notify token is
--notify-token or $ROOMCAST_NOTIFY_TOKEN; without either, one is made on first start and
kept in <data>/notify-token. The protocol: docs/chat-protocol.md.

Every option can also be set with the environment variable shown in brackets (the
command line wins)."""


def _env(env: Mapping[str, str], *names: str, default: str | None = None) -> str | None:
    for name in names:
        if env.get(name):
            return env[name]
    return default


def add_parser(commands: Any, env: Mapping[str, str]) -> argparse.ArgumentParser:
    """Add the ``chat`` command to ``commands`` (the subparsers of ``roomcast``)."""
    chat: argparse.ArgumentParser = commands.add_parser(
        "chat",
        help="serve the chat and notification service",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    option = chat.add_argument
    option("--host", default=_env(env, "ROOMCAST_HOST", default="127.0.0.1"),
           help="address to listen on [$ROOMCAST_HOST; default 127.0.0.1]")  # fmt: skip
    option("--port", "-p", type=int, default=_env(env, "ROOMCAST_PORT", "PORT", default="3000"),
           help="port (0: a free one) [$ROOMCAST_PORT, $PORT; default 3000]")  # fmt: skip
    option("--data", metavar="DIR", default=_env(env, "ROOMCAST_CHAT_DATA", default=DEFAULT_DATA),
           help="folder of the data: chat.db, stream.db, secret, notify-token "
                f"[$ROOMCAST_CHAT_DATA; default ./{DEFAULT_DATA}]")  # fmt: skip
    option("--store", metavar="URL", default=_env(env, "ROOMCAST_CHAT_STORE"),
           help="keep users, rooms, messages and notifications in PostgreSQL: "
                "postgresql://user@host:5432/db [$ROOMCAST_CHAT_STORE; default: "
                "SQLite in DIR]")  # fmt: skip
    option("--notify-token", metavar="TOKEN", default=_env(env, NOTIFY_TOKEN_ENV),
           help="the bearer token POST /api/notify requires "
                f"[${NOTIFY_TOKEN_ENV}; default: made once, kept in DIR/notify-token]")  # fmt: skip
    option("--trusted-proxies", metavar="LIST", default=_env(env, "ROOMCAST_TRUSTED_PROXIES"),
           help="the reverse proxies in front (addresses or networks, comma-separated: "
                "10.0.0.0/8,127.0.0.1) whose X-Forwarded-For names the client, so that the "
                "limits per client address count clients, not the proxy "
                "[$ROOMCAST_TRUSTED_PROXIES; default: none: X-Forwarded-For is ignored]"
           )  # fmt: skip
    option("--workers", "-w", type=int, default=_env(env, "ROOMCAST_WORKERS", default="1"),
           help="worker processes [$ROOMCAST_WORKERS; default 1]")  # fmt: skip
    option("--redis", metavar="URL", default=_env(env, "ROOMCAST_REDIS"),
           help="Redis URL: several nodes serve one chat (broadcasts, recovery and the "
                "rooms' history shared there; give them one --store postgresql:// and one "
                "$ROOMCAST_CHAT_SECRET), and roomcast.Emitter notifies from any process "
                "[$ROOMCAST_REDIS]")  # fmt: skip
    option("--redis-key", default=_env(env, "ROOMCAST_REDIS_KEY", default="socket.io"),
           help="with --redis: the channel prefix shared by the nodes and emitters "
                "[$ROOMCAST_REDIS_KEY; default socket.io]")  # fmt: skip
    option("--log-level", default=_env(env, "ROOMCAST_LOG_LEVEL", default="info"),
           choices=("debug", "info", "warning", "error"),
           help="[$ROOMCAST_LOG_LEVEL; default info]")  # fmt: skip
    option("--log-format", default=_env(env, "ROOMCAST_LOG_FORMAT", default="text"),
           choices=("text", "json"), help="[$ROOMCAST_LOG_FORMAT; default text]")  # fmt: skip
    chat.set_defaults(secret=_env(env, SECRET_ENV))
    return chat


def run(args: argparse.Namespace) -> int:
    """Serve the service with ``args`` (from ``add_parser``'s parser) until stopped."""
    try:
        from .app import create_server, create_storage
    except ImportError as exc:
        print(f"roomcast: error: {exc}", file=sys.stderr)
        return 2
    from ... import serve
    from .config import ChatConfig

    try:
        proxies = trusted_proxies(args.trusted_proxies)
    except ValueError as exc:
        print(f"roomcast: error: --trusted-proxies: {exc}", file=sys.stderr)
        return 2
    config = ChatConfig.prepare(
        args.data,
        notify_token=args.notify_token,
        secret=args.secret,
        store=args.store,
        redis=args.redis,
        redis_key=args.redis_key,
        trusted_proxies=proxies,
    )
    try:
        asyncio.run(_initialize(create_storage(config)))
    except (ValueError, ImportError) as exc:
        print(f"roomcast: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        print(f"roomcast: the store cannot be opened: {exc}", file=sys.stderr)
        return 1
    where = config.notify_token_file or f"${NOTIFY_TOKEN_ENV} / --notify-token"
    logger.info("chat data in %s; notify token: %s", config.data, where)
    serve(
        lambda: create_server(config),
        workers=args.workers,
        host=args.host,
        port=args.port,
        redis=args.redis,
        redis_key=args.redis_key,
    )
    return 0


def trusted_proxies(value: str | None) -> tuple[str, ...]:
    """The addresses and networks of a comma-separated list; ``ValueError`` names a bad one."""
    proxies = tuple(part.strip() for part in (value or "").split(",") if part.strip())
    for proxy in proxies:
        ipaddress.ip_network(proxy, strict=False)
    return proxies


async def _initialize(storage: ChatStorage) -> None:
    try:
        await storage.initialize()
    finally:
        await storage.aclose()
