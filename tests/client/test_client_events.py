"""roomcast's client against a roomcast server: connecting over each transport, events, acks
and binary both ways, catch-all handlers, namespaces over one connection, refusals, and a
clean shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

import roomcast

from .client_support import TRANSPORT_IDS, TRANSPORTS, WAIT, Recorder, seconds
from .conftest import RoomcastHost, client_tasks

MakeClient = Callable[..., roomcast.Client]


@pytest.mark.parametrize("transports", TRANSPORTS, ids=TRANSPORT_IDS)
async def test_connect_over_each_transport(
    host: RoomcastHost, make_client: MakeClient, transports: list[str]
) -> None:
    client = make_client(transports=transports)
    recorder = Recorder()
    recorder.watch(client)
    await client.connect(host.url)
    assert client.connected
    assert client.sid is not None
    seen = await host.peer.log.wait(type="connect", sid=client.sid)
    assert seen["nsp"] == "/"
    await recorder.wait(type="connect")
    if transports == ["polling", "websocket"]:
        assert seen["transport"] == "polling"
        await wait_for_transport(client, "websocket")
    else:
        assert seen["transport"] == transports[0]
        assert client.transport == transports[0]
    assert await client.emit_with_ack("echo", "after", timeout=WAIT) == "after"


async def wait_for_transport(client: roomcast.Client, transport: str) -> None:
    """The upgrade finishes in the background: wait on the round trips it allows."""
    async with asyncio.timeout(WAIT):
        while client.transport != transport:
            await client.emit_with_ack("echo", None)


@pytest.mark.parametrize("transports", TRANSPORTS, ids=TRANSPORT_IDS)
async def test_events_acks_and_binary_both_ways(
    host: RoomcastHost, make_client: MakeClient, transports: list[str]
) -> None:
    client = make_client(transports=transports)
    recorder = Recorder()
    recorder.watch(client)

    @client.on("add")
    def add(a: int, b: int) -> int:
        return a + b

    @client.on("slow-add")
    async def slow_add(a: int, b: int) -> tuple[int, bytes]:
        await asyncio.sleep(0)
        return a + b, b"sum"

    await client.connect(host.url)
    assert client.sid is not None
    server = await host.peer.socket(client.sid)

    # client -> server
    payload = {"text": "é", "blob": b"\x00\x01\xff", "list": [b"a", 1, None]}
    await client.emit("note", payload, b"raw")
    event = await host.peer.log.wait(type="event", event="note")
    assert event["args"] == [payload, b"raw"]
    assert await client.emit_with_ack("echo", 1, b"\x02", timeout=WAIT) == (1, b"\x02")
    assert await client.emit_with_ack("echo", timeout=WAIT) is None

    # server -> client
    await server.emit("news", {"n": 1}, b"\xfe")
    news = await recorder.wait(type="event", event="news")
    assert news["args"] == [{"n": 1}, b"\xfe"]
    assert await server.emit_with_ack("add", 2, 3, timeout=WAIT) == 5
    assert await server.emit_with_ack("slow-add", 2, 3, timeout=WAIT) == (5, b"sum")


async def test_server_event_without_a_handler_is_not_acked(
    host: RoomcastHost, make_client: MakeClient
) -> None:
    client = make_client(transports=["websocket"])
    await client.connect(host.url)
    assert client.sid is not None
    server = await host.peer.socket(client.sid)
    with pytest.raises(roomcast.AckTimeout):
        await server.emit_with_ack("nobody-listens", timeout=seconds(0.2))


async def test_catch_all_and_handler_order(host: RoomcastHost, make_client: MakeClient) -> None:
    client = make_client(transports=["websocket"])
    seen: list[tuple[str, Any]] = []
    client.on_any(lambda event, *args: seen.append(("any", event, *args)))
    client.on("ping-me", lambda *args: seen.append(("first", *args)))
    client.on("ping-me", lambda *args: seen.append(("second", *args)))
    done = asyncio.Event()
    client.on("done", lambda: done.set())
    await client.connect(host.url)
    assert client.sid is not None
    server = await host.peer.socket(client.sid)
    await server.emit("ping-me", 1)
    await server.emit("other", 2)
    await server.emit("done")
    await asyncio.wait_for(done.wait(), WAIT)
    assert seen == [
        ("any", "ping-me", 1),
        ("first", 1),
        ("second", 1),
        ("any", "other", 2),
        ("any", "done"),
    ]


async def test_namespaces_share_one_connection(host: RoomcastHost, make_client: MakeClient) -> None:
    client = make_client(transports=["websocket"])
    recorder = Recorder()
    recorder.watch(client)
    admin = client.socket("/admin")
    recorder.watch_socket(admin)
    await client.connect(host.url, namespaces=["/", "/admin"])
    assert admin.connected
    assert admin.sid is not None
    assert admin.sid != client.sid
    main_seen = await host.peer.log.wait(type="connect", nsp="/")
    admin_seen = await host.peer.log.wait(type="connect", nsp="/admin")
    assert main_seen["conn"] == admin_seen["conn"]  # one Engine.IO connection

    assert await admin.emit_with_ack("echo", "admin", timeout=WAIT) == "admin"
    assert await client.emit_with_ack("echo", "main", timeout=WAIT) == "main"
    admin_server = await host.peer.socket(admin.sid)
    await admin_server.emit("only-admin", 1)
    await recorder.wait(type="event", nsp="/admin", event="only-admin")
    assert recorder.log.find(type="event", nsp="/") == []

    # a namespace joined later rides the same connection; leaving one keeps the others
    private = client.socket("/private", auth={"token": "secret"})
    await private.connect()
    private_seen = await host.peer.log.wait(type="connect", nsp="/private")
    assert private_seen["conn"] == main_seen["conn"]
    await admin.disconnect()
    await host.peer.log.wait(type="disconnect", nsp="/admin", reason="client namespace disconnect")
    assert client.connected
    assert await client.emit_with_ack("echo", "still here", timeout=WAIT) == "still here"


async def test_auth_headers_and_query(host: RoomcastHost, make_client: MakeClient) -> None:
    client = make_client(transports=["polling"])
    await client.connect(
        host.url + "/?from=url",
        auth={"token": "abc"},
        headers={"X-Test": "yes"},
        query={"extra": "1"},
    )
    seen = await host.peer.log.wait(type="connect", sid=client.sid)
    assert seen["auth"] == {"token": "abc"}
    assert seen["header"] == "yes"
    assert seen["query"]["from"] == "url"
    assert seen["query"]["extra"] == "1"
    assert seen["query"]["EIO"] == "4"


async def test_url_path_is_the_namespace(host: RoomcastHost, make_client: MakeClient) -> None:
    client = make_client(transports=["websocket"])
    await client.connect(host.url + "/admin")
    seen = await host.peer.log.wait(type="connect")
    assert seen["nsp"] == "/admin"
    assert client.socket("/admin").connected
    assert not client.connected  # "/" was not asked for


async def test_namespace_refused_with_data(host: RoomcastHost, make_client: MakeClient) -> None:
    client = make_client(transports=["websocket"])
    recorder = Recorder()
    private = client.socket("/private")
    recorder.watch_socket(private)
    with pytest.raises(roomcast.ConnectionRefused) as refused:
        await client.connect(host.url, namespaces=["/private"], auth={"token": "wrong"})
    assert refused.value.message == "not authorized"
    assert refused.value.data == {"code": 401}
    error = await recorder.wait(type="connect_error")
    [exc] = error["args"]
    assert isinstance(exc, roomcast.ConnectionRefused)
    assert (exc.message, exc.data) == ("not authorized", {"code": 401})
    assert not private.connected
    await client.wait()  # nothing left to reconnect

    await client.connect(host.url, namespaces=["/private"], auth={"token": "secret"})
    assert private.connected


async def test_unknown_namespace(host: RoomcastHost, make_client: MakeClient) -> None:
    client = make_client(transports=["websocket"])
    with pytest.raises(roomcast.ConnectionRefused, match="Invalid namespace"):
        await client.connect(host.url + "/nowhere")


async def test_unreachable_server(make_client: MakeClient) -> None:
    client = make_client(reconnection_delay=0.01)
    recorder = Recorder()
    recorder.watch(client)
    with pytest.raises(ConnectionError):
        await client.connect("http://127.0.0.1:1")
    error = await recorder.wait(type="connect_error")
    assert isinstance(error["args"][0], ConnectionError)
    assert not client.connected
    assert recorder.log.find(type="reconnect_attempt") == []  # no retry unless asked


async def test_ack_timeout(host: RoomcastHost, make_client: MakeClient) -> None:
    client = make_client(transports=["websocket"], ack_timeout=seconds(0.1))
    await client.connect(host.url)
    with pytest.raises(roomcast.AckTimeout):
        await client.emit_with_ack("dedupe", {"id": "never", "drop": 1})
    # an explicit timeout wins over the default
    with pytest.raises(roomcast.AckTimeout):
        await client.emit_with_ack("dedupe", {"id": "never", "drop": 9}, timeout=seconds(0.05))
    assert await client.emit_with_ack("echo", "fine") == "fine"


async def test_reserved_and_invalid_event_names(make_client: MakeClient) -> None:
    client = make_client()
    with pytest.raises(ValueError, match="reserved"):
        await client.emit("disconnect")
    with pytest.raises(TypeError):
        await client.emit(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await client.emit("x", object())  # not JSON: refused at once, not at send time


async def test_server_disconnect_ends_the_client(
    host: RoomcastHost, make_client: MakeClient
) -> None:
    client = make_client(transports=["websocket"], reconnection_delay=0.01)
    recorder = Recorder()
    recorder.watch(client)
    await client.connect(host.url)
    assert client.sid is not None
    pending = asyncio.ensure_future(client.emit_with_ack("dedupe", {"id": "x", "drop": 1}))
    await host.peer.log.wait(type="processed", id="x")
    server = await host.peer.socket(client.sid)
    await server.disconnect()
    disconnect = await recorder.wait(type="disconnect")
    assert disconnect["args"] == ["io server disconnect"]
    with pytest.raises(roomcast.ConnectionClosed):
        await asyncio.wait_for(pending, WAIT)
    await asyncio.wait_for(client.wait(), WAIT)
    assert recorder.log.find(type="reconnect_attempt") == []
    assert client.transport is None
    assert client_tasks() == []


async def test_disconnect_is_clean(host: RoomcastHost, make_client: MakeClient) -> None:
    client = make_client(transports=["polling", "websocket"])
    recorder = Recorder()
    recorder.watch(client)
    started = asyncio.Event()

    @client.on("work")
    async def work() -> None:
        started.set()
        await asyncio.Event().wait()  # runs until the client ends it

    await client.connect(host.url)
    assert client.sid is not None
    server = await host.peer.socket(client.sid)
    await server.emit("work")
    await asyncio.wait_for(started.wait(), WAIT)
    pending = asyncio.ensure_future(client.emit_with_ack("dedupe", {"id": "y", "drop": 1}))
    await host.peer.log.wait(type="processed", id="y")
    await client.disconnect()
    assert recorder.types() == ["connect", "event", "disconnect"]
    assert recorder.log.records[-1]["args"] == ["io client disconnect"]
    with pytest.raises(roomcast.ConnectionClosed):
        await pending
    assert client_tasks() == []
    names = [getattr(t.get_coro(), "__qualname__", "") for t in asyncio.all_tasks()]
    assert work.__qualname__ not in names
    await host.peer.log.wait(type="disconnect", reason="client namespace disconnect")
    await client.disconnect()  # twice is fine
    await client.wait()


async def test_connect_twice_is_refused(host: RoomcastHost, make_client: MakeClient) -> None:
    client = make_client(transports=["websocket"])
    await client.connect(host.url)
    with pytest.raises(roomcast.InvalidState):
        await client.connect(host.url)
    assert client.connected


async def test_async_context_manager(host: RoomcastHost) -> None:
    async with roomcast.Client(transports=["websocket"]) as client:
        await client.connect(host.url)
        assert client.connected
    assert not client.connected
    assert client_tasks() == []


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="transports"):
        roomcast.Client(transports=["carrier-pigeon"])
    with pytest.raises(ValueError, match="transports"):
        roomcast.Client(transports=[])
    with pytest.raises(ValueError, match="randomization_factor"):
        roomcast.Client(randomization_factor=2.0)


async def test_url_is_checked(make_client: MakeClient) -> None:
    client = make_client()
    with pytest.raises(ValueError, match="URL"):
        await client.connect("ftp://127.0.0.1")


async def test_namespace_connect_times_out_and_a_late_answer_is_declined(
    host: RoomcastHost, make_client: MakeClient
) -> None:
    client = make_client(transports=["websocket"], timeout=seconds(0.2))
    await client.connect(host.url)
    slow = client.socket("/slow")
    with pytest.raises(TimeoutError):
        await slow.connect()
    assert not slow.active
    host.peer.release()  # the server accepts now: the client leaves at once
    await host.peer.log.wait(type="disconnect", nsp="/slow", reason="client namespace disconnect")
    assert not slow.connected
    assert client.connected


async def test_auth_must_be_a_mapping(host: RoomcastHost, make_client: MakeClient) -> None:
    client = make_client(transports=["websocket"])
    with pytest.raises(roomcast.ConnectionRefused, match="auth failed"):
        await client.connect(host.url, auth=lambda: ["not", "a", "dict"])  # type: ignore[arg-type,return-value]


async def test_namespace_connect_needs_a_connected_client(make_client: MakeClient) -> None:
    client = make_client()
    with pytest.raises(roomcast.InvalidState):
        await client.socket("/admin").connect()
