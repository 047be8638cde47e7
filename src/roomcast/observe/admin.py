"""The server side of the Socket.IO admin UI (``@socket.io/admin-ui``): ``instrument(io,
auth=...)`` serves what the official UI expects on its admin namespace, so the hosted UI
(https://admin.socket.io) or its files from npm (``ui/dist``) connect to roomcast unchanged.

On the admin namespace (``/admin``): ``config`` (the operations allowed), ``all_sockets``
(every socket of every namespace) at connection, ``server_stats`` every two seconds,
``socket_connected`` and ``socket_disconnected`` as clients come and go; from the UI,
unless ``readonly``: ``emit``, ``join``, ``leave`` and ``_disconnect`` (the sockets of a
namespace, or of a room of it). Authentication: none (``auth=False``) or a user name and a
bcrypt hash of the password (``BasicAuth``; the ``admin`` extra installs bcrypt); a UI that
logged in once gets a session id that its reconnections present instead.

Not yet: the ``room_joined``/``room_left`` updates (the UI sees rooms as they were when it
connected or a socket joined), transport upgrades (``socket_updated``) and the per-event
log of the UI's newer versions.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket as stdlib_socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from ..exceptions import ConnectionRefused
from ..server.socket import Socket  # at run time: the handlers' hints are read

if TYPE_CHECKING:
    from ..server.namespace import Namespace
    from ..server.server import Server

FEATURES: Final = ("EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT")
"""The operations the UI may ask for (none in read-only mode)."""
STATS_INTERVAL: Final = 2.0


@dataclass(frozen=True, slots=True)
class BasicAuth:
    """A user name and the bcrypt hash of the password (``bcrypt.hashpw(pw, gensalt())``)."""

    username: str
    password: str

    def __post_init__(self) -> None:
        import bcrypt  # the admin extra

        try:
            bcrypt.checkpw(b"", self.password.encode())
        except ValueError as exc:
            raise ValueError("BasicAuth.password must be a bcrypt hash") from exc

    def check(self, username: Any, password: Any) -> bool:
        import bcrypt

        if username != self.username or not isinstance(password, str):
            return False
        return bool(bcrypt.checkpw(password.encode(), self.password.encode()))


class AdminUI:
    """What ``instrument`` returns: the admin namespace and its sessions."""

    def __init__(
        self,
        server: Server,
        *,
        auth: BasicAuth | Literal[False],
        readonly: bool = False,
        namespace: str = "/admin",
        server_id: str | None = None,
    ) -> None:
        self.server = server
        self.auth = auth
        self.features: list[str] = [] if readonly else list(FEATURES)
        self.server_id = server_id or stdlib_socket.gethostname()
        self.started = time.monotonic()
        self.sessions: set[str] = set()
        self._timer: asyncio.TimerHandle | None = None
        self.nsp = server.of(namespace)
        if auth is not False:
            self.nsp.use(self._authenticate)
        self.nsp.on("connection", self._on_admin)
        for name, handler in (
            ("emit", self._emit),
            ("join", self._join),
            ("leave", self._leave),
            ("_disconnect", self._disconnect),
        ):
            if not readonly:
                self.nsp.on(name, handler)
        for nsp in server.namespaces():
            self.watch(nsp)

    def watch(self, nsp: Namespace) -> None:
        """Tell the UI of ``nsp``'s sockets (the namespaces at ``instrument`` are watched;
        call it for one created later)."""
        nsp.on("connection", self._on_connection)
        nsp.on("disconnect", self._on_disconnect)

    # -- the admin namespace ------------------------------------------------------------

    def _authenticate(self, socket: Socket) -> None:
        auth = socket.handshake.auth
        session = auth.get("sessionId")
        if isinstance(session, str) and session in self.sessions:
            return
        assert self.auth is not False
        if not self.auth.check(auth.get("username"), auth.get("password")):
            raise ConnectionRefused("invalid credentials")
        session = secrets.token_hex(8)
        self.sessions.add(session)
        socket.data["_admin_session"] = session

    async def _on_admin(self, socket: Socket) -> None:
        session = socket.data.pop("_admin_session", None)
        if session is not None:
            await socket.emit("session", session)
        await socket.emit("config", {"supportedFeatures": self.features})
        await socket.emit("all_sockets", self.all_sockets())
        await socket.emit("server_stats", self.stats())
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(STATS_INTERVAL, self._tick)

    def _tick(self) -> None:
        if not self.nsp.sockets:
            self._timer = None
            return
        self.server.spawn(self.nsp.emit("server_stats", self.stats()))
        self._timer = asyncio.get_running_loop().call_later(STATS_INTERVAL, self._tick)

    def stats(self) -> dict[str, Any]:
        """``server_stats``: this server, its clients, its namespaces."""
        engines = list(self.server.engine.sockets.values())
        return {
            "serverId": self.server_id,
            "hostname": stdlib_socket.gethostname(),
            "pid": os.getpid(),
            "uptime": time.monotonic() - self.started,
            "clientsCount": len(engines),
            "pollingClientsCount": sum(1 for e in engines if e.transport == "polling"),
            "namespaces": [
                {"name": nsp.name, "socketsCount": len(nsp.sockets)}
                for nsp in self.server.namespaces()
            ],
        }

    def all_sockets(self) -> list[dict[str, Any]]:
        return [
            serialize(socket) for nsp in self.server.namespaces() for socket in nsp.sockets.values()
        ]

    # -- what the UI asks for -------------------------------------------------------------

    async def _emit(
        self, admin: Socket, nsp: str, room: str | None, event: str, *args: Any
    ) -> None:
        target = self.server.of(nsp)
        await (target.to(room) if room else target).emit(event, *args)

    async def _join(self, admin: Socket, nsp: str, room: str, filter: str | None = None) -> None:
        target = self.server.of(nsp)
        await (target.to(filter) if filter else target).sockets_join(room)

    async def _leave(self, admin: Socket, nsp: str, room: str, filter: str | None = None) -> None:
        target = self.server.of(nsp)
        await (target.to(filter) if filter else target).sockets_leave(room)

    async def _disconnect(
        self, admin: Socket, nsp: str, close: bool = False, filter: str | None = None
    ) -> None:
        target = self.server.of(nsp)
        await (target.to(filter) if filter else target).disconnect_sockets(bool(close))

    # -- the watched namespaces -----------------------------------------------------------

    async def _on_connection(self, socket: Socket) -> None:
        await self.nsp.emit("socket_connected", serialize(socket))

    async def _on_disconnect(self, socket: Socket, reason: str) -> None:
        await self.nsp.emit("socket_disconnected", socket.nsp.name, socket.id, reason)


def serialize(socket: Socket) -> dict[str, Any]:
    """A socket as the UI lists it (the auth the client sent is left out)."""
    handshake = socket.handshake
    headers = {str(k).lower(): str(v) for k, v in (handshake.headers or {}).items()}
    data = {k: v for k, v in socket.data.items() if not k.startswith("_admin")}
    try:
        json.dumps(data)
    except (TypeError, ValueError):
        data = {}
    return {
        "id": socket.id,
        "clientId": socket.conn.sid[:12],
        "transport": socket.transport,
        "nsp": socket.nsp.name,
        "data": data,
        "handshake": {
            "address": headers.get("x-forwarded-for", handshake.address),
            "headers": headers,
            "query": dict(handshake.query),
            "issued": handshake.issued,
            "secure": handshake.secure,
            "time": handshake.time,
            "url": handshake.url,
            "xdomain": handshake.xdomain,
        },
        "rooms": sorted(socket.rooms),
    }


def instrument(
    server: Server,
    *,
    auth: BasicAuth | Literal[False],
    readonly: bool = False,
    namespace: str = "/admin",
    server_id: str | None = None,
) -> AdminUI:
    """Serve the admin UI's protocol on ``namespace``. ``auth`` is required: a
    ``BasicAuth`` or ``False`` (no authentication: use with care)."""
    return AdminUI(server, auth=auth, readonly=readonly, namespace=namespace, server_id=server_id)
