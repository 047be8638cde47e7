"""The in-memory adapter: one process, no other service."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..socketio import Packet
from .base import Adapter, BroadcastOptions


class MemoryAdapter(Adapter):
    """Rooms and broadcasting within this process."""

    async def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        self.deliver(packet, opts)

    def deliver(self, packet: Packet, opts: BroadcastOptions) -> int:
        """Encode ``packet`` once and write it to each local socket ``opts`` selects."""
        recipients = self.local_sockets(opts)
        if recipients:
            messages = self.prepare(packet, opts)
            for socket in recipients:
                socket.deliver(messages, packet)
        return len(recipients)

    async def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        client_count: Callable[[int], None],
        ack: Callable[[Any], None],
    ) -> None:
        recipients = self.local_sockets(opts)
        assert packet.id is not None
        for socket in recipients:
            socket.expect_ack(packet.id, ack)
        if recipients:
            messages = self.prepare(packet, opts)
            for socket in recipients:
                socket.deliver(messages, packet)
        client_count(len(recipients))

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[Any]:
        return list(self.local_sockets(opts))

    async def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        rooms = list(rooms)
        for socket in self.local_sockets(opts):
            socket.join(rooms)

    async def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        rooms = list(rooms)
        for socket in self.local_sockets(opts):
            for room in rooms:
                socket.leave(room)

    async def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        for socket in self.local_sockets(opts):
            await socket.disconnect(close=close)

    async def server_side_emit(self, args: list[Any]) -> list[Any]:
        return []  # no other server
