"""Connection-state recovery with the official client (and roomcast's own): what a client
that lost its connection gets back, and what it must never get.

A client is cut with ``NodeClient.cut`` (it closes its Engine.IO connection: "forced close"
on its side, "transport close" on the server's); with ``pause`` it stays away until
``resume``, so what is broadcast meanwhile is surely missed and must come back, in order,
before the CONNECT answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import roomcast
from roomcast.exceptions import StoreUnavailable

from .recovery_support import (
    HAVE_REDIS,
    NODE_APP,
    ServerProcess,
    delete_redis_keys,
    free_port,
    redis_store_url,
    unique_key,
)
from .support import (
    POLLING,
    WAIT,
    WEBSOCKET,
    Listener,
    NodeClient,
    ServerHarness,
    delivered,
    join,
    seconds,
)

pytestmark = pytest.mark.node

Serve = Callable[[roomcast.Server], Awaitable[Listener]]
SpawnNode = Callable[[Listener], Awaitable[NodeClient]]

needs_redis = pytest.mark.skipif(not HAVE_REDIS, reason="no Redis answers on 127.0.0.1:6379")
#: socket.io-client options: reconnect by itself, soon.
RECONNECT: dict[str, Any] = {
    "reconnection": True,
    "reconnectionDelay": 100,
    "reconnectionDelayMax": 200,
    "randomizationFactor": 0,
}
TWO_TRANSPORTS = pytest.mark.parametrize("transports", [WEBSOCKET, POLLING], ids=["ws", "polling"])
STORE_KINDS = [
    pytest.param("memory", id="memory"),
    pytest.param("sqlite", id="sqlite"),
    pytest.param("redis", id="redis", marks=needs_redis),
]


class Stores:
    """Store URLs of one kind for one test (``url(**options)``); Redis keys deleted after."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        self.tmp_path = tmp_path
        self.key = unique_key()

    def url(self, **options: Any) -> str:
        query = {k: str(v) for k, v in options.items()}
        if self.kind == "redis":
            if "max_count" in query:
                query.setdefault("approximate", "0")  # trim exactly: a small max_count holds
            return redis_store_url(self.key, **query)
        suffix = "?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else ""
        if self.kind == "sqlite":
            return f"sqlite:///{self.tmp_path / 'store.db'}{suffix}"
        return f"memory://{suffix}"


@pytest.fixture(params=STORE_KINDS)
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    made = Stores(request.param, tmp_path)
    yield made
    if made.kind == "redis":
        await delete_redis_keys(made.key)


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """``listener = await serve(io)``; at teardown the listener and then the server close
    (``Server.aclose``: its store too, which the listener alone leaves open)."""
    served: list[tuple[roomcast.Server, Listener]] = []

    async def start(io: roomcast.Server) -> Listener:
        listener = await io.listen(host="127.0.0.1", port=0)
        served.append((io, listener))
        return listener

    yield start
    for io, listener in reversed(served):
        await asyncio.wait_for(listener.aclose(), WAIT)
        await asyncio.wait_for(io.aclose(), WAIT)


def build(store: str | None, harness: ServerHarness, **recovery: Any) -> roomcast.Server:
    """A server with recovery on ``store`` and the harness's handlers, plus
    ``remember(key, value)`` (into ``socket.data``) and ``whoami`` -> id, rooms, recovered,
    data."""
    io = roomcast.Server(recovery=roomcast.Recovery(**recovery), store=store)
    harness.install(io)

    @io.on("remember")
    def remember(socket: roomcast.Socket, key: str, value: Any) -> bool:
        socket.data[key] = value
        return True

    @io.on("whoami")
    def whoami(socket: roomcast.Socket) -> dict[str, Any]:
        return {
            "id": socket.id,
            "rooms": sorted(socket.rooms),
            "recovered": socket.recovered,
            "data": socket.data,
        }

    return io


async def cut_away(node: NodeClient, harness: ServerHarness, id: str, sid: str) -> None:
    """Cut client ``id`` and keep it away until ``resume``; return once both sides saw it."""
    before = len(node.log.find(type="disconnect", id=id))
    await node.cut(id, pause=True)
    client_side = await node.wait(type="disconnect", id=id, count=before + 1)
    assert client_side["reason"] == "forced close", client_side  # engine.close(), as asked
    server_side = await harness.wait(type="disconnect", sid=sid)
    assert server_side["reason"] == "transport close", server_side


