"""Connection-state recovery on the wire: what a recovering client is sent, in what order.

Raw Socket.IO packets over a WebSocket, so the order of the replayed events, of the live
ones that arrive while the store is read, and of the CONNECT answer is what is asserted.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from server_wire import WAIT, Net

import roomcast
from roomcast.adapters.base import BroadcastOptions
from roomcast.socketio import Packet, PacketType
from roomcast.store import MemoryStore, StreamEntry

Serve = Callable[[Any], Awaitable[Any]]


class PausedReads(MemoryStore):
    """A memory store whose ``read_since`` waits until the test lets it go on."""

    def __init__(self) -> None:
        super().__init__()
        self.reading = asyncio.Event()
        self.go_on = asyncio.Event()

    async def read_since(self, namespace: str, offset: str) -> list[StreamEntry] | None:
        found = await super().read_since(namespace, offset)
        self.reading.set()
        await self.go_on.wait()
        return found


class Gone:
    """The sids whose socket disconnected, to wait on."""

    def __init__(self) -> None:
        self.sids: set[str] = set()
        self.changed = asyncio.Event()

    def add(self, socket: roomcast.Socket, reason: str) -> None:
        self.sids.add(socket.id)
        self.changed.set()

    async def wait(self, sid: str) -> None:
        async with asyncio.timeout(WAIT):
            while sid not in self.sids:
                self.changed.clear()
                await self.changed.wait()


def build(store: roomcast.Store, gone: Gone) -> roomcast.Server:
    io = roomcast.Server(recovery=True, store=store)
    io.on("disconnect", gone.add)

    @io.on("join")
    def join(socket: roomcast.Socket, room: str) -> None:
        socket.join(room)

    @io.on("whoami")
    def whoami(socket: roomcast.Socket) -> dict[str, Any]:
        return {"id": socket.id, "recovered": socket.recovered, "rooms": sorted(socket.rooms)}

    return io


def event_of(frame: str | bytes) -> list[Any]:
    assert isinstance(frame, str), frame
    assert frame.startswith("42"), frame
    data = json.loads(frame[2:])
    assert isinstance(data, list)
    return data


async def seen_then_gone(
    io: roomcast.Server, gone: Gone, net: Net, url: str
) -> tuple[str, str, str | None]:
    """A client joins "room", gets one broadcast and leaves: its sid, pid and the offset it
    saw (what a recovering CONNECT presents)."""
    first = await net.websocket(url)
    await first.send("40")
    answer = json.loads((await first.recv_text())[2:])
    sid, pid = answer["sid"], answer["pid"]
    await first.send('420["join","room"]')
    assert await first.recv_text() == "430[]"
    offset = await io.to("room").emit("m", "seen")
    assert event_of(await first.recv()) == ["m", "seen", offset]
    await first.aclose()
    await gone.wait(sid)
    return sid, pid, offset


async def test_events_broadcast_while_the_store_is_read_come_once_after_the_missed_ones(
    serve: Serve, net: Net
) -> None:
    store = PausedReads()
    gone = Gone()
    io = build(store, gone)
    listener = await serve(io)
    url = f"http://127.0.0.1:{listener.port}"

    sid, pid, offset = await seen_then_gone(io, gone, net, url)

    missed = [await io.to("room").emit("m", f"missed {i}") for i in range(3)]
    again = await net.websocket(url)
    await again.send("40" + json.dumps({"pid": pid, "offset": offset}))
    await asyncio.wait_for(store.reading.wait(), WAIT)
    # the socket is back in its room while its missed events are read: these come live
    during = [await io.to("room").emit("m", f"during {i}") for i in range(2)]
    store.go_on.set()

    frames = [await again.recv() for _ in range(5)]
    assert [event_of(f) for f in frames] == [
        *(["m", f"missed {i}", missed[i]] for i in range(3)),
        *(["m", f"during {i}", during[i]] for i in range(2)),
    ]
    connect = await again.recv_text()
    assert connect.startswith("40{"), connect
    assert json.loads(connect[2:]) == {"sid": sid, "pid": pid}
    await again.send('421["whoami"]')
    whoami = json.loads((await again.recv_text())[3:])
    assert whoami == [{"id": sid, "recovered": True, "rooms": sorted([sid, "room"])}]
    after = await io.to("room").emit("m", "after")
    assert event_of(await again.recv()) == ["m", "after", after]


async def test_a_pid_is_used_once(serve: Serve, net: Net) -> None:
    gone = Gone()
    io = build(MemoryStore(), gone)
    listener = await serve(io)
    url = f"http://127.0.0.1:{listener.port}"
    first = await net.websocket(url)
    await first.send("40")
    answer = json.loads((await first.recv_text())[2:])
    offset = await io.emit("m", 1)
    assert event_of(await first.recv()) == ["m", 1, offset]
    await first.aclose()
    await gone.wait(answer["sid"])

    recovering = {"pid": answer["pid"], "offset": offset}
    one = await net.websocket(url)
    await one.send("40" + json.dumps(recovering))
    assert json.loads((await one.recv_text())[2:])["sid"] == answer["sid"]
    two = await net.websocket(url)  # the same pid again: someone else's, now
    await two.send("40" + json.dumps(recovering))
    fresh = json.loads((await two.recv_text())[2:])
    assert fresh["sid"] != answer["sid"]
    assert fresh["pid"] != answer["pid"]


async def test_a_client_that_got_no_event_recovers_from_where_its_session_began(
    serve: Serve, net: Net
) -> None:
    # socket.io-client sends no offset when no event came to it (Node then starts afresh):
    # the session remembers where it began in the stream and replays from there
    gone = Gone()
    io = build(MemoryStore(), gone)
    listener = await serve(io)
    url = f"http://127.0.0.1:{listener.port}"
    before = await io.to("room").emit("m", "before it connected")
    first = await net.websocket(url)
    await first.send("40")
    answer = json.loads((await first.recv_text())[2:])
    await first.send('420["join","room"]')
    assert await first.recv_text() == "430[]"
    await first.aclose()
    await gone.wait(answer["sid"])

    missed = await io.to("room").emit("m", "missed")
    again = await net.websocket(url)
    await again.send("40" + json.dumps({"pid": answer["pid"]}))
    assert event_of(await again.recv()) == ["m", "missed", missed]
    assert json.loads((await again.recv_text())[2:])["sid"] == answer["sid"]
    assert before is not None


async def test_a_broadcast_replayed_then_delivered_live_comes_once(serve: Serve, net: Net) -> None:
    """Another worker's broadcast reaches the store before the bus: replayed from the
    store during the recovery, it must not be written again when it comes live."""
    store = MemoryStore()
    gone = Gone()
    io = build(store, gone)
    listener = await serve(io)
    url = f"http://127.0.0.1:{listener.port}"

    sid, pid, offset = await seen_then_gone(io, gone, net, url)

    # written to the store by "another worker", its live copy still on the bus
    elsewhere = await store.append("/", ["m", "elsewhere"], rooms=["room"])
    again = await net.websocket(url)
    await again.send("40" + json.dumps({"pid": pid, "offset": offset}))
    assert event_of(await again.recv()) == ["m", "elsewhere", elsewhere]
    assert json.loads((await again.recv_text())[2:]) == {"sid": sid, "pid": pid}

    adapter = io.of("/").adapter  # the bus brings it now, as the cluster adapter delivers
    live = Packet(PacketType.EVENT, "/", ["m", "elsewhere", elsewhere])
    adapter.deliver(live, BroadcastOptions(rooms=frozenset({"room"})))
    await again.send('421["whoami"]')  # an ack right after the dropped copy still comes
    assert (await again.recv_text()).startswith('431[{"id":')
    after = await io.to("room").emit("m", "after")
    assert event_of(await again.recv()) == ["m", "after", after]
