"""What crosses to the other nodes of a cluster: sockets held elsewhere, requests in flight.

``RemoteSocket`` is what ``fetch_sockets`` gives for a socket of another node;
``socket_to_wire`` is how a local one travels; ``PendingRequest`` gathers the answers to one
request until every node answered (or its timeout passes).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .base import BroadcastOptions
from .wire import RequestType, handshake_from_wire, handshake_to_wire

if TYPE_CHECKING:
    from ..server.socket import Handshake, Socket
    from .cluster import ClusterAdapter


class RemoteSocket:
    """A socket held by another node, as ``fetch_sockets`` returns it.

    It has the attributes of a local ``Socket`` that travel (``id``, ``handshake``, ``rooms``,
    ``data``) and acts through the cluster: ``emit`` and ``disconnect`` are coroutines,
    ``join`` and ``leave`` are sent off at once (like a local socket's).
    """

    __slots__ = ("_adapter", "data", "handshake", "id", "nsp", "rooms")

    def __init__(self, adapter: ClusterAdapter, raw: dict[str, Any]) -> None:
        self._adapter = adapter
        self.nsp = adapter.namespace
        self.id = str(raw.get("id"))
        self.handshake: Handshake = handshake_from_wire(raw.get("handshake"))
        rooms = raw.get("rooms")
        self.rooms: set[str] = {str(r) for r in rooms} if isinstance(rooms, list) else set()
        data = raw.get("data")
        self.data: Any = data if data is not None else {}

    def __repr__(self) -> str:
        return f"<RemoteSocket {self.id} {self.nsp.name}>"

    @property
    def namespace(self) -> str:
        return self.nsp.name

    async def emit(self, event: str, *args: Any) -> None:
        """Send an event to this client (through the node that holds it)."""
        await self.nsp.to(self.id).emit(event, *args)

    def join(self, rooms: str | Iterable[str]) -> None:
        """Make this socket join ``rooms`` on its node (sent before anything sent after)."""
        rooms = [rooms] if isinstance(rooms, str) else list(rooms)
        self._adapter.request_join(BroadcastOptions(rooms=frozenset({self.id})), rooms)

    def leave(self, room: str) -> None:
        """Make this socket leave ``room`` on its node."""
        self._adapter.request_leave(BroadcastOptions(rooms=frozenset({self.id})), [room])

    async def disconnect(self, close: bool = False) -> None:
        """Disconnect this socket on its node (its whole connection with ``close``)."""
        await self.nsp.in_(self.id).disconnect_sockets(close)


class PendingRequest:
    """A request waiting for one answer from each of ``expected`` nodes."""

    __slots__ = ("answers", "count", "done", "expected", "kind")

    def __init__(self, kind: RequestType, expected: int) -> None:
        self.kind = kind
        self.expected = expected
        self.count = 0
        self.answers: list[Any] = []
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def add(self, response: dict[str, Any]) -> None:
        if self.kind is RequestType.SERVER_SIDE_EMIT:
            self.answers.append(response.get("data"))
        else:
            items = response.get("rooms" if self.kind is RequestType.ALL_ROOMS else "sockets")
            if not isinstance(items, list):
                return  # as Node: an answer without its list does not count
            self.answers.extend(items)
        self.count += 1
        if self.count >= self.expected and not self.done.done():
            self.done.set_result(None)


def socket_to_wire(socket: Socket) -> dict[str, Any]:
    """A local socket as ``fetchSockets`` answers carry it."""
    return {
        "id": socket.id,
        "handshake": handshake_to_wire(socket.handshake),
        "rooms": list(socket.rooms),
        "data": socket.data,
    }