# ---------------------------------------------------------------- recovery after a cut


@TWO_TRANSPORTS
async def test_recovery_after_a_transport_cut(
    stores: Stores, serve: Serve, spawn_node: SpawnNode, transports: list[str]
) -> None:
    harness = ServerHarness()
    io = build(stores.url(), harness)
    node = await spawn_node(await serve(io))
    first = await node.connect("a", transports=transports, **RECONNECT)
    sid = first["sid"]
    assert first["recovered"] is False
    assert (await harness.socket(sid)).recovered is False
    assert await join(node, "a", "r1") == sorted([sid, "r1"])
    assert await node.call("a", "remember", "user", {"name": "alice"}) == [True]

    # one broadcast while connected: its offset comes as the last argument
    live = await io.to("r1").emit("news", 0)
    assert isinstance(live, str)
    await node.wait(type="event", id="a", event="news")
    assert node.events("a", "news") == [[0, live]]

    await cut_away(node, harness, "a", sid)
    missed = [await io.to("r1").emit("news", i, {"n": i}) for i in (1, 2, 3)]
    assert all(isinstance(offset, str) for offset in missed)
    assert len(set(missed)) == 3
    await io.to("elsewhere").emit("news", "not for a")
    everyone = await io.emit("all", "everyone")
    await node.resume("a")

    again = await node.wait(type="connect", id="a", count=2)
    assert again["sid"] == sid
    assert again["recovered"] is True
    # what was missed came before the CONNECT answer, in order, each with its offset
    assert node.events("a", before=again["seq"]) == [
        ["news", 0, live],
        ["news", 1, {"n": 1}, missed[0]],
        ["news", 2, {"n": 2}, missed[1]],
        ["news", 3, {"n": 3}, missed[2]],
        ["all", "everyone", everyone],
    ]
    assert (await node.state("a"))["offset"] == everyone

    # the server side: the same socket id, rooms and data, recovered
    await harness.wait(type="connect", sid=sid, count=2)
    socket = harness.sockets[sid]
    assert socket.recovered is True
    assert socket.rooms == {sid, "r1"}
    assert socket.data == {"user": {"name": "alice"}}
    (me,) = await node.call("a", "whoami")
    assert me == {
        "id": sid,
        "rooms": sorted([sid, "r1"]),
        "recovered": True,
        "data": {"user": {"name": "alice"}},
    }

    # live again: a new broadcast arrives once, nothing is replayed twice
    after = await io.to("r1").emit("news", 4)
    got = await delivered(node, harness, "news", {"a": sid})
    assert got["a"] == [
        [0, live],
        [1, {"n": 1}, missed[0]],
        [2, {"n": 2}, missed[1]],
        [3, {"n": 3}, missed[2]],
        [4, after],
    ]
    assert len(node.log.find(type="connect", id="a")) == 2


async def test_client_that_reconnects_by_itself_recovers_what_went_out_meanwhile(
    serve: Serve, spawn_node: SpawnNode
) -> None:
    """No pause: the broadcasts go out from the server's ``disconnect`` handler while the
    client is on its way back; whichever comes first, each arrives once and in order."""
    harness = ServerHarness()
    io = build("memory://", harness)
    sent: list[str | None] = []

    @io.on("disconnect")
    async def meanwhile(socket: roomcast.Socket, reason: str) -> None:
        for i in range(5):
            sent.append(await io.to("r1").emit("news", i))

    node = await spawn_node(await serve(io))
    sid = (await node.connect("a", transports=WEBSOCKET, **RECONNECT))["sid"]
    await join(node, "a", "r1")
    start = await io.to("r1").emit("news", "start")
    await node.wait(type="event", id="a", event="news")
    await node.cut("a")
    again = await node.wait(type="connect", id="a", count=2)
    assert again["sid"] == sid
    assert again["recovered"] is True
    await harness.wait(type="connect", sid=sid, count=2)
    got = await delivered(node, harness, "news", {"a": sid})
    assert len(sent) == 5
    assert got["a"] == [["start", start], *([i, sent[i]] for i in range(5))]


