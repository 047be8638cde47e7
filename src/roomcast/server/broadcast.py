"""Broadcast operators: ``io.to(room).except_(other).emit(...)`` and friends.

Each modifier returns a new operator; nothing is sent until ``emit``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..adapters.base import BroadcastOptions, ClusterResults
from ..exceptions import AckTimeout
from ..socketio import Packet, PacketType
from ..socketio.packets import RESERVED_EVENTS
from .recovery import HistoryEntry

if TYPE_CHECKING:
    from .namespace import Namespace
    from .socket import Socket


def _rooms(rooms: str | Iterable[str]) -> frozenset[str]:
    return frozenset([rooms] if isinstance(rooms, str) else rooms)


class BroadcastOperator:
    """Who a broadcast reaches and how; ``emit`` sends it."""

    __slots__ = ("_nsp", "_opts", "_timeout")

    def __init__(
        self,
        nsp: Namespace,
        rooms: frozenset[str] = frozenset(),
        except_rooms: frozenset[str] = frozenset(),
        opts: BroadcastOptions | None = None,
        timeout: float | None = None,
    ) -> None:
        self._nsp = nsp
        self._opts = opts or BroadcastOptions(rooms=rooms, except_rooms=except_rooms)
        self._timeout = timeout

    def _with(self, **changes: Any) -> BroadcastOperator:
        return BroadcastOperator(
            self._nsp, opts=replace(self._opts, **changes), timeout=self._timeout
        )

    @property
    def options(self) -> BroadcastOptions:
        return self._opts

    def to(self, rooms: str | Iterable[str]) -> BroadcastOperator:
        """Only the sockets in these rooms (added to any rooms chosen before)."""
        return self._with(rooms=self._opts.rooms | _rooms(rooms))

    in_ = to

    def except_(self, rooms: str | Iterable[str]) -> BroadcastOperator:
        """Not the sockets in these rooms (a socket id is a room too)."""
        return self._with(except_rooms=self._opts.except_rooms | _rooms(rooms))

    @property
    def local(self) -> BroadcastOperator:
        """Only the sockets of this node (matters with a cluster adapter)."""
        return self._with(local=True)

    @property
    def volatile(self) -> BroadcastOperator:
        """May be dropped for clients that are not ready to receive (slow or reconnecting)."""
        return self._with(volatile=True)

    def compress(self, compress: bool) -> BroadcastOperator:
        return self._with(compress=compress)

    def timeout(self, seconds: float) -> BroadcastOperator:
        """How long ``emit_with_ack`` waits for the acks."""
        return BroadcastOperator(self._nsp, opts=self._opts, timeout=seconds)

    def _targets(self) -> list[Namespace]:
        return self._nsp.targets()

    async def emit(self, event: str, *args: Any) -> str | None:
        """Send the event to every socket selected.

        With a store (``Server(store=...)`` or ``recovery``), the event is stored first and
        its offset returned (None when nothing was stored: volatile, or the store failed);
        with a durable store it survives a crash of the server once this returns.
        """
        if event in RESERVED_EVENTS:
            raise ValueError(f"{event!r} is a reserved event name")
        opts = self._opts
        durability = None if opts.volatile else self._nsp.server.durability
        offset = None
        for nsp in self._targets():
            packet = Packet(PacketType.EVENT, nsp.name, [event, *args])
            if durability is not None:  # in the store before anyone is sent it
                packet, offset = await durability.stamp(packet, opts.rooms, opts.except_rooms)
            await nsp.adapter.broadcast(packet, opts)
        return offset

    async def send(self, *args: Any) -> None:
        await self.emit("message", *args)

    async def emit_with_ack(self, event: str, *args: Any) -> list[Any]:
        """Send the event and collect each client's ack (its first argument).

        Raises AckTimeout (``.responses`` holds what arrived) when the timeout passes first.
        """
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        responses: list[Any] = []
        state = {"expected": 0, "servers": 0}
        pending: list[tuple[Namespace, int]] = []
        servers_expected = 0

        def check() -> None:
            if (
                not done.done()
                and state["servers"] == servers_expected
                and len(responses) >= state["expected"]
            ):
                done.set_result(None)

        def client_count(n: int) -> None:
            state["expected"] += n
            state["servers"] += 1
            check()

        def ack(response: Any) -> None:
            responses.append(response)
            check()

        targets = self._targets()
        for nsp in targets:
            servers_expected += await nsp.adapter.server_count()
        opts = self._opts
        if self._timeout is not None:  # as Node's flags.timeout (ms), for cluster adapters
            opts = replace(opts, flags={**opts.flags, "timeout": int(self._timeout * 1000)})
        for nsp in targets:
            ack_id = nsp.next_ack_id()
            pending.append((nsp, ack_id))
            packet = Packet(PacketType.EVENT, nsp.name, [event, *args], ack_id)
            await nsp.adapter.broadcast_with_ack(packet, opts, client_count, ack)
        check()
        try:
            await asyncio.wait_for(asyncio.shield(done), self._timeout)
        except TimeoutError:
            for nsp, ack_id in pending:
                for socket in nsp.sockets.values():
                    socket.forget_ack(ack_id)
            raise AckTimeout(responses=list(responses)) from None
        return responses

    async def history(
        self, *, limit: int = 50, before: str | None = None, after: str | None = None
    ) -> list[HistoryEntry]:
        """What was broadcast to the room chosen with ``to``/``in_`` (exactly one), oldest
        first, from the server's store:

        - no bound: the newest ``limit`` events (the page to show on load);
        - ``before``: the ``limit`` events before that offset (paging upwards);
        - ``after``: the ``limit`` events after it (the live ones, with no gap or duplicate:
          pass the newest offset shown, repeat while a page comes back full).

        Raises ValueError without a store or without exactly one room, StoreUnavailable
        when the store is out of reach.
        """
        durability = self._nsp.server.durability
        if durability is None:
            raise ValueError("no store: pass Server(store=...) or Server(recovery=...)")
        if len(self._opts.rooms) != 1:
            raise ValueError("history reads one room: io.in_(room).history(...)")
        (room,) = self._opts.rooms
        entries = await durability.history(
            self._nsp.name, room, limit=limit, before=before, after=after
        )
        return [HistoryEntry.of(entry) for entry in entries]

    async def fetch_sockets(self) -> ClusterResults[Socket]:
        """The sockets selected (with a cluster adapter, remote ones too: ``.partial`` is set
        when some server did not answer in time)."""
        found: ClusterResults[Socket] = ClusterResults()
        for nsp in self._targets():
            part = await nsp.adapter.fetch_sockets(self._opts)
            found.extend(part)
            found.missing += getattr(part, "missing", 0)
        return found

    async def sockets_join(self, rooms: str | Iterable[str]) -> None:
        """Make the selected sockets join ``rooms``."""
        for nsp in self._targets():
            await nsp.adapter.add_sockets(self._opts, _rooms(rooms))

    async def sockets_leave(self, rooms: str | Iterable[str]) -> None:
        """Make the selected sockets leave ``rooms``."""
        for nsp in self._targets():
            await nsp.adapter.del_sockets(self._opts, _rooms(rooms))

    async def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect the selected sockets (and their whole connection with ``close``)."""
        for nsp in self._targets():
            await nsp.adapter.disconnect_sockets(self._opts, close)
