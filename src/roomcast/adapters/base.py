"""The adapter interface, after Socket.IO's own adapter (snake_cased).

An adapter belongs to one namespace. It keeps the room membership of the namespace's local
sockets and delivers broadcasts; a cluster adapter (Redis) also forwards them to other nodes.
Membership changes of local sockets are synchronous; anything that may cross the network
is a coroutine.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from ..socketio import Packet

if TYPE_CHECKING:
    from ..server.namespace import Namespace
    from ..server.socket import Socket
    from ..transports.websocket import Outgoing


_T = TypeVar("_T")


class ClusterResults(list[_T]):
    """What the nodes of a cluster answered: a list, plus how many nodes did not answer in time.

    ``partial`` is true when ``missing`` nodes (or an unknown number, when the cluster could
    not be reached: then ``missing`` is at least 1) are not in the list.
    """

    def __init__(self, items: Iterable[_T] = (), *, missing: int = 0) -> None:
        super().__init__(items)
        self.missing = missing

    @property
    def partial(self) -> bool:
        return self.missing > 0


@dataclass(frozen=True, slots=True)
class BroadcastOptions:
    """Who a broadcast goes to: the sockets in any of ``rooms`` (all when empty), minus the
    sockets in any of ``except_rooms``; ``local`` keeps it on this node."""

    rooms: frozenset[str] = frozenset()
    except_rooms: frozenset[str] = frozenset()
    local: bool = False
    volatile: bool = False
    compress: bool = True
    flags: dict[str, Any] = field(default_factory=dict, compare=False)


class Adapter(ABC):
    """Rooms and broadcasting for one namespace."""

    def __init__(self, namespace: Namespace) -> None:
        self.namespace = namespace
        self.rooms: dict[str, set[str]] = {}
        self.sids: dict[str, set[str]] = {}

    async def init(self) -> None:
        """Called once before the namespace serves; a cluster adapter connects here."""

    def prepare(self, packet: Packet, opts: BroadcastOptions) -> list[Outgoing]:
        """``packet`` encoded once for every recipient, as ``opts`` say (volatile, and not
        compressed after ``compress(False)``)."""
        messages = self.namespace.prepare(packet, volatile=opts.volatile)
        if not opts.compress:
            for message in messages:
                message.compress = False
        return messages

    async def aclose(self) -> None:
        """Release what ``init`` acquired."""

    # -- membership of local sockets -----------------------------------------------------

    def add_all(self, sid: str, rooms: Iterable[str]) -> None:
        """Put socket ``sid`` in each of ``rooms``."""
        mine = self.sids.setdefault(sid, set())
        watcher = self.namespace.server.watcher
        for room in rooms:
            if room not in mine:
                mine.add(room)
                self.rooms.setdefault(room, set()).add(sid)
                if watcher is not None:
                    watcher.room_joined(self.namespace, room, sid)

    def discard(self, sid: str, room: str) -> None:
        """Take socket ``sid`` out of ``room`` (Socket.IO's ``del``); empty rooms are freed."""
        mine = self.sids.get(sid)
        if mine is None or room not in mine:
            return
        mine.discard(room)
        members = self.rooms.get(room)
        if members is not None:
            members.discard(sid)
            if not members:
                del self.rooms[room]
        watcher = self.namespace.server.watcher
        if watcher is not None:
            watcher.room_left(self.namespace, room, sid)

    def discard_all(self, sid: str) -> None:
        """Take socket ``sid`` out of every room (Socket.IO's ``delAll``)."""
        watcher = self.namespace.server.watcher
        for room in self.sids.pop(sid, ()):
            members = self.rooms.get(room)
            if members is not None:
                members.discard(sid)
                if not members:
                    del self.rooms[room]
            if watcher is not None:
                watcher.room_left(self.namespace, room, sid)

    def socket_rooms(self, sid: str) -> set[str] | None:
        return self.sids.get(sid)

    def sockets(self, rooms: Iterable[str] = ()) -> set[str]:
        """Ids of the local sockets in any of ``rooms`` (all local sockets when empty)."""
        return {
            socket.id for socket in self.local_sockets(BroadcastOptions(rooms=frozenset(rooms)))
        }

    def local_sockets(self, opts: BroadcastOptions) -> list[Socket]:
        """The local sockets a broadcast with ``opts`` reaches, each once."""
        connected = self.namespace.sockets
        if opts.rooms:
            rooms = self.rooms
            if len(opts.rooms) == 1:
                (room,) = opts.rooms
                sids: Iterable[str] = tuple(rooms.get(room, ()))
            else:
                union: set[str] = set()
                for room in opts.rooms:
                    members = rooms.get(room)
                    if members:
                        union.update(members)
                sids = union
            if opts.except_rooms:
                excluded = self._members(opts.except_rooms)
                return [connected[s] for s in sids if s not in excluded and s in connected]
            return [connected[s] for s in sids if s in connected]
        if opts.except_rooms:
            excluded = self._members(opts.except_rooms)
            return [s for sid, s in connected.items() if sid not in excluded]
        return list(connected.values())

    def _members(self, rooms: Iterable[str]) -> set[str]:
        members: set[str] = set()
        for room in rooms:
            found = self.rooms.get(room)
            if found:
                members.update(found)
        return members

    # -- delivery ---------------------------------------------------------------------------

    @abstractmethod
    async def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        """Deliver ``packet`` to every socket ``opts`` selects."""

    @abstractmethod
    async def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        client_count: Callable[[int], None],
        ack: Callable[[Any], None],
    ) -> None:
        """Deliver ``packet`` asking each socket for an ack. ``client_count(n)`` is called once
        per node with how many sockets it reached; ``ack(response)`` once per answer."""

    @abstractmethod
    async def fetch_sockets(self, opts: BroadcastOptions) -> list[Any]:
        """The sockets ``opts`` selects (local ones as Socket objects)."""

    @abstractmethod
    async def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        """Make the sockets ``opts`` selects join ``rooms``."""

    @abstractmethod
    async def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        """Make the sockets ``opts`` selects leave ``rooms``."""

    @abstractmethod
    async def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        """Disconnect the sockets ``opts`` selects (and their connections when ``close``)."""

    @abstractmethod
    async def server_side_emit(self, args: list[Any]) -> list[Any]:
        """Emit to the other servers of the cluster (no answers are awaited)."""

    async def server_side_emit_with_ack(
        self, args: list[Any], timeout: float | None = None
    ) -> ClusterResults[Any]:
        """Emit to the other servers and gather one answer from each (none on one node)."""
        return ClusterResults()

    async def all_rooms(self) -> ClusterResults[str]:
        """Every room of the namespace, on every node."""
        return ClusterResults(self.rooms)

    async def server_count(self) -> int:
        return 1