@pytest.mark.parametrize(
    "stores",
    ["sqlite", pytest.param("redis", marks=needs_redis)],
    ids=["sqlite", "redis"],
    indirect=True,
)
async def test_direct_emits_are_recovered_with_a_durable_store(
    stores: Stores, serve: Serve, spawn_node: SpawnNode
) -> None:
    harness = ServerHarness()
    io = build(stores.url(), harness)
    node = await spawn_node(await serve(io))
    sid = (await node.connect("a", transports=WEBSOCKET))["sid"]
    socket = await harness.socket(sid)
    await socket.emit("direct", "live")
    live = await node.wait(type="event", id="a", event="direct")
    assert len(live["args"]) == 2  # stored: its offset comes last
    await cut_away(node, harness, "a", sid)
    await socket.emit("direct", "while away")  # the socket of the session that left
    await io.to(sid).emit("direct", "to its room")
    await node.resume("a")
    again = await node.wait(type="connect", id="a", count=2)
    assert again["recovered"] is True
    assert again["sid"] == sid
    assert [args[:-1] for args in node.events("a", "direct", before=again["seq"])] == [
        ["live"],
        ["while away"],
        ["to its room"],
    ]


# ---------------------------------------------------------------- a fresh session instead


async def test_expired_session_gives_a_fresh_one(
    stores: Stores, serve: Serve, spawn_node: SpawnNode
) -> None:
    harness = ServerHarness()
    io = build(stores.url(), harness, max_disconnection_duration=0.5)
    node = await spawn_node(await serve(io))
    sid = (await node.connect("a", transports=WEBSOCKET))["sid"]
    await join(node, "a", "r1")
    await node.call("a", "remember", "user", "alice")
    await io.to("r1").emit("news", 0)
    await node.wait(type="event", id="a", event="news")

    await cut_away(node, harness, "a", sid)
    await io.to("r1").emit("news", 1)
    await asyncio.sleep(1.0)  # the stimulus: twice max_disconnection_duration goes by
    await node.resume("a")

    again = await node.wait(type="connect", id="a", count=2)
    assert again["recovered"] is False
    fresh = again["sid"]
    assert fresh != sid
    socket = await harness.socket(fresh)
    assert socket.recovered is False
    assert socket.rooms == {fresh}
    assert socket.data == {}
    got = await delivered(node, harness, "news", {"a": fresh})
    assert [args[0] for args in got["a"]] == [0]  # nothing replayed


async def test_forged_pid_gives_a_fresh_session(
    stores: Stores, serve: Serve, spawn_node: SpawnNode
) -> None:
    harness = ServerHarness()
    io = build(stores.url(), harness)
    node = await spawn_node(await serve(io))
    sid = (await node.connect("a", transports=WEBSOCKET))["sid"]
    await join(node, "a", "secret")
    await node.call("a", "remember", "token", "alice's")
    await io.to("secret").emit("news", "for a")
    await node.wait(type="event", id="a", event="news")
    state = await node.state("a")
    pid, offset = state["pid"], state["offset"]
    assert isinstance(pid, str)
    assert pid
    assert isinstance(offset, str)

    # the pid of a session that exists nowhere, and one a character off a's own
    near = pid[:-1] + ("A" if pid[-1] != "A" else "B")
    for id, forged in (("m1", "not-a-pid-anybody-has"), ("m2", near)):
        record = await node.connect(
            id, transports=WEBSOCKET, auth={"pid": forged, "offset": offset}
        )
        assert record["recovered"] is False, record
        assert record["sid"] != sid
        (me,) = await node.call(id, "whoami")
        assert me == {"id": record["sid"], "rooms": [record["sid"]], "recovered": False, "data": {}}

    # a keeps its session; the forgers are not in its room
    sids = {"a": sid, "m1": node.log.find(type="connect", id="m1")[0]["sid"]}
    sids["m2"] = node.log.find(type="connect", id="m2")[0]["sid"]
    secret = await io.to("secret").emit("news", "still for a only")
    got = await delivered(node, harness, "news", sids)
    assert got == {"a": [["for a", offset], ["still for a only", secret]], "m1": [], "m2": []}
    assert node.log.find(type="disconnect", id="a") == []
    assert harness.sockets[sid].data == {"token": "alice's"}


