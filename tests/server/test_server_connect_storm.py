"""A storm of connections (bench/storm.py's short form): 500 Socket.IO clients connect at
the same moment while five others get a broadcast every few milliseconds. Every one of the
500 is connected and answered, the five lose no broadcast and get them in order, and the
broadcasts go on while the storm is being accepted."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
from server_wire import WAIT, EioWebSocket, Net

import roomcast

STORM = 500
WATCHERS = 5


async def test_a_storm_of_connections_leaves_the_others_whole(net: Net, serve: Any) -> None:
    io = roomcast.Server()

    left = asyncio.Event()

    @io.on("disconnect")
    def gone(socket: roomcast.Socket, reason: str) -> None:
        if len(io.sockets.sockets) == WATCHERS:
            left.set()

    @io.on("join")
    def join(socket: roomcast.Socket, room: str) -> str:
        socket.join(room)
        return room

    listener = await serve(io)
    url = f"http://127.0.0.1:{listener.port}"
    watchers = [await net.websocket(url) for _ in range(WATCHERS)]
    for watcher in watchers:
        await watcher.send("40")
        assert (await watcher.recv_text()).startswith("40{")
        await watcher.send('420["join","watch"]')
        assert await watcher.recv_text() == '430["watch"]'

    ticking = asyncio.Event()
    sent: list[float] = []

    async def tick() -> None:
        while not ticking.is_set():
            sent.append(time.monotonic())
            await io.to("watch").emit("tick", len(sent))
            await asyncio.sleep(0.002)

    ticker = asyncio.create_task(tick())
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

        async def one(i: int) -> EioWebSocket:
            ws = await EioWebSocket.open(http, url)
            await ws.send("40")
            assert (await ws.recv_text()).startswith("40{")
            await ws.send(f'420["join","storm-{i}"]')
            assert await ws.recv_text() == f'430["storm-{i}"]'
            return ws

        began = time.monotonic()
        storm = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(STORM))), 60)
        ended = time.monotonic()
        assert len({ws.sid for ws in storm}) == STORM
        await asyncio.gather(*(ws.aclose() for ws in storm))
    ticking.set()
    await ticker
    during = [t for t in sent if began <= t <= ended]
    assert during, "no broadcast was made while the storm was accepted"

    for watcher in watchers:
        got = []
        while len(got) < len(sent):
            frame = await watcher.recv_text(within=WAIT)
            event, n = json.loads(frame[2:])
            assert event == "tick"
            got.append(n)
        assert got == list(range(1, len(sent) + 1))
    await asyncio.wait_for(left.wait(), WAIT)  # the storm's sockets are gone, the watchers stay
    assert len(io.sockets.sockets) == WATCHERS
