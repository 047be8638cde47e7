"""The local bus: a ``LocalHub`` on a unix socket and the ``LocalBus`` of each process, in
one event loop (the hub is what ``roomcast serve`` runs in a process of its own)."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import roomcast
from integration.support import WAIT, RecordLog, join
from roomcast.adapters.bus import BusDown, BusEvent, BusUp
from roomcast.adapters.local import FrameReader, LocalAdapter, LocalBus, LocalHub

from .conftest import needs_node


@pytest.fixture
async def hub_path() -> AsyncIterator[str]:
    """A running hub's socket path; the hub is closed at teardown."""
    with tempfile.TemporaryDirectory(prefix="rc-hub-") as directory:
        path = str(Path(directory) / "bus.sock")
        hub = LocalHub()
        await hub.start(path)
        yield path
        await hub.aclose()


class Subscriber:
    """A bus and a log of what it received and of its events."""

    def __init__(self, path: str, **options: Any) -> None:
        self.bus = LocalBus(path, reconnect_delay=(0.02, 0.1), **options)
        self.log = RecordLog("bus")
        self.bus.add_listener(self._event)

    def _event(self, event: BusEvent) -> None:
        self.log.add({"type": type(event).__name__})

    def handler(self, name: str) -> Any:
        return lambda channel, message: self.log.add(
            {"type": "message", "to": name, "channel": channel, "message": message}
        )


def test_frame_reader_splits_and_joins_frames() -> None:
    reader = FrameReader()
    stream = b"\x00\x00\x00\x02ab\x00\x00\x00\x01c\x00\x00\x00\x03de"
    assert [bytes(b) for b in reader.feed(stream[:3])] == []
    assert [bytes(b) for b in reader.feed(stream[3:])] == [b"ab", b"c"]
    assert [bytes(b) for b in reader.feed(b"f")] == [b"def"]
    with pytest.raises(ValueError, match="bad frame size"):
        reader.feed(b"\x00\x00\x00\x00")


async def test_publish_reaches_channel_and_prefix_subscribers(hub_path: str) -> None:
    one, two = Subscriber(hub_path), Subscriber(hub_path)
    try:
        await one.bus.subscribe("req#/#", one.handler("req"))
        await two.bus.subscribe("req#/#", two.handler("req"))
        await two.bus.subscribe_prefix("b#/#", two.handler("b"))
        await one.bus.start()
        await two.bus.start()
        assert one.bus.connected
        assert two.bus.connected
        assert await one.bus.count_subscribers("req#/#") == 2
        assert await one.bus.count_subscribers("nobody") == 0

        one.bus.publish("b#/#room#", b"\x00bin\xff")
        one.bus.publish("req#/#", b"request")
        await two.log.wait(type="message", to="b", channel="b#/#room#", message=b"\x00bin\xff")
        await two.log.wait(type="message", to="req", message=b"request")
        await one.log.wait(type="message", to="req", message=b"request")  # as Redis does

        await two.bus.unsubscribe("req#/#")
        assert await one.bus.count_subscribers("req#/#") == 1
    finally:
        await one.bus.aclose()
        await two.bus.aclose()


async def test_the_bus_reconnects_and_sends_what_was_published_meanwhile() -> None:
    with tempfile.TemporaryDirectory(prefix="rc-hub-") as directory:
        path = str(Path(directory) / "bus.sock")
        hub = LocalHub()
        await hub.start(path)
        sender, receiver = Subscriber(path), Subscriber(path)
        try:
            await receiver.bus.subscribe("c", receiver.handler("c"))
            await sender.bus.start()
            await receiver.bus.start()
            await hub.aclose()
            await sender.log.wait(type=BusDown.__name__)
            await receiver.log.wait(type=BusDown.__name__)
            assert not sender.bus.connected
            sender.bus.publish("c", b"during the outage")

            hub = LocalHub()
            await hub.start(path)
            await sender.log.wait(type=BusUp.__name__)
            await receiver.log.wait(type=BusUp.__name__)
            await receiver.log.wait(type="message", message=b"during the outage")
        finally:
            await sender.bus.aclose()
            await receiver.bus.aclose()
            await hub.aclose()


@needs_node[0]
@needs_node[1]
async def test_two_servers_share_rooms_over_the_hub(
    hub_path: str, serve: Any, spawn_node: Any
) -> None:
    factories = [LocalAdapter.factory(hub_path, requests_timeout=2.0) for _ in range(2)]
    servers = [roomcast.Server(adapter=factory) for factory in factories]

    @servers[1].on("join")
    def on_join(socket: roomcast.Socket, room: str | list[str]) -> list[str]:
        socket.join(room)
        return sorted(socket.rooms)

    @servers[1].on_server_side("count")
    def count() -> int:
        return len(servers[1].sockets.sockets)

    try:
        listeners = [await serve(io) for io in servers]
        node = await spawn_node(listeners[1])
        await node.connect("a", transports=["polling"])
        await join(node, "a", "r")
        await servers[0].to("r").emit("news", "through the hub")
        await node.wait(type="event", id="a", event="news", args=["through the hub"])
        answers = await servers[0].server_side_emit_with_ack("count")
        assert list(answers) == [1]
        assert not answers.partial
        sockets = await servers[0].in_("r").fetch_sockets()
        assert len(sockets) == 1
    finally:
        for factory in factories:
            await asyncio.wait_for(factory.aclose(), WAIT)