async def test_trimmed_offset_gives_a_fresh_session(
    stores: Stores, serve: Serve, spawn_node: SpawnNode
) -> None:
    harness = ServerHarness()
    io = build(stores.url(max_count=3), harness)
    node = await spawn_node(await serve(io))
    sid = (await node.connect("a", transports=WEBSOCKET))["sid"]
    await join(node, "a", "r1")
    first = await io.to("r1").emit("news", 0)
    await node.wait(type="event", id="a", event="news")
    assert (await node.state("a"))["offset"] == first

    await cut_away(node, harness, "a", sid)
    for i in range(1, 7):  # the store keeps 3: the client's offset goes
        await io.to("r1").emit("news", i)
    await node.resume("a")

    again = await node.wait(type="connect", id="a", count=2)
    assert again["recovered"] is False
    fresh = again["sid"]
    assert fresh != sid
    socket = await harness.socket(fresh)
    assert socket.recovered is False
    assert socket.rooms == {fresh}
    got = await delivered(node, harness, "news", {"a": fresh})
    assert got["a"] == [[0, first]]  # no partial replay of what was kept
    # the old session's room has no ghost of it
    assert {s.id for s in await io.in_("r1").fetch_sockets()} == set()


# ---------------------------------------------------------------- history


async def test_history_pages_without_gaps_or_duplicates(stores: Stores, serve: Serve) -> None:
    io = roomcast.Server(store=stores.url())
    await serve(io)
    began = time.time()
    offsets: list[str] = []
    for i in range(23):
        offset = await io.to("room").emit("msg", i, {"i": i})
        assert isinstance(offset, str)
        offsets.append(offset)
        if i % 5 == 0:
            await io.to("other").emit("msg", "other", i)
    await io.emit("msg", "to everyone, not to the room")
    assert len(set(offsets)) == len(offsets)

    # the newest page, then upwards with ``before`` the oldest shown
    pages: list[list[roomcast.HistoryEntry]] = []
    page = await io.in_("room").history(limit=5)
    while page:
        pages.append(page)
        assert len(pages) <= 10, "history pages do not end"
        page = await io.in_("room").history(limit=5, before=page[0].offset)
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    entries = [entry for p in reversed(pages) for entry in p]
    assert [e.offset for e in entries] == offsets
    assert [(e.event, e.args) for e in entries] == [("msg", [i, {"i": i}]) for i in range(23)]
    assert all(began - 1 <= e.time <= time.time() + 1 for e in entries)

    # then forwards from the newest shown: exactly what came since
    live = [await io.to("room").emit("msg", "live", i) for i in range(4)]
    seen: list[roomcast.HistoryEntry] = []
    newest = offsets[-1]
    while True:
        page = await io.in_("room").history(limit=3, after=newest)
        seen.extend(page)
        if len(page) < 3:
            break
        newest = page[-1].offset
    assert [e.offset for e in seen] == live
    assert [e.args for e in seen] == [["live", i] for i in range(4)]
    # both bounds: only what lies between
    between = await io.in_("room").history(limit=50, after=offsets[9], before=offsets[13])
    assert [e.offset for e in between] == offsets[10:13]


# ---------------------------------------------------------------- retried packets


