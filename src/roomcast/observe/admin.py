"""The server side of the Socket.IO admin UI (``@socket.io/admin-ui``): ``instrument(io,
auth=...)`` serves what the official UI expects on its admin namespace, so the hosted UI
(https://admin.socket.io) or its files from npm (``ui_path="/admin-ui/"``) connect to
roomcast unchanged.

On the admin namespace (``/admin``), as ``@socket.io/admin-ui`` 0.5's server does:

- at connection: ``config`` (the features: the operations allowed, ``AGGREGATED_EVENTS``,
  and ``ALL_EVENTS`` in development mode), then in development mode ``all_sockets`` (every
  socket of every namespace, on every node of a cluster: ``fetch_sockets``);
- every two seconds, from each server (worker, node): ``server_stats``, with the
  ``aggregatedEvents`` of those two seconds (connections, disconnections by reason,
  packets and bytes in, events out: a broadcast counts once; bytes out with
  ``Metrics(sent_bytes=True)``);
- in development mode, as they happen: ``socket_connected``, ``socket_updated`` (a
  transport upgrade), ``socket_disconnected``, ``room_joined``, ``room_left``, and each
  event received from or sent to a client (``event_received``, ``event_sent``);
- from the UI, unless ``readonly``: ``emit``, ``join``, ``leave`` and ``_disconnect`` (the
  sockets of a namespace, or of a room of it, on every node).

``mode="production"`` sends the statistics only (no socket details, no per-event log): what
the UI costs then is the server's traffic counts (as ``Metrics``: about 3% of an echo).
Development mode adds, per event, a message to the admin namespace.

Authentication: none (``auth=False``) or a user name and a bcrypt hash of the password
(``BasicAuth``; the ``admin`` extra installs bcrypt); a UI that logged in once gets a
session id that its reconnections present instead.

Not told as they happen: changes to ``socket.data`` (the UI shows them at its next
``all_sockets``, when it reconnects).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket as stdlib_socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from ..exceptions import ConnectionRefused
from ..server.socket import Socket  # at run time: the handlers' hints are read
from ..server.static import find_npm_folder
from ..transports.http import HttpResponse

if TYPE_CHECKING:
    from ..server.namespace import Namespace
    from ..server.server import Server
    from ..transports.engine import EngineSocket

Mode = Literal["development", "production"]
OPERATIONS: Final = ("EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT")
"""The operations the UI may ask for (none in read-only mode)."""
STATS_INTERVAL: Final = 2.0
UI_FOLDER: Final = "@socket.io/admin-ui/ui/dist"
"""Where npm puts the UI's files (``npm install @socket.io/admin-ui``)."""
UI_MISSING: Final = (
    "The admin UI's files are not installed: run `npm install @socket.io/admin-ui` in the "
    "project folder, or set ROOMCAST_ADMIN_UI_DIR to the folder holding its index.html "
    "(or use the hosted UI at https://admin.socket.io)."
)


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
    """What ``instrument`` returns: the admin namespace, its sessions, and what it watches."""

    def __init__(
        self,
        server: Server,
        *,
        auth: BasicAuth | Literal[False],
        readonly: bool = False,
        mode: Mode = "development",
        namespace: str = "/admin",
        server_id: str | None = None,
        ui_path: str | None = None,
        ui_folder: str | Path | None = None,
    ) -> None:
        if mode not in ("development", "production"):
            raise ValueError(f"mode is 'development' or 'production', not {mode!r}")
        self.server = server
        self.auth = auth
        self.mode = mode
        self.verbose = mode == "development"
        self.features: list[str] = [] if readonly else list(OPERATIONS)
        self.features.append("AGGREGATED_EVENTS")
        if self.verbose:
            self.features.append("ALL_EVENTS")
        self._server_id = server_id
        self.started = time.monotonic()
        self.sessions: set[str] = set()
        self.traffic = server.count_traffic()
        self._seen = self._traffic_totals()
        self._sent = 0
        self._events: dict[tuple[int, str, str | None], int] = {}
        """Aggregated events of the current period: (second in ms, type, subtype) -> count."""
        self._timer: asyncio.TimerHandle | None = None
        self.nsp = server.of(namespace)
        if auth is not False:
            self.nsp.use(self._authenticate)
        self.nsp.on("connection", self._on_admin)
        if not readonly:
            for name, handler in (
                ("emit", self._emit),
                ("join", self._join),
                ("leave", self._leave),
                ("_disconnect", self._disconnect),
            ):
                self.nsp.on(name, handler)
        engine = server.engine
        engine.on("connection", self._on_engine_connection)
        engine.on("close", self._on_engine_close)
        if self.verbose:
            engine.on("upgrade", self._on_upgrade)
            server.watcher = self
            for nsp in server.namespaces():
                self.namespace_created(nsp)
        server.services.append(self)
        if ui_path is not None:
            self._serve_ui(ui_path, ui_folder)

    @property
    def server_id(self) -> str:
        """``server_id``, or the host name (with ``#pid`` under ``roomcast serve``)."""
        if self._server_id is not None:
            return self._server_id
        host = stdlib_socket.gethostname()
        return host if self.server.engine.router is None else f"{host}#{os.getpid()}"

    def _serve_ui(self, path: str, folder: str | Path | None) -> None:
        found = Path(folder) if folder is not None else None
        if found is None:
            found = find_npm_folder(UI_FOLDER, "index.html", "ROOMCAST_ADMIN_UI_DIR")
        if found is None or not (found / "index.html").is_file():
            raise ValueError(UI_MISSING)
        prefix = path if path.endswith("/") else path + "/"
        self.server.static(prefix, found)

        async def to_folder(request: Any) -> HttpResponse:
            return HttpResponse(308, b"", {"Location": prefix})

        self.server.route(prefix.rstrip("/"), to_folder)

    # -- serving (a Server.services entry) ---------------------------------------------

    async def start(self) -> None:
        """Send ``server_stats`` every two seconds from now on."""
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(STATS_INTERVAL, self._tick)

    async def aclose(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _tick(self) -> None:
        self._tell("server_stats", self.stats())
        self._timer = asyncio.get_running_loop().call_later(STATS_INTERVAL, self._tick)

    def _tell(self, event: str, *args: Any) -> None:
        """Emit ``event`` to the admin namespace (every node's UIs), unless no UI can be
        listening (none here, and no other node)."""
        if self.nsp.sockets or getattr(self.nsp.adapter, "bus", None) is not None:
            self.server.spawn(self.nsp.emit(event, *args))

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
        if self.verbose:
            await socket.emit("all_sockets", await self.all_sockets())
        await socket.emit("server_stats", self.stats())
        await self.start()

    def stats(self) -> dict[str, Any]:
        """``server_stats``: this server, its clients, its namespaces, what happened since
        the last time."""
        engines = list(self.server.engine.sockets.values())
        return {
            "serverId": self.server_id,
            "hostname": stdlib_socket.gethostname(),
            "pid": os.getpid(),
            "uptime": time.monotonic() - self.started,
            "clientsCount": len(engines),
            "pollingClientsCount": sum(1 for e in engines if e.transport == "polling"),
            "aggregatedEvents": self.aggregated_events(),
            "namespaces": [
                {"name": nsp.name, "socketsCount": len(nsp.sockets)}
                for nsp in self.server.namespaces()
                if not self.server.is_parent(nsp)
            ],
        }

    async def all_sockets(self) -> list[dict[str, Any]]:
        """Every socket of every namespace, on every node."""
        found: list[dict[str, Any]] = []
        for nsp in self.server.namespaces():
            if not self.server.is_parent(nsp):
                found.extend(serialize(socket) for socket in await nsp.fetch_sockets())
        return found

    # -- aggregated events --------------------------------------------------------------

    def _count(self, kind: str, subtype: str | None = None, n: int = 1) -> None:
        key = (int(time.time()) * 1000, kind, subtype)
        self._events[key] = self._events.get(key, 0) + n

    def _traffic_totals(self) -> tuple[int, int, int]:
        traffic = self.traffic
        traffic.drain()
        received = sum(traffic.events_received.values()) + traffic.acks_received
        return received, traffic.received_bytes, sum(traffic.events_sent.values())

    def aggregated_events(self) -> list[dict[str, Any]]:
        """What happened since the last call, by second (the UI's charts)."""
        totals = self._traffic_totals()
        kinds = ("packetsIn", "bytesIn", "packetsOut")
        for kind, now, before in zip(kinds, totals, self._seen, strict=True):
            if now > before:
                self._count(kind, None, now - before)
        self._seen = totals
        meter = self.server.routes().meter
        if meter is not None:
            sent = meter.sent
            if sent > self._sent:
                self._count("bytesOut", None, sent - self._sent)
            self._sent = sent
        events, self._events = self._events, {}
        return [
            {"timestamp": stamp, "type": kind, "subType": subtype, "count": count}
            for (stamp, kind, subtype), count in events.items()
        ]

    def _on_engine_connection(self, engine: EngineSocket) -> None:
        self._count("rawConnection")
        if self._timer is None:  # whatever hosts the server, the stats start once it serves
            self._timer = asyncio.get_running_loop().call_later(STATS_INTERVAL, self._tick)

    def _on_engine_close(self, engine: EngineSocket, reason: str) -> None:
        self._count("rawDisconnection", reason)

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

    # -- development mode: what happens, as it happens (a Server.watcher) -----------------

    def namespace_created(self, nsp: Namespace) -> None:
        """Watch the sockets of ``nsp`` (those of a dynamic namespace through its parent's
        handlers, which its children share)."""
        if nsp.parent is None:
            nsp.on("connection", self._on_connection)
            nsp.on("disconnect", self._on_disconnect)

    def room_joined(self, nsp: Namespace, room: str, sid: str) -> None:
        self._tell("room_joined", nsp.name, room, sid, _now())

    def room_left(self, nsp: Namespace, room: str, sid: str) -> None:
        self._tell("room_left", nsp.name, room, sid, _now())

    def _on_connection(self, socket: Socket) -> None:
        if isinstance(socket.data, dict):  # travels with fetch_sockets, as in Node
            socket.data["_admin"] = {
                "clientId": socket.conn.sid[:12],
                "transport": socket.transport,
            }
        self._tell("socket_connected", serialize(socket), _now())
        if socket.nsp is not self.nsp:
            name, sid = socket.nsp.name, socket.id
            socket.on_any(lambda *args: self._tell("event_received", name, sid, list(args), _now()))
            socket.on_any_outgoing(
                lambda *args: self._tell("event_sent", name, sid, list(args), _now())
            )

    def _on_disconnect(self, socket: Socket, reason: str) -> None:
        self._tell("socket_disconnected", socket.nsp.name, socket.id, reason, _now())

    def _on_upgrade(self, engine: EngineSocket) -> None:
        conn = engine.data
        for socket in list(getattr(conn, "sockets", {}).values()):
            admin = socket.data.get("_admin") if isinstance(socket.data, dict) else None
            if isinstance(admin, dict):
                admin["transport"] = socket.transport
            update = {"id": socket.id, "nsp": socket.nsp.name, "transport": socket.transport}
            self._tell("socket_updated", update)


def _now() -> str:
    """The time as JavaScript's ``new Date()`` travels in JSON."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def serialize(socket: Any) -> dict[str, Any]:
    """A socket (local, or another node's from ``fetch_sockets``) as the UI lists it: the
    auth the client sent is left out."""
    handshake = socket.handshake
    headers = {str(k).lower(): str(v) for k, v in (handshake.headers or {}).items()}
    raw = socket.data if isinstance(socket.data, dict) else {}
    found = raw.get("_admin")
    admin: dict[str, Any] = found if isinstance(found, dict) else {}
    data = {k: v for k, v in raw.items() if not k.startswith("_admin")}
    try:
        json.dumps(data)
    except (TypeError, ValueError):
        data = {}
    local = isinstance(socket, Socket)
    return {
        "id": socket.id,
        "clientId": socket.conn.sid[:12] if local else admin.get("clientId"),
        "transport": socket.transport if local else admin.get("transport"),
        "nsp": socket.nsp.name,
        "data": data,
        "handshake": {
            "address": headers.get("cf-connecting-ip")
            or headers.get("x-forwarded-for")
            or handshake.address,
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
    mode: Mode = "development",
    namespace: str = "/admin",
    server_id: str | None = None,
    ui_path: str | None = None,
    ui_folder: str | Path | None = None,
) -> AdminUI:
    """Serve the admin UI's protocol on ``namespace``.

    Args:
        server: the server to watch (call it before the server serves).
        auth: a ``BasicAuth``, or ``False`` for none (use with care: the UI can
            disconnect every client).
        readonly: the UI may look, not act.
        mode: ``"development"`` (every socket, every event) or ``"production"``
            (statistics only).
        namespace: the admin namespace.
        server_id: how this server is named in the UI (default: the host name, with
            ``#pid`` under ``roomcast serve``).
        ui_path: serve the UI's own page here too (``"/admin-ui/"``), from npm's
            ``@socket.io/admin-ui`` (``ui_folder``, ``$ROOMCAST_ADMIN_UI_DIR``, or the
            ``node_modules`` of the working directory); ValueError when not installed.
        ui_folder: where the UI's files are (its ``ui/dist`` folder).
    """
    return AdminUI(
        server,
        auth=auth,
        readonly=readonly,
        mode=mode,
        namespace=namespace,
        server_id=server_id,
        ui_path=ui_path,
        ui_folder=ui_folder,
    )
