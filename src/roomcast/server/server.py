"""The Socket.IO v5 server on top of the Engine.IO server."""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from email.utils import formatdate
from typing import Any

from ..adapters.base import Adapter, ClusterResults
from ..adapters.memory import MemoryAdapter
from ..engineio import CloseReason
from ..exceptions import ConnectionRefused, RemoteProtocolError
from ..handlers import is_awaitable
from ..parsers import parser_for
from ..socketio import ConnectRequest, JsonParser, Packet, PacketType, Parser, ServerSession
from ..socketio.packets import json_dumps, json_loads, main_event
from ..socketio.session import SessionSnapshot, connect_error
from ..store import Store
from ..transports.compression import HttpCompression
from ..transports.deflate import PerMessageDeflate
from ..transports.engine import AllowRequest, EngineServer, EngineSocket
from ..transports.limits import Limits
from ..transports.routes import Route
from .broadcast import BroadcastOperator
from .connection import Connection
from .guard import Guard, RejectedHook
from .health import HealthOption, Readiness, adapter_state, health_of, store_state
from .hosting import Hosting
from .limits import RateLimits
from .namespace import Handler, Middleware, Namespace
from .observer import Service, Traffic, Watcher
from .recovery import Durability, Recovery
from .socket import Handshake, Socket
from .static import ClientBundle

logger = logging.getLogger("roomcast.server")

NamespaceMatcher = Callable[[str, dict[str, Any]], bool | Awaitable[bool]]

# module constants: reading an Enum class attribute costs ~55 ns, several times per message
_CONNECT, _EVENT, _ACK = PacketType.CONNECT, PacketType.EVENT, PacketType.ACK
_BINARY_EVENT, _BINARY_ACK = PacketType.BINARY_EVENT, PacketType.BINARY_ACK


def _json_codec() -> tuple[Callable[[Any], str], Callable[[str], Any]]:
    try:
        import orjson
    except ImportError:
        return json_dumps, json_loads

    def dumps(value: Any) -> str:
        return orjson.dumps(value).decode()

    return dumps, orjson.loads