@pytest.mark.parametrize("lost", ["slow-ack", "cut-before-ack", "cut-while-handling"])
async def test_retried_packet_runs_its_handler_once(
    serve: Serve, spawn_node: SpawnNode, lost: str
) -> None:
    """socket.io-client with ``retries``: the first ack comes after the client's
    ``ackTimeout`` (``slow-ack``) or is lost with the connection (``cut-before-ack``: the
    client recovers and sends the packet again; ``cut-while-handling``: the handler is
    still running when the recovered client sends it again); the handler must run once and
    the client get the ack."""
    harness = ServerHarness()
    io = build("memory://", harness)
    calls: list[str] = []

    @io.on("slow")
    async def slow(socket: roomcast.Socket, text: str) -> str:
        calls.append(text)
        if lost == "slow-ack":
            # the stimulus: half an ackTimeout past the first one, so that the retry comes
            # while this runs and the answer reaches the retry before it times out too
            await asyncio.sleep(1.5)
        elif len(calls) == 1:
            socket.conn.close()  # this answer is lost with the connection
            if lost == "cut-while-handling":
                await recovered.wait()  # the retry comes while this still runs
        return f"done:{text}"

    recovered = asyncio.Event()
    io.on("connection", lambda socket: socket.recovered and recovered.set())
    node = await spawn_node(await serve(io))
    await node.connect("a", transports=WEBSOCKET, retries=3, ackTimeout=1000, **RECONNECT)
    await node.call("a", "join", "r1")  # with retries, acks come as (err, ...args)
    await io.to("r1").emit("news", "an offset to recover with")
    await node.wait(type="event", id="a", event="news")
    record = await node.emit_ack("a", "slow", "x")
    if lost != "slow-ack":
        assert (await node.wait(type="connect", id="a", count=2))["recovered"] is True
    assert calls == ["x"], f"the handler ran {len(calls)} times; the client got {record}"
    assert record["type"] == "ack", record
    assert record["args"] == [None, "done:x"], record  # retries: the callback gets (err, ...)


# ---------------------------------------------------------------- the store out of reach


async def test_store_down_still_serves_live_broadcasts(serve: Serve, spawn_node: SpawnNode) -> None:
    harness = ServerHarness()
    io = build(f"redis://127.0.0.1:{free_port()}/0", harness)
    node = await spawn_node(await serve(io))
    sids = await node.connect_all(["a", "b"], transports=WEBSOCKET)
    await join(node, "a", "r1")
    await join(node, "b", "r1")
    assert io.durability is not None

    offset = await io.to("r1").emit("news", 1)
    assert offset is None  # not stored, sent all the same, without an offset
    assert io.durability.degraded is True
    assert await io.emit("all", 2) is None
    got = await delivered(node, harness, "news", sids)
    assert got == {"a": [[1]], "b": [[1]]}
    assert {id: node.events(id, "all") for id in sids} == {"a": [[2]], "b": [[2]]}
    with pytest.raises(StoreUnavailable):
        await io.in_("r1").history()

    # a cut client comes back to a fresh session; the server keeps going
    await cut_away(node, harness, "a", sids["a"])
    await node.resume("a")
    again = await node.wait(type="connect", id="a", count=2)
    assert again["recovered"] is False
    assert await node.call("b", "echo", "alive") == ["alive"]
    await io.to("r1").emit("news", 3)
    got = await delivered(node, harness, "news", {"a": again["sid"], "b": sids["b"]})
    assert got == {"a": [[1]], "b": [[1], [3]]}


# ---------------------------------------------------------------- roomcast's own client


async def test_roomcast_client_recovers(serve: Serve) -> None:
    harness = ServerHarness()
    io = build("memory://", harness)
    sent: list[str | None] = []

    @io.on("disconnect")
    async def meanwhile(socket: roomcast.Socket, reason: str) -> None:
        for i in range(3):
            sent.append(await io.to("r1").emit("missed", i))

    listener = await serve(io)
    client = roomcast.Client(
        reconnection_delay=0.2, randomization_factor=0.0, transports=("websocket",)
    )
    seen = asyncio.Queue[list[Any]]()
    connects = asyncio.Queue[bool]()
    client.on("connect", lambda: connects.put_nowait(client.recovered))
    client.on("missed", lambda *args: seen.put_nowait(list(args)))
    try:
        await client.connect(f"http://127.0.0.1:{listener.port}")
        assert await asyncio.wait_for(connects.get(), WAIT) is False
        sid = client.sid
        assert sid is not None
        assert sorted(await client.emit_with_ack("join", "r1", timeout=WAIT)) == sorted([sid, "r1"])
        assert await client.emit_with_ack("remember", "k", "v", timeout=WAIT) is True
        # one broadcast first: the client then holds an offset to send back (as in Node, a
        # CONNECT without one is not a recovery)
        before = await io.to("r1").emit("missed", "before")
        assert await asyncio.wait_for(seen.get(), WAIT) == ["before", before]

        harness.sockets[sid].conn.close()  # the server drops the connection
        assert await asyncio.wait_for(connects.get(), WAIT) is True
        assert client.recovered is True
        assert client.sid == sid
        await harness.wait(type="connect", sid=sid, count=2)
        me = await client.emit_with_ack("whoami", timeout=WAIT)
        rooms = sorted([sid, "r1"])
        assert me == {"id": sid, "rooms": rooms, "recovered": True, "data": {"k": "v"}}
        assert len(sent) == 3
        got = [await asyncio.wait_for(seen.get(), WAIT) for _ in range(3)]
        assert got == [[i, sent[i]] for i in range(3)]
        assert await client.emit_with_ack("echo", "sync", timeout=WAIT) == "sync"
        assert seen.empty()  # nothing twice
    finally:
        await asyncio.wait_for(client.disconnect(), WAIT)


