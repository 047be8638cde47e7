"""roomcast's client against a roomcast server that goes away and comes back: reconnection
with backoff and its events, auth evaluated again, the offline buffer, retries."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Callable
from typing import Any

import pytest

import roomcast

from .client_support import (
    TRANSPORT_IDS,
    TRANSPORTS,
    WAIT,
    Recorder,
    check_backoff,
    reconnection_types,
    seconds,
)
from .conftest import RoomcastHost, client_tasks

MakeClient = Callable[..., roomcast.Client]
DELAY = 0.1
DELAY_MAX = 0.4
BACKOFF: dict[str, Any] = {
    "reconnection_delay": DELAY,
    "reconnection_delay_max": DELAY_MAX,
    "randomization_factor": 0.0,
}


async def disconnected(recorder: Recorder, count: int = 1) -> float:
    """Wait for the ``count``-th disconnect; its time."""
    record = await recorder.wait(type="disconnect", count=count)
    return float(record["time"])


@pytest.mark.parametrize("transports", TRANSPORTS, ids=TRANSPORT_IDS)
async def test_reconnects_after_the_server_comes_back(
    host: RoomcastHost, make_client: MakeClient, transports: list[str]
) -> None:
    client = make_client(transports=transports, **BACKOFF)
    recorder = Recorder()
    recorder.watch(client)
    await client.connect(host.url)
    first_sid = client.sid

    await host.stop()
    dropped_at = await disconnected(recorder)
    assert recorder.log.find(type="disconnect")[0]["args"] == ["transport close"]
    assert not client.connected
    await recorder.wait(type="reconnect_error", count=4)  # the server is away for a while
    await host.start()
    await recorder.wait(type="connect", count=2)
    assert client.connected
    assert client.sid != first_sid
    assert not client.recovered  # roomcast offers no recovery: a new session

    attempts = len(recorder.log.find(type="reconnect_attempt"))
    assert reconnection_types(recorder) == [
        "connect",
        "disconnect",
        *["reconnect_attempt", "connect_error", "reconnect_error"] * (attempts - 1),
        "reconnect_attempt",
        "reconnect",
        "connect",
    ]
    assert recorder.log.find(type="reconnect")[0]["args"] == [attempts]
    check_backoff(recorder, dropped_at, DELAY, DELAY_MAX, attempts=4)
    assert await client.emit_with_ack("echo", "back", timeout=WAIT) == "back"


async def test_auth_function_is_called_at_each_connection(
    host: RoomcastHost, make_client: MakeClient
) -> None:
    client = make_client(transports=["websocket"], **BACKOFF)
    recorder = Recorder()
    recorder.watch(client)
    counter = itertools.count(1)

    async def auth() -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"token": f"t{next(counter)}"}

    admin = client.socket("/admin", auth=lambda: {"sync": next(counter)})
    await client.connect(host.url, namespaces=["/"], auth=auth)
    await admin.connect()
    await host.restart()
    await recorder.wait(type="connect", count=2)
    await host.peer.log.wait(type="connect", count=4)
    # evaluated again at reconnection, one namespace after the other
    assert [r["auth"] for r in host.peer.log.find(type="connect", nsp="/")] == [
        {"token": "t1"},
        {"token": "t3"},
    ]
    assert [r["auth"] for r in host.peer.log.find(type="connect", nsp="/admin")] == [
        {"sync": 2},
        {"sync": 4},
    ]


async def test_failing_auth_function_refuses_that_namespace(
    host: RoomcastHost, make_client: MakeClient
) -> None:
    client = make_client(transports=["websocket"])

    def broken() -> dict[str, Any]:
        raise RuntimeError("no token today")

    with pytest.raises(roomcast.ConnectionRefused, match="no token today"):
        await client.connect(host.url, auth=broken)


async def test_offline_emits_are_delivered_in_order(
    host: RoomcastHost, make_client: MakeClient
) -> None:
    client = make_client(transports=["websocket"], **BACKOFF)
    recorder = Recorder()
    recorder.watch(client)
    await client.connect(host.url)
    await host.stop()
    await disconnected(recorder)

    for n in range(5):
        await client.emit("offline", n, b"\x00" * n)
    await client.emit("offline", "volatile", volatile=True)  # dropped, not buffered
    answer = asyncio.ensure_future(client.emit_with_ack("echo", "buffered", timeout=WAIT))
    await host.start()
    assert await answer == "buffered"  # sent after the others: they all arrived before it
    events = [r["args"] for r in host.peer.log.find(type="event", event="offline")]
    assert events == [[n, b"\x00" * n] for n in range(5)]


async def test_buffer_before_the_first_connection_and_its_bound(
    host: RoomcastHost, make_client: MakeClient
) -> None:
    client = make_client(transports=["websocket"], buffer_size=2)
    await client.emit("early", 1)
    await client.emit("early", 2)
    with pytest.raises(roomcast.InvalidState, match="full"):
        await client.emit("early", 3)
    await client.emit("early", 4, volatile=True)  # not buffered: no error either
    await client.connect(host.url)
    assert await client.emit_with_ack("echo", "then") == "then"
    assert [r["args"] for r in host.peer.log.find(type="event", event="early")] == [[1], [2]]


async def test_buffered_emit_with_ack_times_out_and_leaves_the_buffer(
    host: RoomcastHost, make_client: MakeClient
) -> None:
    client = make_client(transports=["websocket"])
    with pytest.raises(roomcast.AckTimeout):
        await client.emit_with_ack("late", timeout=seconds(0.05))
    await client.connect(host.url)
    assert await client.emit_with_ack("echo", "then") == "then"
    assert host.peer.log.find(type="event", event="late") == []


async def test_reconnection_gives_up(host: RoomcastHost, make_client: MakeClient) -> None:
    client = make_client(transports=["websocket"], reconnection_attempts=2, **BACKOFF)
    recorder = Recorder()
    recorder.watch(client)
    await client.connect(host.url)
    pending = asyncio.ensure_future(client.emit_with_ack("dedupe", {"id": "gone", "drop": 1}))
    await host.peer.log.wait(type="processed", id="gone")
    await host.stop()
    with pytest.raises(roomcast.ConnectionClosed):
        await asyncio.wait_for(pending, WAIT)  # sent, then the connection went
    await asyncio.wait_for(client.wait(), WAIT)
    assert reconnection_types(recorder) == [
        "connect",
        "disconnect",
        *["reconnect_attempt", "connect_error", "reconnect_error"] * 2,
        "reconnect_failed",
    ]
    assert [r["args"] for r in recorder.log.find(type="reconnect_attempt")] == [[1], [2]]
    assert client_tasks() == []


async def test_no_reconnection_when_disabled(host: RoomcastHost, make_client: MakeClient) -> None:
    client = make_client(transports=["polling"], reconnection=False)
    recorder = Recorder()
    recorder.watch(client)
    await client.connect(host.url)
    await host.stop()
    await asyncio.wait_for(client.wait(), WAIT)
    assert reconnection_types(recorder) == ["connect", "disconnect"]


async def test_first_connection_with_retry(host: RoomcastHost, make_client: MakeClient) -> None:
    await host.stop()
    client = make_client(transports=["websocket"], **BACKOFF)
    recorder = Recorder()
    recorder.watch(client)
    connecting = asyncio.ensure_future(client.connect(host.url, retry=True))
    await recorder.wait(type="reconnect_error", count=2)
    await host.start()
    await asyncio.wait_for(connecting, WAIT)
    assert client.connected
    assert reconnection_types(recorder)[:2] == ["connect_error", "reconnect_attempt"]
    assert reconnection_types(recorder)[-2:] == ["reconnect", "connect"]


async def test_parse_error_reconnects(host: RoomcastHost, make_client: MakeClient) -> None:
    client = make_client(transports=["websocket"], **BACKOFF)
    recorder = Recorder()
    recorder.watch(client)
    await client.connect(host.url)
    assert client.sid is not None
    server = await host.peer.socket(client.sid)
    server.conn.send("9 is no Socket.IO packet type")
    assert (await recorder.wait(type="disconnect"))["args"] == ["parse error"]
    await recorder.wait(type="connect", count=2)


# -- retries ---------------------------------------------------------------------------------


def ack_ids(host: RoomcastHost, msg_id: str) -> list[int]:
    """The ack id of each delivery of the dedupe message ``msg_id``, from the wire."""
    found = []
    for record in host.peer.log.find(type="raw"):
        if f'"id":"{msg_id}"' in record["data"]:
            match = re.match(r"2(?:/[^,]*,)?(\d+)\[", record["data"])
            assert match is not None, record
            found.append(int(match.group(1)))
    return found


async def test_retries_are_acked_exactly_once(host: RoomcastHost, make_client: MakeClient) -> None:
    client = make_client(transports=["websocket"], retries=3, ack_timeout=seconds(0.2))
    await client.connect(host.url)
    # the first delivery's ack is lost: the same packet goes again, and is acked
    assert await client.emit_with_ack("dedupe", {"id": "a", "drop": 1}) == "ok:a"
    # a plain emit is retried too; emits go one at a time, so "echo" is acked after it
    await client.emit("dedupe", {"id": "b", "drop": 2})
    assert await client.emit_with_ack("echo", "after b") == "after b"
    assert [r["id"] for r in host.peer.log.find(type="processed")] == ["a", "b"]
    assert len(ack_ids(host, "a")) == 2
    assert len(set(ack_ids(host, "a"))) == 1  # the same id each time: servers can de-duplicate
    assert len(ack_ids(host, "b")) == 3
    assert len(set(ack_ids(host, "b"))) == 1
    host.peer.release()  # the held acks of the first deliveries arrive late: ignored
    assert await client.emit_with_ack("echo", "done") == "done"


async def test_retries_give_up(host: RoomcastHost, make_client: MakeClient) -> None:
    client = make_client(transports=["websocket"], retries=1, ack_timeout=seconds(0.1))
    await client.connect(host.url)
    with pytest.raises(roomcast.AckTimeout):
        await client.emit_with_ack("dedupe", {"id": "c", "drop": 5})
    assert len(ack_ids(host, "c")) == 2
    assert await client.emit_with_ack("echo", "next") == "next"  # the queue moved on


async def test_retries_survive_a_reconnection(host: RoomcastHost, make_client: MakeClient) -> None:
    client = make_client(transports=["websocket"], retries=2, ack_timeout=WAIT, **BACKOFF)
    recorder = Recorder()
    recorder.watch(client)
    await client.connect(host.url)
    answer = asyncio.ensure_future(client.emit_with_ack("dedupe", {"id": "d", "drop": 1}))
    await host.peer.log.wait(type="processed", id="d")
    await host.stop()  # the ack is lost with the connection
    await disconnected(recorder)
    await client.emit("dedupe", {"id": "e"})  # queued behind "d"
    await host.start()
    assert await asyncio.wait_for(answer, WAIT) == "ok:d"
    await host.peer.log.wait(type="processed", id="e")
    ids = ack_ids(host, "d")
    assert len(ids) == 2
    assert len(set(ids)) == 1


async def test_disconnect_while_reconnecting(host: RoomcastHost, make_client: MakeClient) -> None:
    client = make_client(transports=["websocket"], reconnection_delay=seconds(5.0))
    recorder = Recorder()
    recorder.watch(client)
    await client.connect(host.url)
    await host.stop()
    await disconnected(recorder)
    await client.emit("never-sent", 1)
    await client.disconnect()  # during the 5 s wait: no attempt, nothing left running
    await asyncio.wait_for(client.wait(), WAIT)
    assert reconnection_types(recorder) == ["connect", "disconnect"]
    assert client_tasks() == []
    await host.start()
    await client.connect(host.url)  # the buffer went with disconnect()
    assert await client.emit_with_ack("echo", "fresh") == "fresh"
    assert host.peer.log.find(type="event", event="never-sent") == []


async def test_disconnect_from_a_handler(host: RoomcastHost, make_client: MakeClient) -> None:
    client = make_client(transports=["polling", "websocket"])
    left = asyncio.Event()

    @client.on("bye")
    async def bye() -> None:
        await client.disconnect()
        left.set()

    await client.connect(host.url)
    assert client.sid is not None
    server = await host.peer.socket(client.sid)
    await server.emit("bye")
    await asyncio.wait_for(left.wait(), WAIT)
    await asyncio.wait_for(client.wait(), WAIT)
    await host.peer.log.wait(type="disconnect", reason="client namespace disconnect")
    assert not client.connected
