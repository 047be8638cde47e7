"""Bad input (point 9 of the server issue): a misbehaving client loses its own connection,
gets the documented error, and every other client on the server carries on.

Each test connects a well-behaved ``bystander`` first and checks, after the bad input, that
it still gets its ``echo`` acked.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import aiohttp
import pytest
from server_wire import (
    SIO_PATH,
    WAIT,
    Message,
    StartSio,
    error_body,
    polling_params,
    request,
)

# -- malformed Engine.IO packets ----------------------------------------------------------

MALFORMED_ENGINEIO = {"unknown-type-9": "9", "empty": "", "garbage": "garbage"}


@pytest.mark.parametrize("packet", MALFORMED_ENGINEIO.values(), ids=MALFORMED_ENGINEIO.keys())
async def test_malformed_engineio_packet_over_websocket_closes_that_connection(
    start_sio: StartSio, packet: str
) -> None:
    harness = await start_sio()
    bystander = await harness.bystander()
    client = await harness.websocket()
    sid = await client.sio_connect()

    await client.send(packet)

    await client.expect_closed()
    assert await harness.log.disconnect_reason(sid) == "parse error"
    await bystander.assert_echo()


MALFORMED_PAYLOADS = {
    "unknown-type-9": "9",
    "empty": "",
    "garbage": "garbage",
    "bad-second-packet": '42["echo","x"]\x1e9',
    "bad-base64": "b!!not base64!!",
}


@pytest.mark.parametrize("body", MALFORMED_PAYLOADS.values(), ids=MALFORMED_PAYLOADS.keys())
async def test_malformed_engineio_payload_over_polling_closes_that_session(
    start_sio: StartSio, body: str
) -> None:
    harness = await start_sio()
    bystander = await harness.bystander()
    client = await harness.polling()
    sid = await client.sio_connect()

    status, answer = await client.post(body)

    # The Engine.IO test suite accepts a 400 here (or a dropped request); never "ok".
    assert (status, answer) != (200, "ok")
    assert await harness.log.disconnect_reason(sid) == "parse error"
    await client.assert_closed()
    await bystander.assert_echo()


# -- malformed Socket.IO packets -----------------------------------------------------------

MALFORMED_SOCKETIO: dict[str, Message] = {
    "unknown-type": "4abc",
    "event-not-an-array": "42{}",
    "junk-before-json": '42abc["echo","x"]',
    "invalid-json": '42["echo",',
    "attachment-without-header": b"\x01\x02\x03",
}
#: Node's socket.io reports "forced close" here (Client.onerror closes the connection);
#: roomcast's API sketch documents "parse error". Either tells the truth.
SOCKETIO_PARSE_REASONS = {"parse error", "forced close"}


@pytest.mark.parametrize("packet", MALFORMED_SOCKETIO.values(), ids=MALFORMED_SOCKETIO.keys())
async def test_malformed_socketio_packet_over_websocket_closes_that_connection(
    start_sio: StartSio, packet: Message
) -> None:
    harness = await start_sio()
    bystander = await harness.bystander()
    client = await harness.websocket()
    sid = await client.sio_connect()

    await client.send(packet)

    received = await client.expect_closed()
    assert all(isinstance(m, str) and m in ("1", "6") for m in received), received
    assert await harness.log.disconnect_reason(sid) in SOCKETIO_PARSE_REASONS
    await bystander.assert_echo()


@pytest.mark.parametrize(
    "packet",
    ["4abc", "42{}", '42abc["echo","x"]', '42["echo",', "bAQID"],
    ids=list(MALFORMED_SOCKETIO.keys()),
)
async def test_malformed_socketio_packet_over_polling_closes_that_session(
    start_sio: StartSio, packet: str
) -> None:
    harness = await start_sio()
    bystander = await harness.bystander()
    client = await harness.polling()
    sid = await client.sio_connect()

    await client.post(packet)

    assert await harness.log.disconnect_reason(sid) in SOCKETIO_PARSE_REASONS
    status, body = await client.get_raw()
    if status == 200:  # the CLOSE packet, if the server still delivers it
        assert body.split("\x1e")[-1] == "1", body
        await client.assert_closed()
    else:
        assert json.loads(body) == error_body(1, "Session ID unknown")
    await bystander.assert_echo()


# -- namespaces -----------------------------------------------------------------------------


async def test_unknown_namespace_gets_invalid_namespace_and_keeps_the_connection(
    start_sio: StartSio,
) -> None:
    harness = await start_sio()
    bystander = await harness.bystander()
    client = await harness.websocket()
    await client.sio_connect()

    await client.send("40/nowhere,")

    assert await client.recv_text() == '44/nowhere,{"message":"Invalid namespace"}'
    await client.assert_echo()  # the connection and its "/" socket are untouched
    await bystander.assert_echo()


async def test_unknown_namespace_as_first_connect_gets_invalid_namespace(
    start_sio: StartSio,
) -> None:
    harness = await start_sio()
    bystander = await harness.bystander()
    client = await harness.websocket()

    await client.send('40/nowhere,{"token":"x"}')

    assert await client.recv_text() == '44/nowhere,{"message":"Invalid namespace"}'
    await client.sio_connect()
    await client.assert_echo()
    await bystander.assert_echo()


# -- payload limits -------------------------------------------------------------------------


async def test_oversize_websocket_message_closes_that_connection(start_sio: StartSio) -> None:
    harness = await start_sio(max_http_buffer_size=1000)
    bystander = await harness.bystander()
    client = await harness.websocket()
    assert client.handshake["maxPayload"] == 1000
    sid = await client.sio_connect()
    await client.send('42["echo","' + "a" * 900 + '"]')  # under the limit: fine

    await client.send('42["echo","' + "x" * 5000 + '"]')

    await client.expect_closed()
    assert await harness.log.disconnect_reason(sid) == "transport error"
    await bystander.assert_echo()


async def test_oversize_polling_post_gets_413_and_closes_the_session(start_sio: StartSio) -> None:
    harness = await start_sio(max_http_buffer_size=1000)
    bystander = await harness.bystander()
    client = await harness.polling()
    assert client.handshake["maxPayload"] == 1000
    sid = await client.sio_connect()

    status, _ = await client.post('42["echo","' + "x" * 5000 + '"]')

    assert status == 413
    assert await harness.log.disconnect_reason(sid) == "transport error"
    await client.assert_closed()
    await bystander.assert_echo()


# -- handshake and session errors --------------------------------------------------------------

HANDSHAKE_ERRORS = {
    "unknown-sid-get": ("GET", {**polling_params("nope")}, 1, "Session ID unknown"),
    "unknown-sid-post": ("POST", {**polling_params("nope")}, 1, "Session ID unknown"),
    "eio3": ("GET", {"EIO": "3", "transport": "polling"}, 5, "Unsupported protocol version"),
    "no-eio": ("GET", {"transport": "polling"}, 5, "Unsupported protocol version"),
    "unknown-transport": (
        "GET",
        {"EIO": "4", "transport": "carrier-pigeon"},
        0,
        "Transport unknown",
    ),
    "no-transport": ("GET", {"EIO": "4"}, 0, "Transport unknown"),
    "post-handshake": ("POST", polling_params(), 2, "Bad handshake method"),
}


@pytest.mark.parametrize(
    ("method", "params", "code", "message"),
    HANDSHAKE_ERRORS.values(),
    ids=HANDSHAKE_ERRORS.keys(),
)
async def test_http_handshake_errors(
    start_sio: StartSio, method: str, params: dict[str, str], code: int, message: str
) -> None:
    harness = await start_sio()
    bystander = await harness.bystander()

    status, body = await request(
        harness.net.http, method, harness.url + SIO_PATH, params=params, data=b"40"
    )

    assert status == 400
    assert json.loads(body) == error_body(code, message)
    await bystander.assert_echo()


WEBSOCKET_HANDSHAKE_ERRORS = {
    "unknown-sid": {"EIO": "4", "transport": "websocket", "sid": "nope"},
    "eio3": {"EIO": "3", "transport": "websocket"},
    "unknown-transport": {"EIO": "4", "transport": "carrier-pigeon"},
}


@pytest.mark.parametrize(
    "params", WEBSOCKET_HANDSHAKE_ERRORS.values(), ids=WEBSOCKET_HANDSHAKE_ERRORS.keys()
)
async def test_websocket_handshake_errors_are_refused(
    start_sio: StartSio, params: dict[str, str]
) -> None:
    harness = await start_sio()
    bystander = await harness.bystander()

    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await asyncio.wait_for(
            harness.net.http.ws_connect(harness.url + SIO_PATH, params=params), WAIT
        )

    assert refused.value.status == 400
    await bystander.assert_echo()


async def test_two_concurrent_polls_close_the_session(start_sio: StartSio) -> None:
    harness = await start_sio()
    bystander = await harness.bystander()
    client = await harness.polling()
    sid = await client.sio_connect()

    # Nothing is queued, so whichever GET the server sees first waits; the other overlaps.
    results = await asyncio.gather(client.get_raw(), client.get_raw())

    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 400], results
    assert await harness.log.disconnect_reason(sid) == "transport error"
    await client.assert_closed()
    await bystander.assert_echo()


async def test_second_websocket_for_an_upgraded_session_is_refused(
    start_sio: StartSio,
) -> None:
    harness = await start_sio()
    bystander = await harness.bystander()
    http = harness.net.http
    client = await harness.polling()
    sid = await client.sio_connect()
    ws_params = {"EIO": "4", "transport": "websocket", "sid": client.sid}

    # Upgrade as the official client does: a poll is pending while the probe runs.
    pending_poll = asyncio.create_task(client.get())
    upgraded = await asyncio.wait_for(
        http.ws_connect(harness.url + SIO_PATH, params=ws_params), WAIT
    )
    try:
        await upgraded.send_str("2probe")
        assert (await asyncio.wait_for(upgraded.receive(), WAIT)).data == "3probe"
        assert await pending_poll == ["6"]
        await upgraded.send_str("5")
        await upgraded.send_str('429["echo","upgraded"]')
        assert (await asyncio.wait_for(upgraded.receive(), WAIT)).data == '439["upgraded"]'

        # A second WebSocket on the same sid: refused at the handshake, or closed unanswered.
        refused_with: int | None = None
        try:
            second = await asyncio.wait_for(
                http.ws_connect(harness.url + SIO_PATH, params=ws_params), WAIT
            )
        except aiohttp.WSServerHandshakeError as refused:
            refused_with = refused.status
        else:
            async with second:
                # the server may close it before this probe is written: also a refusal
                with contextlib.suppress(aiohttp.ClientConnectionResetError):
                    await second.send_str("2probe")
                msg = await asyncio.wait_for(second.receive(), WAIT)
                assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), msg
        assert refused_with in (None, 400)

        # Polling on the upgraded sid is refused too.
        status, _ = await client.get_raw()
        assert status == 400

        # The upgraded connection itself is unharmed.
        await upgraded.send_str('4210["echo","still here"]')
        assert (await asyncio.wait_for(upgraded.receive(), WAIT)).data == '4310["still here"]'
        assert sid not in harness.log.disconnects
    finally:
        await upgraded.close()
    await bystander.assert_echo()
