"""Which handlers an EVENT reaches, and the ack it gets, on the wire.

The server takes a short path for the common case (an EVENT on "/" for a socket with one
handler and no catch-all listener or packet middleware); these tests pin the behaviour of
both paths where they meet: several handlers, per-socket handlers, numeric event names,
async handlers, failing handlers, and an EVENT sent while attachments are expected.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from server_wire import WAIT, StartSio

import roomcast


async def test_namespace_then_socket_handlers_run_and_the_first_result_is_the_ack(
    start_sio: StartSio,
) -> None:
    harness = await start_sio()
    calls: list[str] = []

    @harness.io.on("greet")
    def shared(socket: roomcast.Socket, name: str) -> str:
        calls.append(f"namespace {name}")
        return f"hello {name}"

    @harness.io.on("connection")
    def on_connection(socket: roomcast.Socket) -> None:
        socket.on("greet", lambda name: calls.append(f"socket {name}") or "ignored")

    client = await harness.websocket()
    await client.sio_connect()
    await client.send('421["greet","ada"]')
    assert await client.recv_text() == '431["hello ada"]'
    assert calls == ["namespace ada", "socket ada"]


async def test_two_namespace_handlers_both_run(start_sio: StartSio) -> None:
    harness = await start_sio()
    calls: list[int] = []
    harness.io.on("count", lambda socket, n: calls.append(n) or n + 1)
    harness.io.on("count", lambda socket, n: calls.append(-n) or -1)

    client = await harness.websocket()
    await client.sio_connect()
    await client.send('427["count",5]')
    assert await client.recv_text() == "437[6]"
    assert calls == [5, -5]


async def test_a_socket_handler_for_another_event_keeps_the_namespace_handler_going(
    start_sio: StartSio,
) -> None:
    harness = await start_sio()
    seen: list[str] = []

    @harness.io.on("connection")
    def on_connection(socket: roomcast.Socket) -> None:
        socket.on("disconnect", lambda reason: seen.append(reason))

    client = await harness.websocket()
    await client.sio_connect()
    await client.assert_echo()  # ``echo`` has a namespace handler only


async def test_numeric_event_names_reach_the_handler_of_their_text(start_sio: StartSio) -> None:
    harness = await start_sio()
    names: list[Any] = []
    harness.io.on("7", lambda socket, value: f"seven got {value}")

    @harness.io.on("connection")
    def on_connection(socket: roomcast.Socket) -> None:
        socket.on_any(lambda event, *args: names.append(event))

    client = await harness.websocket()
    await client.sio_connect()
    await client.send('422[7,"x"]')
    assert await client.recv_text() == '432["seven got x"]'
    assert names == [7]  # catch-all listeners see the name as sent


async def test_an_async_handler_acks_once_it_is_done(start_sio: StartSio) -> None:
    harness = await start_sio()
    release = asyncio.Event()

    @harness.io.on("slow")
    async def slow(socket: roomcast.Socket, value: int) -> int:
        await release.wait()
        return value * 2

    client = await harness.websocket()
    await client.sio_connect()
    await client.send('423["slow",21]')
    await client.assert_echo()  # the connection goes on while the handler waits
    release.set()
    assert await client.recv_text() == "433[42]"


async def test_a_failing_handler_acks_with_an_error_and_the_connection_goes_on(
    start_sio: StartSio,
) -> None:
    harness = await start_sio()

    @harness.io.on("boom")
    def boom(socket: roomcast.Socket) -> None:
        raise RuntimeError("handler bug")

    client = await harness.websocket()
    await client.sio_connect()
    await client.send('424["boom"]')
    error = '{"code":"handler_error","message":"the handler failed","details":null}'
    assert await client.recv_text() == '434[{"_rc_error":' + error + "}]"
    await client.assert_echo()


async def test_an_event_without_ack_id_gets_no_ack(start_sio: StartSio) -> None:
    harness = await start_sio()
    got: asyncio.Queue[str] = asyncio.Queue()
    harness.io.on("note", lambda socket, text: got.put_nowait(text) or "not sent")

    client = await harness.websocket()
    await client.sio_connect()
    await client.send('42["note","first"]')
    assert await asyncio.wait_for(got.get(), WAIT) == "first"
    await client.assert_echo()  # the next frame is the echo's ack, not an ack of "note"


async def test_an_event_while_attachments_are_expected_is_a_parse_error(
    start_sio: StartSio,
) -> None:
    harness = await start_sio()
    client = await harness.websocket()
    sid = await client.sio_connect()
    await client.send('451-["echo",{"_placeholder":true,"num":0}]')
    await client.send('42["echo","x"]')  # text where the binary attachment belongs
    await client.expect_closed()
    assert await harness.log.disconnect_reason(sid) == "parse error"


async def test_catch_all_listeners_come_and_go(start_sio: StartSio) -> None:
    harness = await start_sio()
    seen: list[str] = []
    sockets: list[roomcast.Socket] = []

    def first(event: str, *args: Any) -> None:
        seen.append(f"first {event}")

    def second(event: str, *args: Any) -> None:
        seen.append(f"second {event}")

    @harness.io.on("connection")
    def on_connection(socket: roomcast.Socket) -> None:
        socket.on_any(first)
        socket.on_any(second)
        sockets.append(socket)

    client = await harness.websocket()
    await client.sio_connect()
    await client.assert_echo()
    assert seen == ["first echo", "second echo"]

    (socket,) = sockets
    socket.off_any(first)
    await client.assert_echo()
    assert seen[2:] == ["second echo"]

    with pytest.raises(ValueError, match="not a catch-all listener"):
        socket.off_any(first)  # no longer registered
    socket.off_any()
    await client.assert_echo()
    assert seen[3:] == []


async def test_outgoing_listeners_see_what_the_server_emits(start_sio: StartSio) -> None:
    harness = await start_sio()
    outgoing: list[tuple[str, ...]] = []

    @harness.io.on("connection")
    async def on_connection(socket: roomcast.Socket) -> None:
        socket.on_any_outgoing(lambda event, *args: outgoing.append((event, *args)))
        await socket.emit("hello", "there")

    client = await harness.websocket()
    await client.sio_connect()
    assert await client.recv_text() == '42["hello","there"]'
    assert outgoing == [("hello", "there")]


async def test_with_ack_answers_a_retried_event_is_answered_again_not_handled_again(
    start_sio: StartSio,
) -> None:
    harness = await start_sio(ack_answers=16)
    calls: list[str] = []
    release = asyncio.Event()

    @harness.io.on("pay")
    def pay(socket: roomcast.Socket, amount: int) -> str:
        calls.append(f"pay {amount}")
        return f"paid {amount}"

    @harness.io.on("slow")
    async def slow(socket: roomcast.Socket, n: int) -> int:
        calls.append(f"slow {n}")
        await release.wait()
        return n

    client = await harness.websocket()
    await client.sio_connect()
    await client.send('427["pay",5]')
    assert await client.recv_text() == '437["paid 5"]'
    await client.send('427["pay",5]')  # the same ack id: a retry
    assert await client.recv_text() == '437["paid 5"]'
    await client.send('428["slow",1]')
    await client.send('428["slow",1]')  # while the first is still being handled: no answer
    release.set()
    assert await client.recv_text() == "438[1]"
    await client.send('429["pay",6]')
    assert await client.recv_text() == '439["paid 6"]'
    assert calls == ["pay 5", "slow 1", "pay 6"]


async def test_without_ack_answers_every_event_is_handled(start_sio: StartSio) -> None:
    harness = await start_sio()
    calls: list[int] = []
    harness.io.on("pay", lambda socket, amount: calls.append(amount) or "ok")

    client = await harness.websocket()
    await client.sio_connect()
    for _ in range(2):
        await client.send('427["pay",5]')
        assert await client.recv_text() == '437["ok"]'
    assert calls == [5, 5]


async def test_acks_the_server_waits_for_settle_or_time_out(start_sio: StartSio) -> None:
    harness = await start_sio()
    outcomes: list[Any] = []
    both = asyncio.Event()
    sockets: list[roomcast.Socket] = []
    harness.io.on("connection", sockets.append)

    def record(*outcome: Any) -> None:
        outcomes.append(outcome)
        if len(outcomes) == 2:
            both.set()

    client = await harness.websocket()
    await client.sio_connect()
    (socket,) = sockets
    await socket.emit("ask", callback=record, timeout=WAIT)
    await socket.emit("lost", callback=record, timeout=0.05)
    assert await client.recv_text() == '420["ask"]'
    assert await client.recv_text() == '421["lost"]'
    waiting = asyncio.ensure_future(socket.emit_with_ack("later", timeout=0.1))
    assert await client.recv_text() == '422["later"]'
    with pytest.raises(roomcast.AckTimeout):
        await waiting
    await client.send('430["yes"]')
    await asyncio.wait_for(both.wait(), WAIT)
    (lost,), answered = outcomes
    assert isinstance(lost, roomcast.AckTimeout)
    assert answered == (None, "yes")