async def test_roomcast_client_retry_runs_the_handler_once(serve: Serve) -> None:
    """roomcast's client sends a retry with the same ack id: answered without a second run."""
    harness = ServerHarness()
    io = build("memory://", harness)
    calls: list[str] = []

    @io.on("slow")
    async def slow(socket: roomcast.Socket, text: str) -> str:
        calls.append(text)
        await asyncio.sleep(0.6)  # the stimulus: past the client's ack_timeout of 0.3 s
        return f"done:{text}"

    listener = await serve(io)
    client = roomcast.Client(retries=3, ack_timeout=0.3, transports=("websocket",))
    try:
        await client.connect(f"http://127.0.0.1:{listener.port}")
        assert await client.emit_with_ack("slow", "x", timeout=seconds(5.0)) == "done:x"
        assert calls == ["x"]
    finally:
        await asyncio.wait_for(client.disconnect(), WAIT)


# ---------------------------------------------------------------- two nodes on one Redis


@needs_redis
@pytest.mark.parametrize("adapter", [False, True], ids=["store", "store+adapter"])
async def test_recovery_on_another_node(
    tmp_path: Path, spawn_node: SpawnNode, adapter: bool
) -> None:
    key = unique_key()
    env = {"ROOMCAST_STORE": redis_store_url(key)}
    if adapter:
        env["ROOMCAST_ADAPTER_KEY"] = key
    nodes = [ServerProcess(NODE_APP, tmp_path, env) for _ in range(2)]
    try:
        for server in nodes:
            await server.start()
        a_url, b_url = nodes[0].url, nodes[1].url
        node = await NodeClient.start(a_url)
        try:
            await node.connect("a", transports=WEBSOCKET, **RECONNECT)
            sid = (await node.state("a"))["sid"]
            (ack,) = await node.call("a", "join", "room")
            assert ack == {"rooms": sorted([sid, "room"])}
            (ack,) = await node.call("a", "publish", {"room": "room", "text": "before"})
            first = ack["offset"]
            await node.wait(type="event", id="a", event="message")

            await node.cut("a", pause=True, url=b_url)
            await node.wait(type="disconnect", id="a")
            # a publisher on node B while a is away
            publisher = await NodeClient.start(b_url)
            try:
                await publisher.connect("p", transports=WEBSOCKET)
                missed = []
                for text in ("one", "two"):
                    (ack,) = await publisher.call("p", "publish", {"room": "room", "text": text})
                    missed.append(ack["offset"])
                await node.resume("a")
                again = await node.wait(type="connect", id="a", count=2)
                assert again["sid"] == sid
                assert again["recovered"] is True
                assert node.events("a", "message", before=again["seq"]) == [
                    [{"room": "room", "text": "before"}, first],
                    [{"room": "room", "text": "one"}, missed[0]],
                    [{"room": "room", "text": "two"}, missed[1]],
                ]
                (me,) = await node.call("a", "whoami")
                assert me == {"id": sid, "rooms": sorted([sid, "room"]), "recovered": True}
                # live on node B now
                (ack,) = await publisher.call("p", "publish", {"room": "room", "text": "live"})
                await node.wait(type="event", id="a", event="message", count=4)
                assert node.events("a", "message")[3] == [
                    {"room": "room", "text": "live"},
                    ack["offset"],
                ]
            finally:
                await publisher.aclose()
        finally:
            await node.aclose()
    finally:
        outputs = [await server.stop() for server in nodes]
        await delete_redis_keys(key)
    for out in outputs:
        assert "Traceback" not in out, out
