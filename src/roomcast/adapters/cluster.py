"""A cluster adapter: Node's ``@socket.io/redis-adapter`` v8 protocol over any ``Bus``.

Each namespace gets one ``ClusterAdapter``. It keeps the rooms of the local sockets like the
memory adapter and, unless a broadcast is ``local``, also publishes it so the other nodes
deliver it to theirs. Everything that needs answers (``fetch_sockets``, server-side emits
with acks, ``all_rooms``, broadcasts with acks) is a request on the namespace's request
channel; the answers come back on the response channel (formats in ``wire.py``).

The number of nodes is the number of subscribers of the request channel (``PUBSUB NUMSUB`` on
Redis), as Node counts it, so Node and Python nodes count each other. A heartbeat refreshes
that count every ``heartbeat_interval`` seconds; the last count seen before an outage is what
the backlog waits for after it (see ``BufferedBus``).

Failures are never silent: a request some node does not answer in ``requests_timeout`` comes
back as ``ClusterResults`` with ``partial`` set; a broadcast the bus cannot take raises
``BusUnavailable`` (after local delivery); bus outages reach the bus's listeners.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..socketio import Packet, PacketType
from .base import BroadcastOptions, ClusterResults
from .bus import Bus, BusDown, BusEvent, BusListener, BusUnavailable
from .memory import MemoryAdapter
from .remote import PendingRequest, RemoteSocket, socket_to_wire
from .wire import (
    Channels,
    RequestType,
    decode_body,
    encode_request,
    new_uid,
    opts_from_wire,
    opts_to_wire,
    pack,
    packet_from_wire,
    packet_to_wire,
)

if TYPE_CHECKING:
    from ..server.namespace import Namespace
    from ..server.socket import Socket

logger = logging.getLogger("roomcast.cluster")


class ClusterAdapter(MemoryAdapter):
    """Rooms and broadcasting across the nodes that share a ``Bus``.

    Args:
        namespace: the namespace served.
        bus: the pub/sub bus shared by every namespace of this node.
        key: the channel prefix (Node's ``key`` option); nodes must agree on it.
        requests_timeout: how long a request waits for the other nodes (seconds).
        heartbeat_interval: how often the node count is refreshed (seconds).
        specific_response_channel: answer on the requester's own response channel
            (Node's ``publishOnSpecificResponseChannel``).
    """

    def __init__(
        self,
        namespace: Namespace,
        bus: Bus,
        *,
        key: str = "socket.io",
        requests_timeout: float = 5.0,
        heartbeat_interval: float = 5.0,
        specific_response_channel: bool = False,
    ) -> None:
        super().__init__(namespace)
        self.bus = bus
        self.uid = new_uid()
        self._own_head = pack([self.uid])[1:]  # how our [uid, packet, opts] starts (after 0x93)
        self.channels = Channels(key, namespace.name)
        self.requests_timeout = requests_timeout
        self.heartbeat_interval = heartbeat_interval
        self.specific_response_channel = specific_response_channel
        self.known_nodes = 1
        """The node count last seen (this node included)."""
        self._nodes_before_outage = 1
        self._clustered = namespace.name.startswith("/")  # not the parent of dynamic ones
        self._requests: dict[str, PendingRequest] = {}
        self._ack_requests: dict[str, tuple[Callable[[int], None], Callable[[Any], None]]] = {}
        self._init_task: asyncio.Task[None] | None = None
        self._closed = False
        self._heartbeat: asyncio.Task[None] | None = None
        self._handlers: dict[Any, Callable[[dict[str, Any]], None]] = {
            RequestType.SOCKETS: self._on_sockets,
            RequestType.ALL_ROOMS: self._on_all_rooms,
            RequestType.REMOTE_JOIN: self._on_remote_join,
            RequestType.REMOTE_LEAVE: self._on_remote_leave,
            RequestType.REMOTE_DISCONNECT: self._on_remote_disconnect,
            RequestType.REMOTE_FETCH: self._on_remote_fetch,
            RequestType.SERVER_SIDE_EMIT: self._on_server_side_emit,
            RequestType.BROADCAST: self._on_remote_broadcast,
        }
        self._start()

    # -- lifetime ----------------------------------------------------------------------------

    def _start(self) -> None:
        if self._init_task is None and self._clustered and not self._closed:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop yet: the first use in one starts it
            self._init_task = loop.create_task(self._connect())

    async def init(self) -> None:
        """Subscribe to the namespace's channels (idempotent; also started on first use)."""
        self._start()
        if self._init_task is not None:
            await asyncio.shield(self._init_task)

    async def _connect(self) -> None:
        bus, channels = self.bus, self.channels
        bus.add_listener(self._on_bus_event)
        bus.add_rejoin_gate(self._rejoined)
        await bus.subscribe_prefix(channels.broadcast, self._on_broadcast)
        await bus.subscribe(channels.request, self._on_request)
        await bus.subscribe(channels.response, self._on_response)
        await bus.subscribe(channels.response_to(self.uid), self._on_response)
        await bus.start()
        await self.server_count()
        self._heartbeat = asyncio.create_task(self._heartbeat_loop())

    async def aclose(self) -> None:
        """Unsubscribe; pending requests return what they have."""
        self._closed = True
        tasks = [t for t in (self._init_task, self._heartbeat) if t is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        for pending in self._requests.values():
            if not pending.done.done():
                pending.done.set_result(None)
        self._ack_requests.clear()
        if self._init_task is None:
            return
        self._init_task = None
        bus = self.bus
        bus.remove_rejoin_gate(self._rejoined)
        with contextlib.suppress(ValueError):
            bus.remove_listener(self._on_bus_event)
        with contextlib.suppress(Exception):
            await bus.unsubscribe_prefix(self.channels.broadcast)
            for channel in (self.channels.request, self.channels.response):
                await bus.unsubscribe(channel)
            await bus.unsubscribe(self.channels.response_to(self.uid))

    async def _heartbeat_loop(self) -> None:
        while not self._closed:
            await asyncio.sleep(self.heartbeat_interval)
            if self.bus.connected:
                await self.server_count()

    def _on_bus_event(self, event: BusEvent) -> None:
        if isinstance(event, BusDown):
            self._nodes_before_outage = self.known_nodes

    async def _rejoined(self) -> None:
        """After an outage: wait until as many nodes as before subscribe again."""
        while not self._closed:
            try:
                count = await self.bus.count_subscribers(self.channels.request)
            except BusUnavailable:
                count = 0
            if count >= self._nodes_before_outage:
                self.known_nodes = count
                self._nodes_before_outage = 1
                return
            await asyncio.sleep(0.05)

    async def server_count(self) -> int:
        """How many nodes serve this namespace; the last count seen when the bus is down."""
        if not self._clustered:
            return 1
        try:
            count = await self.bus.count_subscribers(self.channels.request)
        except BusUnavailable:
            return self.known_nodes
        self.known_nodes = max(count, 1)
        return self.known_nodes

    # -- membership and broadcasting -----------------------------------------------------------

    def add_all(self, sid: str, rooms: Iterable[str]) -> None:
        super().add_all(sid, rooms)
        if self._init_task is None:
            self._start()

    def _publish(self, channel: str, message: bytes) -> None:
        if self._init_task is None:
            self._start()
        self.bus.publish(channel, message)

    async def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        """Deliver locally, then publish for the other nodes (raises BusUnavailable when the
        bus cannot take it: the local clients got it, the others will not)."""
        self.deliver(packet, opts)
        if opts.local or not self._clustered:
            return
        message = pack([self.uid, packet_to_wire(packet), opts_to_wire(opts)])
        self._publish(self.channels.broadcast_to(opts.rooms), message)

    async def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        client_count: Callable[[int], None],
        ack: Callable[[Any], None],
    ) -> None:
        self._deliver_with_ack(packet, opts, client_count, ack, None)
        if opts.local or not self._clustered:
            return
        request_id = new_uid()
        request = {
            "uid": self.uid,
            "requestId": request_id,
            "type": int(RequestType.BROADCAST),
            "packet": packet_to_wire(packet),
            "opts": opts_to_wire(opts),
        }
        self._publish(self.channels.request, pack(request))  # BusUnavailable: no other node
        self._ack_requests[request_id] = (client_count, ack)
        seconds = _timeout_flag({"flags": opts.flags}, self.requests_timeout)
        asyncio.get_running_loop().call_later(seconds, self._ack_requests.pop, request_id, None)

    def _deliver_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        client_count: Callable[[int], None],
        ack: Callable[[Any], None],
        forget_after: float | None,
    ) -> None:
        recipients = self.local_sockets(opts)
        ack_id = packet.id
        assert ack_id is not None
        for socket in recipients:
            socket.expect_ack(ack_id, ack)
        if recipients:
            messages = self.prepare(packet, opts)
            for socket in recipients:
                socket.deliver(messages, packet)
            if forget_after is not None:
                asyncio.get_running_loop().call_later(forget_after, _forget, recipients, ack_id)
        client_count(len(recipients))

    async def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        self.request_join(opts, list(rooms))

    async def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        self.request_leave(opts, list(rooms))

    def request_join(self, opts: BroadcastOptions, rooms: list[str]) -> None:
        """``add_sockets`` at once: local sockets join now, the request is queued now."""
        self._join_local(opts, rooms)
        self._publish_request(opts, RequestType.REMOTE_JOIN, rooms=rooms)

    def request_leave(self, opts: BroadcastOptions, rooms: list[str]) -> None:
        """``del_sockets`` at once."""
        self._leave_local(opts, rooms)
        self._publish_request(opts, RequestType.REMOTE_LEAVE, rooms=rooms)

    async def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        await super().disconnect_sockets(opts, close)
        self._publish_request(opts, RequestType.REMOTE_DISCONNECT, close=close)

    def _publish_request(self, opts: BroadcastOptions, kind: RequestType, **fields: Any) -> None:
        if opts.local or not self._clustered:
            return
        body = {"uid": self.uid, "type": int(kind), "opts": opts_to_wire(opts, with_flags=False)}
        self._publish(self.channels.request, encode_request({**body, **fields}))

    def _join_local(self, opts: BroadcastOptions, rooms: list[str]) -> None:
        for socket in self.local_sockets(opts):
            socket.join(rooms)

    def _leave_local(self, opts: BroadcastOptions, rooms: list[str]) -> None:
        for socket in self.local_sockets(opts):
            for room in rooms:
                socket.leave(room)

    # -- requests --------------------------------------------------------------------------------

    async def _request(
        self, kind: RequestType, fields: dict[str, Any], timeout: float | None = None
    ) -> tuple[list[Any], int]:
        """Ask every other node; gather ``(answers, how many nodes did not answer)``."""
        await self.init()
        expected = await self.server_count() - 1
        if expected <= 0:
            return [], 0
        if not self.bus.connected:
            logger.warning("%s on %s: the cluster bus is down", kind.name, self.namespace.name)
            return [], expected
        request_id = new_uid()
        pending = self._requests[request_id] = PendingRequest(kind, expected)
        body = {"uid": self.uid, "requestId": request_id, "type": int(kind), **fields}
        wait = self.requests_timeout if timeout is None else timeout
        try:
            self.bus.publish(self.channels.request, encode_request(body))
            await asyncio.wait_for(asyncio.shield(pending.done), wait)
        except (TimeoutError, BusUnavailable):
            pass
        finally:
            del self._requests[request_id]
        missing = max(expected - pending.count, 0)
        if missing:
            logger.warning(
                "%s on %s: %d of %d nodes did not answer within %.1f s",
                kind.name,
                self.namespace.name,
                missing,
                expected,
                wait,
            )
        return pending.answers, missing

    async def fetch_sockets(self, opts: BroadcastOptions) -> ClusterResults[Any]:
        """Local sockets, then those of the other nodes as RemoteSocket (``partial`` when a
        node did not answer in time)."""
        found: list[Any] = list(self.local_sockets(opts))
        if opts.local or not self._clustered:
            return ClusterResults(found)
        fields = {"opts": opts_to_wire(opts, with_flags=False)}
        answers, missing = await self._request(RequestType.REMOTE_FETCH, fields)
        found.extend(RemoteSocket(self, raw) for raw in answers if isinstance(raw, dict))
        return ClusterResults(found, missing=missing)

    async def server_side_emit(self, args: list[Any]) -> list[Any]:
        """Send ``[event, *args]`` to the other nodes' server-side handlers; no answers."""
        if self._clustered:
            body = {"uid": self.uid, "type": int(RequestType.SERVER_SIDE_EMIT), "data": args}
            self._publish(self.channels.request, encode_request(body))
        return []

    async def server_side_emit_with_ack(
        self, args: list[Any], timeout: float | None = None
    ) -> ClusterResults[Any]:
        """Send ``[event, *args]`` to the other nodes; one answer per node that has a handler
        and answered within ``timeout`` (default ``requests_timeout``)."""
        if not self._clustered:
            return ClusterResults()
        fields = {"data": args}
        answers, missing = await self._request(RequestType.SERVER_SIDE_EMIT, fields, timeout)
        return ClusterResults(answers, missing=missing)

    async def all_rooms(self) -> ClusterResults[str]:
        """Every room of the namespace on every node."""
        rooms = set(self.rooms)
        if not self._clustered:
            return ClusterResults(rooms)
        answers, missing = await self._request(RequestType.ALL_ROOMS, {})
        rooms.update(str(room) for room in answers)
        return ClusterResults(sorted(rooms), missing=missing)

    # -- what other nodes send ----------------------------------------------------------------

    def _on_broadcast(self, channel: str, message: bytes) -> None:
        if message[1:8] == self._own_head:
            return  # our own broadcast, back from the bus: skip before decoding
        room = self.channels.room_of(channel)
        if room and room not in self.rooms:
            return  # nobody here is in that room
        try:
            uid, raw_packet, raw_opts = decode_body(message)
        except (ValueError, TypeError):
            logger.debug("ignoring a malformed broadcast on %s", channel)
            return
        if uid == self.uid:
            return
        packet = packet_from_wire(raw_packet)
        if packet is None or packet.namespace != self.namespace.name:
            return
        self.deliver(packet, opts_from_wire(raw_opts))

    def _on_request(self, channel: str, message: bytes) -> None:
        try:
            request = decode_body(message)
        except ValueError:
            logger.debug("ignoring a malformed request on %s", channel)
            return
        if not isinstance(request, dict) or request.get("uid") == self.uid:
            return
        handler = self._handlers.get(request.get("type"))
        if handler is not None:
            handler(request)

    def _respond(
        self, request: dict[str, Any], body: dict[str, Any], *, binary: bool = False
    ) -> None:
        uid = request.get("uid")
        specific = self.specific_response_channel and isinstance(uid, str)
        channel = self.channels.response_to(str(uid)) if specific else self.channels.response
        try:
            self.bus.publish(channel, pack(body) if binary else encode_request(body))
        except (BusUnavailable, TypeError, ValueError) as exc:
            logger.warning("could not answer a %s request: %s", request.get("type"), exc)

    def _on_sockets(self, request: dict[str, Any]) -> None:
        rooms = opts_from_wire({"rooms": request.get("rooms")}).rooms
        sids = list(self.sockets(rooms))
        self._respond(request, {"requestId": request.get("requestId"), "sockets": sids})

    def _on_all_rooms(self, request: dict[str, Any]) -> None:
        self._respond(request, {"requestId": request.get("requestId"), "rooms": list(self.rooms)})

    def _on_remote_join(self, request: dict[str, Any]) -> None:
        if "opts" in request:
            self._join_local(opts_from_wire(request["opts"]), _strings(request.get("rooms")))
        elif (socket := self.namespace.sockets.get(str(request.get("sid")))) is not None:
            socket.join(str(request.get("room")))  # the pre-v7 form, one socket
            self._respond(request, {"requestId": request.get("requestId")})

    def _on_remote_leave(self, request: dict[str, Any]) -> None:
        if "opts" in request:
            self._leave_local(opts_from_wire(request["opts"]), _strings(request.get("rooms")))
        elif (socket := self.namespace.sockets.get(str(request.get("sid")))) is not None:
            socket.leave(str(request.get("room")))
            self._respond(request, {"requestId": request.get("requestId")})

    def _on_remote_disconnect(self, request: dict[str, Any]) -> None:
        close = bool(request.get("close"))
        if "opts" in request:
            opts = opts_from_wire(request["opts"])
            self.namespace.server.spawn(MemoryAdapter.disconnect_sockets(self, opts, close))
        elif (socket := self.namespace.sockets.get(str(request.get("sid")))) is not None:
            self.namespace.server.spawn(socket.disconnect(close))
            self._respond(request, {"requestId": request.get("requestId")})

    def _on_remote_fetch(self, request: dict[str, Any]) -> None:
        local = self.local_sockets(opts_from_wire(request.get("opts")))
        sockets = [socket_to_wire(socket) for socket in local]
        self._respond(request, {"requestId": request.get("requestId"), "sockets": sockets})

    def _on_server_side_emit(self, request: dict[str, Any]) -> None:
        data = request.get("data")
        if not isinstance(data, list) or not data:
            return
        event, *args = data
        handlers = self.namespace.server_side_handlers(str(event))
        results = [_call(handler, args) for handler in handlers]
        request_id = request.get("requestId")
        if request_id is None or not results:
            for result in results:
                if inspect.isawaitable(result):
                    self.namespace.server.spawn(result)
            return
        first, rest = results[0], results[1:]
        for result in rest:
            if inspect.isawaitable(result):
                self.namespace.server.spawn(result)

        def answer(value: Any) -> None:
            body = {"type": int(RequestType.SERVER_SIDE_EMIT), "requestId": request_id}
            try:  # always the shared response channel, as Node does
                self.bus.publish(self.channels.response, encode_request({**body, "data": value}))
            except (BusUnavailable, TypeError, ValueError) as exc:
                logger.warning("could not answer a server-side emit: %s", exc)

        if inspect.isawaitable(first):
            self.namespace.server.spawn(_then(first, answer))
        else:
            answer(first)

    def _on_remote_broadcast(self, request: dict[str, Any]) -> None:
        raw = packet_from_wire(request.get("packet"))
        if raw is None or raw.namespace != self.namespace.name:
            return
        request_id = request.get("requestId")
        packet = Packet(PacketType.EVENT, raw.namespace, raw.data, self.namespace.next_ack_id())
        opts = opts_from_wire(request.get("opts"))
        seconds = _timeout_flag(request.get("opts"), self.requests_timeout)

        def count(n: int) -> None:
            body = {"type": int(RequestType.BROADCAST_CLIENT_COUNT), "requestId": request_id}
            self._respond(request, {**body, "clientCount": n})

        def ack(arg: Any) -> None:
            body = {"type": int(RequestType.BROADCAST_ACK), "requestId": request_id}
            self._respond(request, {**body, "packet": arg}, binary=True)

        self._deliver_with_ack(packet, opts, count, ack, seconds)

    def _on_response(self, channel: str, message: bytes) -> None:
        try:
            response = decode_body(message)
        except ValueError:
            return
        if not isinstance(response, dict):
            return
        request_id = response.get("requestId")
        if not isinstance(request_id, str):
            return
        acks = self._ack_requests.get(request_id)
        if acks is not None:
            kind = response.get("type")
            if kind == RequestType.BROADCAST_CLIENT_COUNT:
                acks[0](int(response.get("clientCount") or 0))
            elif kind == RequestType.BROADCAST_ACK:
                acks[1](response.get("packet"))
            return
        pending = self._requests.get(request_id)
        if pending is not None:
            pending.add(response)


class ClusterAdapterFactory:
    """What ``Server(adapter=...)`` takes: one adapter per namespace, all over one bus.

    ``add_listener(fn)`` receives the bus's BusDown / BusUp / MessagesDropped events;
    ``aclose()`` closes the adapters made and, if the factory owns it, the bus.
    """

    def __init__(
        self,
        adapter_class: type[ClusterAdapter],
        bus: Bus,
        *,
        own_bus: bool = True,
        **options: Any,
    ) -> None:
        self.adapter_class = adapter_class
        self.bus = bus
        self.own_bus = own_bus
        self.options = options
        self.adapters: list[ClusterAdapter] = []

    def __call__(self, namespace: Namespace) -> ClusterAdapter:
        adapter = self.adapter_class(namespace, self.bus, **self.options)
        self.adapters.append(adapter)
        return adapter

    def add_listener(self, listener: BusListener) -> None:
        """Receive the bus's events (outage, recovery, messages refused)."""
        self.bus.add_listener(listener)

    async def aclose(self) -> None:
        """Close every adapter made, then the bus if it was made for this factory."""
        adapters, self.adapters = self.adapters, []
        for adapter in adapters:
            await adapter.aclose()
        if self.own_bus:
            await self.bus.aclose()


def _timeout_flag(raw_opts: Any, default: float) -> float:
    """The ``flags.timeout`` of wire options (milliseconds) in seconds, else ``default``."""
    flags = raw_opts.get("flags") if isinstance(raw_opts, dict) else None
    timeout = flags.get("timeout") if isinstance(flags, dict) else None
    if isinstance(timeout, int | float) and not isinstance(timeout, bool) and timeout > 0:
        return timeout / 1000
    return default


def _strings(raw: Any) -> list[str]:
    return [str(r) for r in raw] if isinstance(raw, list) else []


def _call(handler: Callable[..., Any], args: list[Any]) -> Any:
    try:
        return handler(*args)
    except Exception:
        logger.exception("error in a server-side handler")
        return None


async def _then(pending: Awaitable[Any], answer: Callable[[Any], None]) -> None:
    answer(await pending)


def _forget(sockets: list[Socket], ack_id: int) -> None:
    for socket in sockets:
        socket.forget_ack(ack_id)
