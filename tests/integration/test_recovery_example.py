"""``examples/recovery/app.py`` as users run it: its documented contract, and recovery that
survives ``kill -9`` of the server and a restart on the same port (SQLite and Redis)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from .recovery_support import (
    HAVE_REDIS,
    RECOVERY_APP,
    ServerProcess,
    delete_redis_keys,
    redis_store_url,
    unique_key,
)
from .support import WEBSOCKET, NodeClient

pytestmark = pytest.mark.node

needs_redis = pytest.mark.skipif(not HAVE_REDIS, reason="no Redis answers on 127.0.0.1:6379")
RECONNECT: dict[str, Any] = {
    "reconnection": True,
    "reconnectionDelay": 100,
    "reconnectionDelayMax": 200,
    "randomizationFactor": 0,
}
StartApp = Callable[..., Awaitable[ServerProcess]]


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[StartApp]:
    """``server = await app(store=None)``: the example, its working directory ``tmp_path``,
    ``$ROOMCAST_STORE`` = ``store`` (unset: the example's default); stopped at teardown, its
    output checked for tracebacks."""
    started: list[ServerProcess] = []

    async def start(store: str | None = None) -> ServerProcess:
        env = {} if store is None else {"ROOMCAST_STORE": store}
        server = ServerProcess(RECOVERY_APP, tmp_path, env)
        started.append(server)
        await server.start()
        return server

    yield start
    outputs = [await server.stop() for server in started]
    for out in outputs:
        assert "Traceback" not in out, out


@pytest.fixture
async def redis_key() -> AsyncIterator[str]:
    key = unique_key()
    yield key
    await delete_redis_keys(key)


@pytest.fixture
async def clients() -> AsyncIterator[Callable[[str], Awaitable[NodeClient]]]:
    started: list[NodeClient] = []

    async def start(url: str) -> NodeClient:
        client = await NodeClient.start(url)
        started.append(client)
        return client

    yield start
    for client in started:
        await client.aclose()


async def ack(node: NodeClient, id: str, event: str, *args: Any) -> Any:
    (answer,) = await node.call(id, event, *args)
    return answer


async def test_documented_contract(
    app: StartApp, clients: Callable[[str], Awaitable[NodeClient]], tmp_path: Path
) -> None:
    server = await app()  # the default store: a SQLite file in the working directory
    node = await clients(server.url)
    sids = await node.connect_all(["a", "b", "c"], transports=WEBSOCKET)
    a, b, c = sids["a"], sids["b"], sids["c"]
    assert (tmp_path / "roomcast-recovery.db").is_file()

    assert await ack(node, "a", "whoami") == {"id": a, "rooms": [a], "recovered": False}
    assert await ack(node, "a", "join", "room") == {"rooms": sorted([a, "room"])}
    assert await ack(node, "b", "join", "room") == {"rooms": sorted([b, "room"])}
    assert await ack(node, "c", "join", "other") == {"rooms": sorted([c, "other"])}
    assert await ack(node, "a", "whoami") == {
        "id": a,
        "rooms": sorted([a, "room"]),
        "recovered": False,
    }

    message = {"room": "room", "text": "hello"}
    published = await ack(node, "a", "publish", message)
    assert set(published) == {"offset"}
    offset = published["offset"]
    assert isinstance(offset, str)
    # the room gets ``message`` with the object, its offset last (the publisher is in it)
    for id in ("a", "b"):
        await node.wait(type="event", id=id, event="message")
        assert node.events(id, "message") == [[message, offset]]
    # c is not in the room: what it gets from the next publish proves it got nothing before
    other = await ack(node, "a", "publish", {"room": "other", "text": "for c"})
    await node.wait(type="event", id="c", event="message")
    assert node.events("c", "message") == [[{"room": "other", "text": "for c"}, other["offset"]]]
    assert other["offset"] != offset


@pytest.mark.parametrize("stop", ["kill -9", "SIGTERM"])
@pytest.mark.parametrize("kind", ["sqlite", pytest.param("redis", marks=needs_redis)])
async def test_kill_9_and_restart(
    redis_key: str,  # first: its keys go once the clients and servers are gone
    app: StartApp,
    clients: Callable[[str], Awaitable[NodeClient]],
    kind: str,
    stop: str,
) -> None:
    store = "sqlite:///recovery.db" if kind == "sqlite" else redis_store_url(redis_key)
    server = await app(store)
    node = await clients(server.url)
    # "live" stays connected through the kill; "away" was cut before it
    await node.connect("live", transports=WEBSOCKET, **RECONNECT)
    await node.connect("away", transports=WEBSOCKET, **RECONNECT)
    live, away = (await node.state("live"))["sid"], (await node.state("away"))["sid"]
    assert await ack(node, "live", "join", "room") == {"rooms": sorted([live, "room"])}
    assert await ack(node, "away", "join", "room") == {"rooms": sorted([away, "room"])}
    first = await ack(node, "live", "publish", {"room": "room", "text": "first"})
    await node.wait(type="event", id="away", event="message")

    await node.cut("away", pause=True)
    await node.wait(type="disconnect", id="away")
    missed = []
    for text in ("one", "two", "three"):
        missed.append(
            (await ack(node, "live", "publish", {"room": "room", "text": text}))["offset"]
        )
    await node.wait(type="event", id="live", event="message", count=4)

    if stop == "kill -9":
        await server.kill9()
    else:  # a clean stop: the clients are told, the sessions written, status 0
        assert await server.terminate() == 0
    assert (await node.wait(type="disconnect", id="live"))["reason"] == "transport close"
    await server.start()  # the same port, the same store

    # the client connected during the kill comes back by itself, recovered
    again = await node.wait(type="connect", id="live", count=2)
    assert again["sid"] == live
    assert again["recovered"] is True
    assert await ack(node, "live", "whoami") == {
        "id": live,
        "rooms": sorted([live, "room"]),
        "recovered": True,
    }

    # the one cut before the kill gets what was acked before it, in order, then connects
    await node.resume("away")
    back = await node.wait(type="connect", id="away", count=2)
    assert back["sid"] == away
    assert back["recovered"] is True
    texts = ["first", "one", "two", "three"]
    assert node.events("away", "message", before=back["seq"]) == [
        [{"room": "room", "text": text}, offset]
        for text, offset in zip(texts, [first["offset"], *missed], strict=True)
    ]
    assert await ack(node, "away", "whoami") == {
        "id": away,
        "rooms": sorted([away, "room"]),
        "recovered": True,
    }

    # and the room works as before on the new process
    after = await ack(node, "away", "publish", {"room": "room", "text": "after"})
    for id, count in (("away", 5), ("live", 5)):
        event = await node.wait(type="event", id=id, event="message", count=count)
        assert event["args"] == [{"room": "room", "text": "after"}, after["offset"]]
    assert len(node.events("live", "message")) == 5  # nothing replayed twice


async def test_sigterm_with_200_clients_all_come_back_recovered(
    app: StartApp, clients: Callable[[str], Awaitable[NodeClient]]
) -> None:
    server = await app("sqlite:///recovery.db")
    node = await clients(server.url)
    ids = [f"c{i}" for i in range(200)]
    sids = await node.connect_all(ids, transports=WEBSOCKET, **RECONNECT)
    for id in ids:
        await node.send("emit", id=id, event="join", args=["room"])
    for id in ids:  # every join is in before the cut
        assert await ack(node, id, "whoami") == {
            "id": sids[id],
            "rooms": sorted([sids[id], "room"]),
            "recovered": False,
        }
    away = ids[:10]  # cut before the stop: they must get what was published meanwhile
    for id in away:
        await node.cut(id, pause=True)
    for id in away:
        await node.wait(type="disconnect", id=id)
    published = await ack(node, ids[-1], "publish", {"room": "room", "text": "while away"})
    await node.wait(type="event", id=ids[-1], event="message")

    assert await server.terminate() == 0  # SIGTERM: told, sessions written
    for id in ids[10:]:
        drop = await node.wait(type="disconnect", id=id)
        assert drop["reason"] == "transport close"  # the client reconnects after this one
    await server.start()
    for id in away:
        await node.resume(id)
    for id in ids:
        again = await node.wait(type="connect", id=id, count=2)
        assert (again["sid"], again["recovered"]) == (sids[id], True), again
    for id in away:
        assert node.events(id, "message") == [
            [{"room": "room", "text": "while away"}, published["offset"]]
        ]
    after = await ack(node, ids[0], "publish", {"room": "room", "text": "after"})
    for id in ids:
        event = await node.wait(type="event", id=id, event="message", count=2)
        assert event["args"] == [{"room": "room", "text": "after"}, after["offset"]]
        assert len(node.events(id, "message")) == 2  # nothing lost, nothing twice
