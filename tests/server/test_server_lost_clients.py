"""Clients that go away or go quiet: a vanished TCP connection, missed PONGs, no CONNECT in
time. The server notices, reports the documented reason, and the other clients carry on.

Where a timeout is the behaviour under test it is configured small (a few tenths of a second,
scaled by ROOMCAST_TEST_TIMEOUT_FACTOR); nothing sleeps, every wait is on a message or event.
"""

from __future__ import annotations

from typing import Any

from server_wire import SIO_PATH, StartSio, seconds

import roomcast


async def test_client_that_vanishes_disconnects_with_transport_close(start_sio: StartSio) -> None:
    harness = await start_sio()
    bystander = await harness.bystander()
    raw = await harness.net.raw_websocket(
        "127.0.0.1", harness.listener.port, f"{SIO_PATH}?EIO=4&transport=websocket"
    )
    assert (await raw.recv_text()).startswith("0{")
    await raw.send_text("40")
    reply = await raw.recv_text()
    assert reply.startswith('40{"sid":'), reply
    sid = reply[len('40{"sid":"') : -len('"}')]
    assert sid in harness.log.connected

    raw.abort()  # no close frame, no Engine.IO CLOSE: the TCP connection just goes

    assert await harness.log.disconnect_reason(sid) == "transport close"
    await bystander.assert_echo()


async def test_websocket_client_that_stops_answering_pings_times_out(
    start_sio: StartSio,
) -> None:
    interval, timeout = seconds(0.2), seconds(0.2)
    harness = await start_sio(ping_interval=interval, ping_timeout=timeout)
    bystander = await harness.bystander()
    client = await harness.websocket()
    assert client.handshake["pingInterval"] == round(interval * 1000)
    assert client.handshake["pingTimeout"] == round(timeout * 1000)
    sid = await client.sio_connect()
    await client.wait_pings(2)  # answered: the heartbeat keeps it alive

    client.answer_pings = False

    assert await harness.log.disconnect_reason(sid) == "ping timeout"
    await client.expect_closed()
    # The bystander answered every PING of the same period and is still connected.
    assert bystander.ping_count >= 2
    await bystander.assert_echo()
    assert len(harness.log.disconnects) == 1


async def test_polling_client_that_stops_polling_times_out(start_sio: StartSio) -> None:
    harness = await start_sio(ping_interval=seconds(0.2), ping_timeout=seconds(0.2))
    bystander = await harness.bystander()
    client = await harness.polling()
    sid = await client.sio_connect()

    # The client never fetches the PING, so it never answers it.

    assert await harness.log.disconnect_reason(sid) == "ping timeout"
    await client.assert_closed()
    await bystander.assert_echo()


async def test_websocket_session_without_connect_is_closed_after_connect_timeout(
    start_sio: StartSio,
) -> None:
    harness = await start_sio(connect_timeout=seconds(0.3))
    bystander = await harness.bystander()  # connected to "/" in time: stays
    silent = await harness.websocket()

    received = await silent.expect_closed()

    assert received in ([], ["1"]), received
    assert harness.log.disconnects == {}
    await bystander.assert_echo()


async def test_polling_session_without_connect_is_closed_after_connect_timeout(
    start_sio: StartSio,
) -> None:
    harness = await start_sio(connect_timeout=seconds(0.3))
    bystander = await harness.bystander()
    silent = await harness.polling()

    # A real client always has a poll pending: that poll carries the CLOSE packet.
    assert await silent.get() == ["1"]

    await silent.assert_closed()
    await bystander.assert_echo()


async def test_server_disconnect_reaches_a_polling_client_between_polls(
    start_sio: StartSio,
) -> None:
    """``socket.disconnect(close=True)`` while no poll is pending: the next polls still get
    the DISCONNECT and then the CLOSE packet (as Node's socket.io delivers them), instead of
    a "Session ID unknown" that the client takes for a transport error (and reconnects)."""
    harness = await start_sio()

    async def bye(socket: roomcast.Socket, *_: Any) -> None:
        await socket.disconnect(close=True)

    harness.io.on("bye", bye)
    bystander = await harness.bystander()
    client = await harness.polling()
    sid = await client.sio_connect()

    await client.send('42["bye"]')
    assert await harness.log.disconnect_reason(sid) == "server namespace disconnect"

    packets: list[str] = []
    for _ in range(3):  # Node sends "41" on one poll and "6\x1e1" on the next
        packets += await client.get()
        if "1" in packets:
            break
    assert packets[0] == "41", packets
    assert packets[-1] == "1", packets
    await client.assert_closed()
    await bystander.assert_echo()


async def test_sending_to_a_socket_whose_connection_the_server_closed_is_a_no_op(
    start_sio: StartSio,
) -> None:
    harness = await start_sio()
    raw = await harness.net.raw_websocket(
        "127.0.0.1", harness.listener.port, f"{SIO_PATH}?EIO=4&transport=websocket"
    )
    assert (await raw.recv_text()).startswith("0{")
    await raw.send_text("40")
    reply = await raw.recv_text()
    sid = reply[len('40{"sid":"') : -len('"}')]
    socket = next(s for s in await harness.io.fetch_sockets() if s.id == sid)
    await socket.disconnect(close=True)
    # this client does not answer the CLOSE frame: the server's side stays half-closed
    closing = await raw.reader.readuntil(b"\x88")  # ... up to the CLOSE frame
    assert closing.endswith(b"\x88")
    await socket.emit("late", "dropped")  # nothing can be sent any more: dropped, no error
    assert await harness.log.disconnect_reason(sid) == "server namespace disconnect"
    bystander = await harness.bystander()
    await bystander.assert_echo()