class Server(Hosting):
    """A Socket.IO v4-compatible server (protocol v5).

    Handlers registered on the server apply to the main namespace ``/``; ``of(name)`` gives
    other namespaces. Host it with ``run``, ``listen``, ``attach`` (aiohttp) or ``asgi_app``.

    ``ack_answers``: how many recent ack answers each socket keeps, so that an event sent
    again with the same ack id (a client's retry, as with socket.io-client's ``retries``)
    is answered again without running its handler a second time; 0: none kept, every event
    is handled (the default without recovery; with it, ``Recovery.ack_answers``).

    ``recovery``: connection-state recovery (``True`` for the defaults, or a ``Recovery``);
    ``store``: where recoverable broadcasts and sessions are kept, and room history read
    (a ``Store`` or a URL: ``memory://``, ``sqlite:///path``, ``redis://host:port/db``;
    memory when recovery is on and no store is given). Neither: nothing is stored.

    ``cors_allowed_origins``: the browser origins that may connect, over both transports
    (``"*"``, an origin, a list; None: the server's own origin only). ``limits``: handshake
    limits (a ``Limits``: connections per address per second, open connections per address
    and in all). ``trusted_proxies``: the reverse proxies (addresses, networks) whose
    ``X-Forwarded-For`` / ``X-Forwarded-Host`` name the client and the host it asked for.
    ``per_message_deflate``: permessage-deflate over WebSocket (True, or a
    ``PerMessageDeflate``); off by default, as in Node's socket.io. ``http_compression``:
    gzip/deflate of long-polling responses of 1 KiB or more (an ``HttpCompression`` to
    tune it, False for none); on by default, as in Node. ``health``: ``/healthz`` and
    ``/readyz`` for load balancers (True: those paths; a ``Health`` to move them; False:
    none).
    Guard rails (``guard``): ``rate_limit`` on every event (per socket unless the
    ``RateLimit`` says otherwise), ``max_event_bytes`` and ``max_event_depth`` for every
    event that sets none; a socket refused for rate or size ``max_violations`` times within
    ``violation_window`` seconds is disconnected; ``notify_rejections`` tells a client
    about each rejection it asked no ack for (event ``rc:rejected``).

    ``parser``: how packets are written, ``"json"`` (the default, ``socket.io-parser``'s
    text) or ``"msgpack"`` (``socket.io-msgpack-parser``'s binary messages; needs the
    ``msgpack`` package, ``roomcast[msgpack]``), or a ``Parser``. Clients must use the same.
    """

    def __init__(
        self,
        *,
        path: str = "/socket.io/",
        cors_allowed_origins: str | Sequence[str] | None = None,
        cors_credentials: bool = True,
        ping_interval: float = 25.0,
        ping_timeout: float = 20.0,
        max_http_buffer_size: int = 1_000_000,
        connect_timeout: float = 45.0,
        transports: Sequence[str] = ("polling", "websocket"),
        allow_upgrades: bool = True,
        allow_request: AllowRequest | None = None,
        serve_client: bool = True,
        adapter: Callable[[Namespace], Adapter] = MemoryAdapter,
        max_write_buffer: int = 16 * 1024 * 1024,
        ack_answers: int | None = None,
        recovery: Recovery | bool | None = None,
        store: Store | str | None = None,
        limits: Limits | None = None,
        trusted_proxies: Iterable[str] = (),
        per_message_deflate: bool | PerMessageDeflate = False,
        http_compression: bool | HttpCompression = True,
        rate_limit: RateLimits = None,
        max_event_bytes: int | None = None,
        max_event_depth: int | None = None,
        max_violations: int | None = 20,
        violation_window: float = 10.0,
        notify_rejections: bool = False,
        health: HealthOption = True,
        parser: str | Parser = "json",
    ) -> None:
        self.parser: Parser = parser_for(parser, *_json_codec())
        """How packets are encoded and decoded (``JsonParser``, ``MsgpackParser``)."""
        self.guard = Guard(
            rate_limit=rate_limit,
            max_event_bytes=max_event_bytes,
            max_event_depth=max_event_depth,
            max_violations=max_violations,
            violation_window=violation_window,
            notify_rejections=notify_rejections,
        )
        """Limits, rejection counts (``guard.counts``) and hooks of incoming events."""
        self._engine = EngineServer(
            path=path,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            max_http_buffer_size=max_http_buffer_size,
            transports=transports,
            allow_upgrades=allow_upgrades,
            cors_allowed_origins=cors_allowed_origins,
            cors_credentials=cors_credentials,
            allow_request=allow_request,
            max_write_buffer=max_write_buffer,
            limits=limits,
            trusted_proxies=trusted_proxies,
            per_message_deflate=per_message_deflate,
            http_compression=http_compression,
        )
        self._bundle = ClientBundle(self.engine.path) if serve_client else None
        self.engine.on("connection", self._on_engine_connection)
        if isinstance(self.parser, JsonParser):  # with the fast path for events on "/"
            self.engine.on("message", self._on_engine_message)
        else:
            self.engine.on("message", self._on_engine_packet_message)
        self.engine.on("close", self._on_engine_close)
        self.connect_timeout = connect_timeout
        if recovery is True:
            recovery = Recovery()
        self.recovery: Recovery | None = recovery or None
        if ack_answers is None:
            ack_answers = self.recovery.ack_answers if self.recovery is not None else 0
        self.ack_answers = ack_answers
        self.durability: Durability | None = (
            Durability(store, self.recovery) if self.recovery is not None or store else None
        )
        """The store in use (recovery, history), or None when nothing is stored."""
        self.traffic: Traffic | None = None
        """The counts of messages and packets (``count_traffic``); None: nothing is counted
        on the way of a message."""
        self.connect_refusals: Counter[str] = Counter()
        """Namespace CONNECTs refused, by reason (``invalid namespace``, ``middleware``)."""
        self.watcher: Watcher | None = None
        """What watches namespaces and rooms (the admin UI), if anything."""
        self.services: list[Service] = []
        """What is served beside the server (metrics on their own port): started when it
        listens, closed when it is released."""
        self.adapter_factory = adapter
        if isinstance(self.parser, JsonParser):
            self.dumps, self.loads = self.parser.dumps, self.parser.loads
        else:
            self.dumps, self.loads = _json_codec()
        self._namespaces: dict[str, Namespace] = {}
        self._parents: list[tuple[re.Pattern[str] | NamespaceMatcher, Namespace]] = []
        self.sockets = self.of("/")
        """The main namespace ``/``."""
        self.health = health_of(health)

    def count_traffic(self, top_events: int = 100) -> Traffic:
        """Count the messages received and the packets sent from now on (what watches the
        server reads the counts: metrics, the admin UI); the counts already kept, if any."""
        if self.traffic is None:
            self.traffic = Traffic(top_events)
        return self.traffic

    @property
    def engine(self) -> EngineServer:
        """The Engine.IO server underneath."""
        return self._engine

    def base_routes(self) -> Sequence[Route]:
        """The client bundle's files (``serve_client``) and the Engine.IO path."""
        return (self.engine,) if self._bundle is None else (self._bundle, self.engine)

    @property
    def hosted_engine(self) -> EngineServer:
        return self._engine

    def readiness(self) -> Readiness:
        """Accepting (not draining), the adapters' bus and the store reachable."""
        adapters = [nsp.adapter for nsp in self.namespaces()]
        degraded = self.durability is not None and self.durability.degraded
        return Readiness(not self.draining, adapter_state(adapters), store_state(degraded))

    def use_store(self, store: Store | str) -> None:
        """Keep recoverable broadcasts and sessions in ``store`` (a ``Store`` or a URL) from
        now on, instead of the one given to the constructor; call it before serving."""
        self.durability = Durability(store, self.recovery)

    # -- namespaces -----------------------------------------------------------------------

    def of(self, name: str | re.Pattern[str] | NamespaceMatcher) -> Namespace:
        """The namespace ``name``; a regex or a function(name, auth) -> bool makes a dynamic one."""
        if isinstance(name, str):
            if not name.startswith("/"):
                name = "/" + name
            nsp = self._namespaces.get(name)
            if nsp is None:
                nsp = self._namespaces[name] = self._new_namespace(name)
            return nsp
        for matcher, parent in self._parents:
            if matcher is name:
                return parent
        parent = self._new_namespace(f"<dynamic {getattr(name, 'pattern', name)!s}>")
        self._parents.append((name, parent))
        return parent

    def _new_namespace(self, name: str, parent: Namespace | None = None) -> Namespace:
        """A namespace made now (its watcher, if any, is told)."""
        nsp = Namespace(self, name, parent)
        if self.watcher is not None:
            self.watcher.namespace_created(nsp)
        return nsp

    def is_parent(self, nsp: Namespace) -> bool:
        return any(parent is nsp for _, parent in self._parents)

    def namespaces(self) -> list[Namespace]:
        """Every namespace: the named ones (those a dynamic one created included), then the
        parents of dynamic ones."""
        return [*self._namespaces.values(), *(parent for _, parent in self._parents)]

    async def _resolve(self, name: str, auth: dict[str, Any]) -> Namespace | None:
        nsp = self._namespaces.get(name)
        if nsp is not None:
            return nsp
        for matcher, parent in self._parents:
            if isinstance(matcher, re.Pattern):
                matched: Any = matcher.fullmatch(name) is not None
            else:
                matched = matcher(name, auth)
                if is_awaitable(matched):
                    matched = await matched
            if matched:
                nsp = self._namespaces.get(name)  # created meanwhile?
                if nsp is None:
                    nsp = self._namespaces[name] = self._new_namespace(name, parent)
                return nsp
        return None

    # -- the main namespace's API ---------------------------------------------------------

    def on(self, event: str, handler: Handler | None = None, **checks: Any) -> Any:
        """Register a handler on the main namespace (or use as a decorator); ``checks``:
        ``rate``, ``burst``, ``per``, ``max_bytes``, ``max_depth``, ``validate`` (see
        ``Namespace.on``)."""
        return self.sockets.on(event, handler, **checks)

    def on_rejected(self, hook: RejectedHook) -> RejectedHook:
        """``hook(socket, event, rejection)`` for every refused event of every namespace
        (a coroutine function runs as a task); use it to log, count or tell the client."""
        self.guard.hooks.append(hook)
        return hook

    def event(self, handler: Handler) -> Handler:
        return self.sockets.event(handler)

    def use(self, middleware: Middleware) -> Middleware:
        return self.sockets.use(middleware)

    def on_server_side(self, event: str, handler: Handler | None = None) -> Any:
        """Handle ``event`` emitted by another server of the cluster (main namespace)."""
        return self.sockets.on_server_side(event, handler)

    async def emit(self, event: str, *args: Any, namespace: str = "/") -> str | None:
        return await self.of(namespace).emit(event, *args)

    async def send(self, *args: Any) -> None:
        await self.sockets.send(*args)

    def to(self, rooms: str | Iterable[str]) -> BroadcastOperator:
        return self.sockets.to(rooms)

    in_ = to

    def except_(self, rooms: str | Iterable[str]) -> BroadcastOperator:
        return self.sockets.except_(rooms)

    @property
    def local(self) -> BroadcastOperator:
        return self.sockets.local

    @property
    def volatile(self) -> BroadcastOperator:
        return self.sockets.volatile

    def compress(self, compress: bool) -> BroadcastOperator:
        return self.sockets.compress(compress)

    def timeout(self, seconds: float) -> BroadcastOperator:
        return self.sockets.timeout(seconds)

    async def emit_with_ack(self, event: str, *args: Any) -> list[Any]:
        return await self.sockets.emit_with_ack(event, *args)

    async def fetch_sockets(self) -> list[Socket]:
        return await self.sockets.fetch_sockets()

    async def sockets_join(self, rooms: str | Iterable[str]) -> None:
        await self.sockets.sockets_join(rooms)

    async def sockets_leave(self, rooms: str | Iterable[str]) -> None:
        await self.sockets.sockets_leave(rooms)

    async def disconnect_sockets(self, close: bool = False) -> None:
        await self.sockets.disconnect_sockets(close)

    async def server_side_emit(self, event: str, *args: Any) -> list[Any]:
        return await self.sockets.server_side_emit(event, *args)

    async def server_side_emit_with_ack(
        self, event: str, *args: Any, timeout: float | None = None
    ) -> ClusterResults[Any]:
        return await self.sockets.server_side_emit_with_ack(event, *args, timeout=timeout)

    def spawn(self, awaitable: Awaitable[Any]) -> None:
        """Run a handler's coroutine as a task the server tracks (and waits for on close)."""
        self.engine.spawn(awaitable)

    async def listen(self, host: str | None = "127.0.0.1", port: int = 0, **options: Any) -> Any:
        """Connect the adapters (a cluster adapter subscribes), then serve in the running
        loop; port 0 picks a free port. Returns a listener (``.port``, ``await .aclose()``)."""
        if self.durability is not None:
            await self.durability.start()  # StoreCorrupt stops here, with the file's path
        for nsp in list(self._namespaces.values()):
            await nsp.adapter.init()
        for service in self.services:
            await service.start()
        return await super().listen(host, port, **options)

    async def aclose(self) -> None:
        """Disconnect every client ("server shutting down"), then close the adapters and
        the store."""
        await self.engine.aclose()
        await self.release()

    async def release(self) -> None:
        """Close the adapters, then the store (the sessions of the clients just
        disconnected are written first); a closed listener calls it."""
        for service in self.services:
            await service.aclose()
        for nsp in self.namespaces():
            await nsp.adapter.aclose()
        if self.durability is not None:
            await self.durability.aclose()

    # -- Engine.IO events -----------------------------------------------------------------

    def _on_engine_connection(self, engine: EngineSocket) -> None:
        conn = Connection(engine, self.parser.decoder())
        engine.data = conn
        conn.connect_timer = self.engine.loop.call_later(
            self.connect_timeout, self._on_connect_timeout, conn
        )

    def _on_connect_timeout(self, conn: Connection) -> None:
        conn.connect_timer = None
        if not conn.sockets:
            logger.info(
                "closing %s: no namespace CONNECT in time",
                conn.engine.sid,
                extra={"sid": conn.engine.sid},
            )
            conn.engine.close(CloseReason.FORCED_CLOSE)

    def _on_engine_message(self, engine: EngineSocket, data: str | bytes) -> None:
        """A message with the JSON parser: events on "/" take the fast path."""
        conn: Connection = engine.data
        if self.guard.measure:
            conn.measure(data)
        if type(data) is str and data[:1] == "2" and not conn.decoder.awaiting_attachments:
            # the common case, an EVENT on "/": no Packet, no decoder state machine
            socket = conn.sockets.get("/")
            event = None if socket is None else main_event(data, self.loads)
            if event is not None:
                traffic = self.traffic
                if traffic is not None:  # counted in bulk later (Traffic.drain)
                    traffic.messages.append(data)
                    (traffic.names if event[1] is None else traffic.asking).append(event[0][0])
                socket.handle_event_data(*event)  # type: ignore[union-attr]
                return
        self._on_message(engine, conn, data)

    def _on_engine_packet_message(self, engine: EngineSocket, data: str | bytes) -> None:
        """A message with any other parser: every one goes through its decoder."""
        conn: Connection = engine.data
        if self.guard.measure:
            conn.measure(data)
        self._on_message(engine, conn, data)

    def _on_message(self, engine: EngineSocket, conn: Connection, data: str | bytes) -> None:
        traffic = self.traffic
        if traffic is not None:
            traffic.message(data)
        try:
            packet = conn.decoder.receive(data)
        except RemoteProtocolError as exc:
            logger.info("closing %s: %s", engine.sid, exc, extra={"sid": engine.sid})
            engine.close(CloseReason.PARSE_ERROR)
            return
        if packet is None:
            return
        if traffic is not None:
            traffic.packet(packet)
        kind = packet.type
        if kind is _CONNECT:
            nsp = self._namespaces.get(packet.namespace)
            if nsp is not None and not nsp.middlewares and not self._recovering(packet):
                self._connect_now(conn, packet, nsp)
            else:
                self.spawn(self._connect(conn, packet))
            return
        socket = conn.sockets.get(packet.namespace)
        if socket is None:  # the spec: a packet before CONNECT closes the connection
            logger.info(
                "closing %s: %s packet before CONNECT",
                engine.sid,
                kind.name,
                extra={"sid": engine.sid},
            )
            engine.close(CloseReason.FORCED_CLOSE)
            return
        if kind is _EVENT or kind is _BINARY_EVENT:
            socket.handle_event(packet)
        elif kind is _ACK or kind is _BINARY_ACK:
            socket.handle_ack(packet)
        elif kind is PacketType.DISCONNECT:
            socket.handle_close("client namespace disconnect")
        else:
            logger.info(
                "closing %s: %s packet from a client",
                engine.sid,
                kind.name,
                extra={"sid": engine.sid},
            )
            engine.close(CloseReason.PARSE_ERROR)

    def _on_engine_close(self, engine: EngineSocket, reason: str) -> None:
        conn: Connection = engine.data
        if conn.connect_timer is not None:
            conn.connect_timer.cancel()
        for socket in list(conn.sockets.values()):
            socket.handle_close(reason)
        conn.sockets.clear()

    def _connect_now(self, conn: Connection, packet: Packet, nsp: Namespace) -> None:
        """CONNECT to a namespace without middleware: no task, no loop iteration."""
        socket = self._new_socket(conn, packet, nsp)
        if socket is not None:
            self._admit(conn, socket)

    def _recovering(self, packet: Packet) -> bool:
        """Whether a CONNECT asks to recover a session (recovery on, a pid sent; the offset
        is missing when no event reached the client)."""
        data = packet.data
        return self.recovery is not None and isinstance(data, dict) and type(data.get("pid")) is str

    async def _connect(self, conn: Connection, packet: Packet) -> None:
        name = packet.namespace
        request = ConnectRequest.parse(packet.data)
        nsp = await self._resolve(name, request.auth)
        if nsp is None:
            self.connect_refusals["invalid namespace"] += 1
            conn.send(connect_error(name, {"message": "Invalid namespace"}, self.parser))
            return
        if self._recovering(packet) and await self._recover(conn, packet, nsp, request):
            return
        socket = self._new_socket(conn, packet, nsp)
        if socket is None:
            return
        if await self._run_middlewares(conn, socket):
            self._admit(conn, socket)

    async def _run_middlewares(self, conn: Connection, socket: Socket) -> bool:
        """Whether the namespace's middlewares let ``socket`` in (refused: CONNECT_ERROR)."""
        nsp = socket.nsp
        try:
            for middleware in nsp.middlewares:
                result = middleware(socket)
                if is_awaitable(result):
                    await result
        except ConnectionRefused as exc:
            self.connect_refusals["middleware"] += 1
            conn.send(socket.session.refuse(exc.payload()))
            return False
        except Exception as exc:
            logger.exception("error in a middleware of %s", nsp.name, extra=socket.log_extra)
            self.connect_refusals["middleware error"] += 1
            conn.send(socket.session.refuse({"message": str(exc)}))
            return False
        return True

    async def _recover(
        self, conn: Connection, packet: Packet, nsp: Namespace, request: ConnectRequest
    ) -> bool:
        """Restore the session a CONNECT names: same sid, rooms and data, what it missed
        written before the CONNECT answer. False: nothing to restore (a fresh session)."""
        durability, recovery = self.durability, self.recovery
        pid = request.pid
        if durability is None or recovery is None or pid is None:
            return False
        snapshot = await durability.take(nsp.name, pid)
        if snapshot is None or conn.engine.closed or nsp.name in conn.sockets:
            return False
        running = durability.in_progress(pid)
        if running:
            snapshot = replace(snapshot, in_progress=running)
        offset = request.offset if request.offset is not None else snapshot.origin
        if offset is None:
            return False  # no event came to it and its start is not known: a fresh session
        socket = self._new_socket(conn, packet, nsp, snapshot)
        if socket is None:
            return False
        if not recovery.skip_middlewares and not await self._run_middlewares(conn, socket):
            return True
        old = nsp.sockets.get(socket.id)
        if old is not None:  # the client came back before its old connection timed out
            durability.forget(old)
            old.handle_close("transport close")
        # in its rooms from now on, what broadcasts bring is held until the replay is done
        holding = socket.hold()
        nsp.add(socket)
        nsp.adapter.add_all(socket.id, snapshot.rooms)
        missed = await durability.missed(nsp.name, offset, snapshot.rooms)
        if missed is None or conn.engine.closed or nsp.name in conn.sockets:
            nsp.remove(socket)
            durability.keep_snapshot(snapshot)  # as it was: the client may try again
            return missed is not None  # an unknown offset: a fresh session (as Node)
        socket.release(holding, [(entry.offset, entry.data) for entry in missed])
        self._admit(conn, socket)
        durability.restored(socket)
        return True

    def _new_socket(
        self,
        conn: Connection,
        packet: Packet,
        nsp: Namespace,
        restore: SessionSnapshot | None = None,
    ) -> Socket | None:
        """The socket a CONNECT asks for (``restore``: the one it recovers); None if the
        connection has it or is gone."""
        if packet.namespace in conn.sockets or conn.engine.closed:
            return None
        request = ConnectRequest.parse(packet.data)
        session = ServerSession(
            nsp.name,
            parser=self.parser,
            ack_ids=nsp.ack_ids,
            recovery=self.recovery is not None,
            answers=self.ack_answers,
            restore=restore,
        )
        issued = time.time()
        handshake = Handshake.from_request(
            conn.engine.request, request.auth, issued * 1000, formatdate(issued, usegmt=True)
        )
        socket = Socket(nsp, conn, session, handshake)
        if restore is not None and isinstance(restore.data, dict):
            socket.data = restore.data
        return socket

    def _admit(self, conn: Connection, socket: Socket) -> None:
        """The socket joins its namespace: CONNECT answered, connection handlers called."""
        name, nsp = socket.nsp.name, socket.nsp
        if conn.engine.closed or name in conn.sockets:
            return
        if conn.connect_timer is not None:
            conn.connect_timer.cancel()
            conn.connect_timer = None
        answer = socket.session.accept()
        nsp.add(socket)
        conn.sockets[name] = socket
        conn.send(answer)
        if self.durability is not None and socket.session.pid is not None:
            self.durability.connected(socket)
        for handler in nsp.handlers("connection"):
            try:
                result = handler(socket)
            except Exception:
                logger.exception(
                    "error in the connection handler of %s", nsp.name, extra=socket.log_extra
                )
                continue
            if is_awaitable(result):
                self.spawn(result)
