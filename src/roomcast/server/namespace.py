"""Namespaces: a name, its sockets, its handlers and middlewares, its adapter."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..adapters.base import ClusterResults
from ..socketio import Packet
from ..transports.websocket import Outgoing
from .broadcast import BroadcastOperator
from .guard import Bounds, HandlerSpec, bounds_of, guarded
from .limits import Per, RateLimits
from .validation import (
    build_validator,
    event_params,
    fixed_arity,
    needs_dump,
    return_annotation,
)

if TYPE_CHECKING:
    from .server import Server
    from .socket import Socket

Handler = Callable[..., Any]
Middleware = Callable[["Socket"], Any]

_ALIASES = {"connect": "connection"}
LIFECYCLE = frozenset({"connection", "disconnecting", "disconnect"})
"""Handlers the server calls itself: never validated, limited or acked."""


class Namespace:
    """A Socket.IO namespace.

    Handlers: ``connection(socket)``, ``disconnecting(socket, reason)``,
    ``disconnect(socket, reason)``, and ``<event>(socket, *args)`` whose return value is the ack.
    A dynamic namespace (``io.of(pattern)``) is a parent: the namespaces it creates share its
    handlers and middlewares, and broadcasting on it reaches all of them.

    An event handler's annotations are its schema (``validation``), and ``on(...)`` takes
    its limits; ``limit(...)`` sets those of every event of the namespace.
    """

    def __init__(self, server: Server, name: str, parent: Namespace | None = None) -> None:
        self.server = server
        self.name = name
        self.parent = parent
        self.sockets: dict[str, Socket] = {}
        self.children: list[Namespace] = []
        if parent is None:
            self._handlers: dict[str, list[Handler]] = {}
            """What the dispatch calls: each handler, wrapped in its checks if it has any."""
            self._specs: dict[str, list[HandlerSpec]] = {}
            """The handlers as registered, with their checks."""
            self._bounds = Bounds()
            self._middlewares: list[Middleware] = []
            self._server_side: dict[str, list[Handler]] = {}
        else:
            self._handlers = parent._handlers
            self._specs = parent._specs
            self._bounds = parent._bounds
            self._middlewares = parent._middlewares
            self._server_side = parent._server_side
            parent.children.append(self)
        self.ack_ids = itertools.count()
        """Ack ids, shared by the sockets' sessions and the broadcasts: one id never means
        two things to a client."""
        self.adapter = server.adapter_factory(self)
        self.disconnects: Counter[str] = Counter()
        """Sockets that left this namespace, by reason."""
        self.ack_timeouts = 0
        """Acks asked of this namespace's clients that did not come in time."""

    def __repr__(self) -> str:
        return f"<Namespace {self.name}>"

    # -- handlers -------------------------------------------------------------------------

    def on(
        self,
        event: str,
        handler: Handler | None = None,
        *,
        rate: RateLimits = None,
        burst: int | None = None,
        per: Per = "socket",
        max_bytes: int | None = None,
        max_depth: int | None = None,
        validate: bool = True,
    ) -> Any:
        """Register ``handler`` for ``event`` (or use as a decorator).

        Args:
            rate: a rate limit for this event (``"5/s"``, a ``RateLimit``, several).
            burst: the bucket's size for a ``rate`` string (default: its count).
            per: what a bucket counts: ``"socket"``, ``"ip"``, or a function of the socket.
            max_bytes: the largest encoded packet accepted for this event.
            max_depth: the deepest JSON nesting accepted in its arguments.
            validate: check and convert the arguments by the handler's annotations.
        """
        event = _ALIASES.get(event, event)
        bounds = bounds_of(rate, burst, per, max_bytes, max_depth)

        def register(fn: Handler) -> Handler:
            if event in LIFECYCLE:
                self._handlers.setdefault(event, []).append(fn)
                return fn
            spec = HandlerSpec(fn, bounds=bounds)
            params = event_params(fn, frame_depth=2)
            spec.params = params
            spec.arity = fixed_arity(fn, params)
            spec.returns = return_annotation(fn, frame_depth=2)
            spec.dump = needs_dump(spec.returns)
            if validate:
                spec.validator = build_validator(params)
                spec.dump = spec.dump or spec.validator is not None
            self._specs.setdefault(event, []).append(spec)
            self._compile(event)
            return fn

        return register if handler is None else register(handler)

    def limit(
        self,
        rate: RateLimits = None,
        *,
        burst: int | None = None,
        per: Per = "socket",
        max_bytes: int | None = None,
        max_depth: int | None = None,
    ) -> None:
        """Limits for every event of this namespace (those a dynamic one creates too):
        ``rate`` counts all its events together; ``max_bytes`` and ``max_depth`` apply to
        each event that sets none of its own."""
        bounds = bounds_of(rate, burst, per, max_bytes, max_depth)
        self._bounds.limiters = bounds.limiters
        self._bounds.max_bytes = max_bytes
        self._bounds.max_depth = max_depth
        for event in self._specs:
            self._compile(event)

    @property
    def limits(self) -> Bounds:
        """What ``limit(...)`` set for every event of this namespace."""
        return self._bounds

    @property
    def event_limiters(self) -> tuple[Any, ...]:
        """The limits on every event (this namespace's, then the server's)."""
        return self._bounds.limiters + self.server.guard.bounds.limiters

    def _compile(self, event: str) -> None:
        """What the dispatch calls for ``event``: each handler wrapped in its checks."""
        guard = self.server.guard
        own, server = self._bounds, guard.bounds
        scope = Bounds(
            self.event_limiters,
            own.max_bytes if own.max_bytes is not None else server.max_bytes,
            own.max_depth if own.max_depth is not None else server.max_depth,
        )
        compiled: list[Handler] = []
        for index, spec in enumerate(self._specs[event]):
            handler, sized = guarded(spec, scope, guard, first=index == 0)
            guard.measure = guard.measure or sized
            compiled.append(handler)
        self._handlers.setdefault(event, [])[:] = compiled

    def specs(self) -> dict[str, list[HandlerSpec]]:
        """The event handlers as registered (the schema export reads them)."""
        return self._specs

    def event(self, handler: Handler) -> Handler:
        """Decorator: the function's name is the event."""
        return self.on(handler.__name__, handler)  # type: ignore[no-any-return]

    def handlers(self, event: str) -> list[Handler]:
        return self._handlers.get(event, [])

    def on_server_side(self, event: str, handler: Handler | None = None) -> Any:
        """Register ``handler(*args)`` for ``event`` sent by another server of the cluster
        (``server_side_emit``); its return value is the answer (or use as a decorator)."""

        def register(fn: Handler) -> Handler:
            self._server_side.setdefault(event, []).append(fn)
            return fn

        return register if handler is None else register(handler)

    def server_side_handlers(self, event: str) -> list[Handler]:
        return self._server_side.get(event, [])

    def use(self, middleware: Middleware) -> Middleware:
        """``middleware(socket)`` runs before a socket joins; raise ConnectionRefused to refuse."""
        self._middlewares.append(middleware)
        return middleware

    @property
    def middlewares(self) -> list[Middleware]:
        return self._middlewares

    # -- sockets --------------------------------------------------------------------------

    def add(self, socket: Socket) -> None:
        self.sockets[socket.id] = socket
        self.adapter.add_all(socket.id, [socket.id])

    def remove(self, socket: Socket) -> None:
        self.sockets.pop(socket.id, None)
        self.adapter.discard_all(socket.id)

    def next_ack_id(self) -> int:
        return next(self.ack_ids)

    def prepare(self, packet: Packet, *, volatile: bool = False) -> list[Outgoing]:
        """Encode a packet once into the messages every recipient gets."""
        parts = self.server.parser.encode(packet)
        traffic = self.server.traffic
        if traffic is not None:
            traffic.encoded(packet)
        return [Outgoing(part, volatile=volatile) for part in parts]

    def targets(self) -> list[Namespace]:
        """The namespaces a broadcast on this one reaches (the children of a parent)."""
        return list(self.children) if self.is_parent else [self]

    @property
    def is_parent(self) -> bool:
        return self.server.is_parent(self)

    # -- broadcasting ---------------------------------------------------------------------

    def _operator(self) -> BroadcastOperator:
        return BroadcastOperator(self)

    async def emit(self, event: str, *args: Any) -> str | None:
        """Send an event to every socket of the namespace (its offset: see
        ``BroadcastOperator.emit``)."""
        return await self._operator().emit(event, *args)

    async def send(self, *args: Any) -> None:
        await self._operator().emit("message", *args)

    def to(self, rooms: str | Iterable[str]) -> BroadcastOperator:
        return self._operator().to(rooms)

    in_ = to

    def except_(self, rooms: str | Iterable[str]) -> BroadcastOperator:
        return self._operator().except_(rooms)

    @property
    def local(self) -> BroadcastOperator:
        return self._operator().local

    @property
    def volatile(self) -> BroadcastOperator:
        return self._operator().volatile

    def compress(self, compress: bool) -> BroadcastOperator:
        return self._operator().compress(compress)

    def timeout(self, seconds: float) -> BroadcastOperator:
        return self._operator().timeout(seconds)

    async def emit_with_ack(self, event: str, *args: Any) -> list[Any]:
        return await self._operator().emit_with_ack(event, *args)

    async def fetch_sockets(self) -> list[Socket]:
        return await self._operator().fetch_sockets()

    async def sockets_join(self, rooms: str | Iterable[str]) -> None:
        await self._operator().sockets_join(rooms)

    async def sockets_leave(self, rooms: str | Iterable[str]) -> None:
        await self._operator().sockets_leave(rooms)

    async def disconnect_sockets(self, close: bool = False) -> None:
        await self._operator().disconnect_sockets(close)

    async def server_side_emit(self, event: str, *args: Any) -> list[Any]:
        """Emit to the other servers of a cluster (their ``on_server_side`` handlers)."""
        return await self.adapter.server_side_emit([event, *args])

    async def server_side_emit_with_ack(
        self, event: str, *args: Any, timeout: float | None = None
    ) -> ClusterResults[Any]:
        """Emit to the other servers and gather their answers; ``.partial`` is set when some
        server did not answer within ``timeout`` (default: the adapter's)."""
        return await self.adapter.server_side_emit_with_ack([event, *args], timeout)
