"""A mixed cluster: a roomcast server and a Node socket.io server with
``@socket.io/redis-streams-adapter`` (``node/streams_server.mjs``) on one Redis stream
recover each other's clients, both ways, with the official ``socket.io-client``.

Both sides use their default session key prefix (``sio:session:``, the adapter's
``sessionKeyPrefix``) and a stream of the test's own; the stream and the client's session
key are deleted afterwards.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from redis.asyncio import Redis

import roomcast

from .recovery_support import HAVE_REDIS, REDIS_URL, unique_key
from .support import (
    NODE,
    ROOT,
    WAIT,
    WEBSOCKET,
    Listener,
    NodeClient,
    NodeProcess,
    RecordLog,
    seconds,
)

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(not HAVE_REDIS, reason="no Redis answers on 127.0.0.1:6379"),
]

STREAMS_SERVER_JS = ROOT / "tests" / "integration" / "node" / "streams_server.mjs"
SESSION_PREFIX = "sio:session:"  # the default of both sides
#: socket.io-client options: reconnect by itself, soon.
RECONNECT: dict[str, Any] = {
    "reconnection": True,
    "reconnectionDelay": 100,
    "reconnectionDelayMax": 200,
    "randomizationFactor": 0,
}
ROOM = "room"


class StreamsServer(NodeProcess):
    """``node streams_server.mjs``: a Node socket.io server with the Redis streams adapter
    (see the header of that file)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        super().__init__(proc, "node streams server")
        self.port = 0

    @classmethod
    async def start(cls, stream: str) -> StreamsServer:
        assert NODE is not None
        options = {"redis": REDIS_URL, "streamName": stream}
        proc = await asyncio.create_subprocess_exec(
            NODE,
            str(STREAMS_SERVER_JS),
            "0",
            json.dumps(options),
            str(seconds(120.0)),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        server = cls(proc)
        try:
            record = await server.log.wait(type="listening")
        except AssertionError:
            await server.aclose()
            raise AssertionError(f"node server did not start: {server.stderr.decode()}") from None
        server.port = int(record["port"])
        return server

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def publish(self, room: str, text: str) -> str:
        """``io.to(room).emit("message", {room, text})`` on the Node server; its offset."""
        req = f"p{next(self._reqs)}"
        await self.send("publish", req=req, room=room, text=text)
        record = await self.log.wait(type="result", req=req)
        return str(record["offset"])

    async def aclose(self) -> None:
        if self.proc.returncode is None:
            try:
                await self.send("close")
                await asyncio.wait_for(self.proc.wait(), WAIT)
            except (ConnectionError, TimeoutError):
                self.proc.kill()
                await self.proc.wait()
        await asyncio.wait_for(asyncio.gather(*self._readers), WAIT)
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        problems = self.log.find(type=lambda t: t in ("bad_command", "bad_line", "redis_error"))
        assert not problems, f"the node server: {problems}\n{self.stderr.decode()}"


def build_roomcast(stream: str, log: RecordLog) -> roomcast.Server:
    """roomcast with recovery on the shared stream (default session prefix) and the
    handlers of the Node server: join, publish, whoami; connections logged."""
    io = roomcast.Server(recovery=True, store=f"{REDIS_URL}?stream={stream}")

    @io.on("connection")
    def connection(socket: roomcast.Socket) -> None:
        log.add({"type": "connect", "sid": socket.id, "recovered": socket.recovered})

    @io.on("disconnect")
    def disconnect(socket: roomcast.Socket, reason: str) -> None:
        log.add({"type": "disconnect", "sid": socket.id, "reason": reason})

    @io.on("join")
    def join(socket: roomcast.Socket, room: str) -> dict[str, Any]:
        socket.join(room)
        return {"rooms": sorted(socket.rooms)}

    @io.on("publish")
    async def publish(socket: roomcast.Socket, message: dict[str, Any]) -> dict[str, Any]:
        return {"offset": await io.to(message["room"]).emit("message", message)}

    @io.on("whoami")
    def whoami(socket: roomcast.Socket) -> dict[str, Any]:
        return {"id": socket.id, "rooms": sorted(socket.rooms), "recovered": socket.recovered}

    return io


@dataclass
class Cluster:
    """One roomcast and one Node server on the stream ``stream``, a client driver, Redis."""

    stream: str
    redis: Redis
    io: roomcast.Server
    listener: Listener
    roomcast_log: RecordLog
    node_server: StreamsServer
    pids: list[str] = field(default_factory=list)

    @property
    def roomcast_url(self) -> str:
        return f"http://127.0.0.1:{self.listener.port}"

    async def session_ttl(self, pid: str) -> int:
        """The session key's PTTL in ms (-2: no such key)."""
        return int(await self.redis.pttl(SESSION_PREFIX + pid))

    async def wait_session(self, pid: str, *, at_most_ms: int) -> None:
        """Wait until the session of ``pid`` is in Redis with at most ``at_most_ms`` to live
        (the record its server wrote when the client went away)."""
        async with asyncio.timeout(WAIT):
            while True:
                if 0 < await self.session_ttl(pid) <= at_most_ms:
                    return
                await asyncio.sleep(0.02)  # polling Redis for the write, not a verdict

    async def entry_ids(self) -> list[str]:
        """The ids of the stream's entries, oldest first."""
        page = await self.redis.xrange(self.stream) or []
        return [str(stream_id) for stream_id, _ in page]


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    stream = unique_key()
    redis = Redis.from_url(REDIS_URL, decode_responses=True)
    log = RecordLog("roomcast server")
    io = build_roomcast(stream, log)
    listener = await io.listen(host="127.0.0.1", port=0)
    node_server: StreamsServer | None = None
    made: Cluster | None = None
    try:
        node_server = await StreamsServer.start(stream)
        made = Cluster(stream, redis, io, listener, log, node_server)
        yield made
    finally:
        if node_server is not None:
            await node_server.aclose()
        await asyncio.wait_for(listener.aclose(), WAIT)
        await asyncio.wait_for(io.aclose(), WAIT)
        keys = [stream, *(SESSION_PREFIX + pid for pid in (made.pids if made else []))]
        await redis.delete(*keys)
        await redis.aclose()


@pytest.fixture
async def client() -> AsyncIterator[list[NodeClient]]:
    """A list the test puts its node client driver in; ended at teardown (before the
    servers: fixtures end in reverse order)."""
    clients: list[NodeClient] = []
    yield clients
    await asyncio.gather(*(c.aclose() for c in clients))


async def start_client(clients: list[NodeClient], url: str) -> NodeClient:
    node = await NodeClient.start(url)
    clients.append(node)
    return node


def message(text: str) -> dict[str, str]:
    return {"room": ROOM, "text": text}


async def connect_and_join(node: NodeClient, cluster: Cluster) -> tuple[str, str]:
    """Client "a" connects, joins ROOM; its sid and pid."""
    first = await node.connect("a", transports=WEBSOCKET, **RECONNECT)
    assert first["recovered"] is False
    state = await node.state("a")
    sid, pid = state["sid"], state["pid"]
    assert isinstance(pid, str), state  # the server offered recovery
    cluster.pids.append(pid)
    (ack,) = await node.call("a", "join", ROOM)
    assert ack == {"rooms": sorted([sid, ROOM])}
    return sid, pid


async def check_recovered(node: NodeClient, sid: str, expected: list[list[Any]]) -> None:
    """Client "a" came back with its id and rooms, recovered, and got ``expected`` (the
    message events' arguments, offsets included), before the CONNECT answer."""
    again = await node.wait(type="connect", id="a", count=2)
    assert again["sid"] == sid
    assert again["recovered"] is True
    assert node.events("a", before=again["seq"]) == [["message", *args] for args in expected]
    assert (await node.state("a"))["offset"] == expected[-1][-1]
    (me,) = await node.call("a", "whoami")
    assert me == {"id": sid, "rooms": sorted([sid, ROOM]), "recovered": True}


async def test_client_of_node_recovers_on_roomcast(
    cluster: Cluster, client: list[NodeClient]
) -> None:
    node_server = cluster.node_server
    node = await start_client(client, node_server.url)
    sid, pid = await connect_and_join(node, cluster)
    (ack,) = await node.call("a", "publish", message("before"))
    before = ack["offset"]
    await node.wait(type="event", id="a", event="message")
    assert node.events("a", "message") == [[message("before"), before]]

    await node.cut("a", pause=True, url=cluster.roomcast_url)
    assert (await node.wait(type="disconnect", id="a"))["reason"] == "forced close"
    gone = await node_server.log.wait(type="disconnect", sid=sid)
    assert gone["reason"] == "transport close"
    await cluster.wait_session(pid, at_most_ms=120_000)  # Node's SET ... PX 120000

    from_node = await node_server.publish(ROOM, "from node")
    await node_server.publish("elsewhere", "not for a")
    from_roomcast = await cluster.io.to(ROOM).emit("message", message("from roomcast"))
    assert isinstance(from_roomcast, str)
    ids = await cluster.entry_ids()  # one stream: Node's and roomcast's entries in order
    assert [ids[0], ids[1], ids[3]] == [before, from_node, from_roomcast], ids
    await node.resume("a")

    await check_recovered(
        node,
        sid,
        [
            [message("before"), before],
            [message("from node"), from_node],
            [message("from roomcast"), from_roomcast],
        ],
    )
    assert (await cluster.roomcast_log.wait(type="connect", sid=sid))["recovered"] is True

    # the limit: roomcast does not read Node's stream live. A broadcast from Node, in the
    # stream before roomcast's next one, reaches the client on roomcast only by recovery.
    live_node = await node_server.publish(ROOM, "live from node")
    live = await cluster.io.to(ROOM).emit("message", message("live from roomcast"))
    assert isinstance(live, str)
    ids = await cluster.entry_ids()
    assert ids.index(live_node) < ids.index(live)
    got = await node.wait(type="event", id="a", event="message", count=4)
    assert got["args"] == [message("live from roomcast"), live]
    assert len(node.events("a", "message")) == 4  # not "live from node"


async def test_client_of_roomcast_recovers_on_node(
    cluster: Cluster, client: list[NodeClient]
) -> None:
    node_server = cluster.node_server
    node = await start_client(client, cluster.roomcast_url)
    sid, pid = await connect_and_join(node, cluster)
    (ack,) = await node.call("a", "publish", message("before"))
    before = ack["offset"]
    await node.wait(type="event", id="a", event="message")
    assert node.events("a", "message") == [[message("before"), before]]

    await node.cut("a", pause=True, url=node_server.url)
    assert (await node.wait(type="disconnect", id="a"))["reason"] == "forced close"
    gone = await cluster.roomcast_log.wait(type="disconnect", sid=sid)
    assert gone["reason"] == "transport close"
    # roomcast keeps a live socket's record for 300 s; the one it writes when the client
    # goes away lives max_disconnection_duration (120 s): wait for that one
    await cluster.wait_session(pid, at_most_ms=120_000)

    from_roomcast = await cluster.io.to(ROOM).emit("message", message("from roomcast"))
    assert isinstance(from_roomcast, str)
    await cluster.io.to("elsewhere").emit("message", {"room": "elsewhere", "text": "not for a"})
    from_node = await node_server.publish(ROOM, "from node")
    await node.resume("a")

    await check_recovered(
        node,
        sid,
        [
            [message("before"), before],
            [message("from roomcast"), from_roomcast],
            [message("from node"), from_node],
        ],
    )
    recovered = await node_server.log.wait(type="connect", sid=sid)
    assert recovered["recovered"] is True
    assert recovered["rooms"] == sorted([sid, ROOM])
    assert await cluster.session_ttl(pid) == -2  # taken (GETDEL), not left behind

    # Node's adapter reads the stream live: roomcast's broadcasts reach Node's clients,
    # with their offsets
    live = await cluster.io.to(ROOM).emit("message", message("live from roomcast"))
    assert isinstance(live, str)
    got = await node.wait(type="event", id="a", event="message", count=4)
    assert got["args"] == [message("live from roomcast"), live]
