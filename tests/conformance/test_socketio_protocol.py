"""Socket.IO v5 conformance of ``examples/socketio_conformance.py`` (``/socket.io/``).

Checks every behaviour of the published Socket.IO protocol test suite
(socketio/socket.io-protocol, ``test-suite/``, ``EIO=4``), written anew against
raw HTTP and WebSocket traffic: first the Engine.IO layer under ``/socket.io/``,
then namespaces, events, acknowledgements, binary attachments and malformed
packets. Also what the protocol README implies: no packet before CONNECT, a
malformed packet closes only its own connection, and the same exchanges over
HTTP long-polling.

The example server: namespaces ``/`` and ``/custom`` emit ``auth`` with the
CONNECT payload (``{}`` if none) right after the CONNECT reply; on ``/``,
``message`` is answered with ``message-back`` and the same arguments, and
``message-with-ack`` is acknowledged with its own arguments (binary included).
Heartbeat: pingInterval 300 ms, pingTimeout 200 ms, maxPayload 1000000.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import quote

import pytest
from conformance_wire import (
    MARGIN,
    PING_INTERVAL,
    PING_TIMEOUT,
    SEPARATOR,
    Frame,
    Wire,
    WsPeer,
    check_error,
    check_handshake,
)

UNKNOWN_TRANSPORT = 0
UNKNOWN_SID = 1
BAD_HANDSHAKE_METHOD = 2
BAD_REQUEST = 3
UNSUPPORTED_PROTOCOL_VERSION = 5

PLACEHOLDERS = '{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}'


def check_connected(frame: Frame, prefix: str) -> str:
    """Check a CONNECT reply (``prefix`` + ``{"sid": ...}``); return the sid."""
    assert isinstance(frame, str), frame
    assert frame.startswith(prefix), frame
    handshake = json.loads(frame[len(prefix) :])
    assert isinstance(handshake, dict), frame
    assert set(handshake) == {"sid"}, frame
    assert isinstance(handshake["sid"], str), frame
    assert handshake["sid"], frame
    return handshake["sid"]


async def connect(sio: Wire) -> WsPeer:
    """A WebSocket-only session connected to the main namespace."""
    peer, _info = await sio.open_websocket()
    await peer.send("40")
    check_connected(await peer.recv_non_ping(), "40")
    assert await peer.recv_non_ping() == '42["auth",{}]'
    return peer


async def recv_after_noops(peer: WsPeer) -> Frame:
    """The next frame that is neither a ping nor a noop.

    Only for the frames that follow an upgrade: the Socket.IO suite does not look
    at them, and test_engineio_protocol checks that no noop leaks there.
    """
    while (frame := await peer.recv_non_ping()) == "6":
        pass
    return frame


async def upgraded(sio: Wire) -> tuple[str, WsPeer]:
    """A polling session upgraded to WebSocket and connected to ``/`` over it."""
    sid = await sio.open_polling()
    peer = await sio.upgrade_ws(sid)
    await peer.send("2probe")
    assert await peer.recv() == "3probe"
    await peer.send("5")
    # The CONNECT reply proves the server has handled the upgrade packet before it.
    await peer.send("40")
    check_connected(await recv_after_noops(peer), "40")
    assert await peer.recv_non_ping() == '42["auth",{}]'
    return sid, peer


# Engine.IO under /socket.io/: handshake


async def test_polling_handshake_opens_a_session(sio: Wire) -> None:
    reply = await sio.get(sio.url("EIO=4&transport=polling"))

    assert reply.status == 200
    assert SEPARATOR not in reply.text
    check_handshake(reply.text, upgrades=["websocket"])


@pytest.mark.parametrize("query", ["transport=polling", "EIO=abc&transport=polling"])
async def test_polling_handshake_fails_with_an_invalid_eio(sio: Wire, query: str) -> None:
    reply = await sio.get(sio.url(query))

    check_error(reply, BAD_REQUEST, UNSUPPORTED_PROTOCOL_VERSION)


async def test_polling_handshake_fails_with_engineio_v3(sio: Wire) -> None:
    reply = await sio.get(sio.url("EIO=3&transport=polling"))

    check_error(reply, UNSUPPORTED_PROTOCOL_VERSION)


@pytest.mark.parametrize("query", ["EIO=4", "EIO=4&transport=abc"])
async def test_polling_handshake_fails_with_an_invalid_transport(sio: Wire, query: str) -> None:
    reply = await sio.get(sio.url(query))

    check_error(reply, UNKNOWN_TRANSPORT)


@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_handshake_fails_with_an_invalid_method(sio: Wire, method: str) -> None:
    reply = await sio.request(method, sio.url("EIO=4&transport=polling"), "")

    check_error(reply, BAD_HANDSHAKE_METHOD)


async def test_polling_with_an_unknown_sid_fails(sio: Wire) -> None:
    reply = await sio.poll("no-such-session")

    check_error(reply, UNKNOWN_SID)


async def test_websocket_handshake_opens_a_session(sio: Wire) -> None:
    peer, _info = await sio.open_websocket()  # checks the open packet

    await peer.aclose()


@pytest.mark.parametrize(
    "query",
    [
        "transport=websocket",
        "EIO=abc&transport=websocket",
        "EIO=4",
        "EIO=4&transport=abc",
    ],
)
async def test_websocket_handshake_fails_with_an_invalid_query(sio: Wire, query: str) -> None:
    await sio.check_ws_refused(query)


# Engine.IO under /socket.io/: heartbeat


async def test_polling_sends_pings_and_accepts_pongs(sio: Wire) -> None:
    sid = await sio.open_polling()

    for _ in range(3):
        polled = await sio.poll(sid)
        assert polled.status == 200
        assert polled.text == "2"

        pushed = await sio.push(sid, "3")
        assert pushed.status == 200
        assert pushed.text == "ok"


async def test_polling_closes_the_session_upon_ping_timeout(sio: Wire) -> None:
    sid = await sio.open_polling()

    # The time the server needs to send a ping and give up waiting for its pong.
    await asyncio.sleep(PING_INTERVAL + PING_TIMEOUT + MARGIN)

    polled = await sio.poll(sid)
    assert polled.status == 400 or (polled.status == 200 and polled.text == "1"), polled


async def test_websocket_sends_pings_and_accepts_pongs(sio: Wire) -> None:
    peer, _info = await sio.open_websocket()

    for _ in range(3):
        assert await peer.recv() == "2"
        await peer.send("3")


async def test_websocket_closes_the_session_upon_ping_timeout(sio: Wire) -> None:
    peer, _info = await sio.open_websocket()

    frames = await peer.wait_closed(answer_pings=False)

    assert set(frames) <= {"2", "1"}, frames


# Heartbeat deadlines, with the spec's timing: the ping is due pingInterval after the
# handshake, and a session whose ping gets no pong within pingTimeout is gone at once.


async def test_polling_session_of_a_silent_client_ends_at_interval_plus_timeout(
    sio: Wire,
) -> None:
    await sio.check_silent_polling_session_ends_on_time()


async def test_websocket_of_a_silent_client_closes_at_interval_plus_timeout(sio: Wire) -> None:
    await sio.check_silent_websocket_closed_on_time()


async def test_pongs_late_but_within_the_timeout_keep_the_session(sio: Wire) -> None:
    await sio.check_late_pongs_keep_the_session()


# Engine.IO under /socket.io/: close


async def test_polling_forcefully_closes_the_session(sio: Wire) -> None:
    sid = await sio.open_polling()
    poll = await sio.start_poll(sid)

    await sio.push(sid, "1")

    polled = await poll
    assert polled.status == 200
    assert polled.text == "6"

    after = await sio.poll(sid)
    assert after.status == 400


async def test_websocket_forcefully_closes_the_session(sio: Wire) -> None:
    peer, _info = await sio.open_websocket()

    await peer.send("1")

    # Pings get their pong, so the heartbeat cannot be what ends the session.
    await peer.wait_closed(answer_pings=True)


# Engine.IO under /socket.io/: upgrade


async def test_upgrade_from_polling_to_websocket(sio: Wire) -> None:
    sid = await sio.open_polling()
    peer = await sio.upgrade_ws(sid)

    await peer.send("2probe")
    assert await peer.recv() == "3probe"
    await peer.send("5")

    # The upgraded WebSocket carries the session on: connect to "/" over it.
    await peer.send("40")
    check_connected(await recv_after_noops(peer), "40")


async def test_upgrade_ignores_polling_requests_with_the_same_sid(sio: Wire) -> None:
    sid, _peer = await upgraded(sio)

    polled = await sio.poll(sid)

    check_error(polled, UNKNOWN_SID, BAD_REQUEST)


async def test_upgrade_ignores_a_second_websocket_with_the_same_sid(
    sio: Wire,
) -> None:
    sid, peer = await upgraded(sio)

    await sio.check_ws_refused(f"EIO=4&transport=websocket&sid={quote(sid, safe='')}")

    await peer.send('42["message","still upgraded"]')
    assert await peer.recv_non_ping() == '42["message-back","still upgraded"]'


# Socket.IO: connect


@pytest.mark.parametrize(
    ("request_packet", "reply_prefix", "auth_event"),
    [
        ("40", "40", '42["auth",{}]'),
        ('40{"token":"123"}', "40", '42["auth",{"token":"123"}]'),
        ("40/custom,", "40/custom,", '42/custom,["auth",{}]'),
        (
            '40/custom,{"token":"abc"}',
            "40/custom,",
            '42/custom,["auth",{"token":"abc"}]',
        ),
    ],
    ids=["main", "main-with-payload", "custom", "custom-with-payload"],
)
async def test_connect_to_a_namespace(
    sio: Wire, request_packet: str, reply_prefix: str, auth_event: str
) -> None:
    peer, _info = await sio.open_websocket()

    await peer.send(request_packet)

    check_connected(await peer.recv_non_ping(), reply_prefix)
    assert await peer.recv_non_ping() == auth_event


async def test_connect_to_an_unknown_namespace_fails(sio: Wire) -> None:
    peer, _info = await sio.open_websocket()

    await peer.send("40/random")

    assert await peer.recv_non_ping() == '44/random,{"message":"Invalid namespace"}'


async def test_connect_with_an_invalid_handshake_closes_the_connection(
    sio: Wire,
) -> None:
    peer, _info = await sio.open_websocket()

    await peer.send("4abc")

    await peer.wait_closed(answer_pings=True)


async def test_no_connect_packet_closes_the_connection(sio: Wire) -> None:
    peer, _info = await sio.open_websocket()

    await peer.wait_closed(answer_pings=False)


async def test_an_event_before_connect_closes_the_connection(sio: Wire) -> None:
    peer, _info = await sio.open_websocket()

    await peer.send('42["message","too early"]')

    frames = await peer.wait_closed(answer_pings=True)
    assert set(frames) <= {"2", "1"}, frames


# Socket.IO: disconnect


async def test_disconnect_from_the_main_namespace(sio: Wire) -> None:
    peer = await connect(sio)

    await peer.send("41")

    # Nothing answers the DISCONNECT; the Engine.IO session lives on (next: a ping).
    assert await peer.recv() == "2"


async def test_connect_then_disconnect_from_a_custom_namespace(sio: Wire) -> None:
    peer = await connect(sio)
    assert await peer.recv() == "2"
    await peer.send("3")

    await peer.send("40/custom")
    check_connected(await peer.recv_non_ping(), "40/custom,")
    assert await peer.recv_non_ping() == '42/custom,["auth",{}]'

    await peer.send("41/custom")
    await peer.send('42["message","message to main namespace"]')

    assert await peer.recv_non_ping() == '42["message-back","message to main namespace"]'


# Socket.IO: events and acknowledgements


async def test_send_a_plain_text_event(sio: Wire) -> None:
    peer = await connect(sio)

    await peer.send('42["message",1,"2",{"3":[true]}]')

    assert await peer.recv_non_ping() == '42["message-back",1,"2",{"3":[true]}]'


@pytest.mark.parametrize("leading", ["", "1,"], ids=["binary-only", "mixed"])
async def test_send_an_event_with_binary_attachments(sio: Wire, leading: str) -> None:
    peer = await connect(sio)

    await peer.send(f'452-["message",{leading}{PLACEHOLDERS}]')
    await peer.send(bytes([1, 2, 3]))
    await peer.send(bytes([4, 5, 6]))

    assert await peer.recv_many(3) == [
        f'452-["message-back",{leading}{PLACEHOLDERS}]',
        bytes([1, 2, 3]),
        bytes([4, 5, 6]),
    ]


async def test_send_a_plain_text_event_with_an_ack(sio: Wire) -> None:
    peer = await connect(sio)

    await peer.send('42456["message-with-ack",1,"2",{"3":[false]}]')

    assert await peer.recv_non_ping() == '43456[1,"2",{"3":[false]}]'


@pytest.mark.parametrize("leading", ["", "1,"], ids=["binary-only", "mixed"])
async def test_send_an_event_with_binary_attachments_and_an_ack(sio: Wire, leading: str) -> None:
    peer = await connect(sio)

    await peer.send(f'452-789["message-with-ack",{leading}{PLACEHOLDERS}]')
    await peer.send(bytes([1, 2, 3]))
    await peer.send(bytes([4, 5, 6]))

    assert await peer.recv_many(3) == [
        f"462-789[{leading}{PLACEHOLDERS}]",
        bytes([1, 2, 3]),
        bytes([4, 5, 6]),
    ]


# Socket.IO: malformed packets


@pytest.mark.parametrize(
    "packet",
    [
        "4abc",  # unknown packet type
        "47",  # unknown packet type
        "42{}",  # an event payload must be an array
        "42[]",  # ... and not an empty one
        '42abc["message-with-ack",1,"2",{"3":[false]}]',  # invalid ack id
        '42["message",1',  # invalid JSON
    ],
    ids=[
        "unknown-type",
        "type-7",
        "object-payload",
        "empty-array",
        "invalid-ack-id",
        "invalid-json",
    ],
)
async def test_a_malformed_packet_closes_only_its_connection(sio: Wire, packet: str) -> None:
    victim = await connect(sio)
    bystander = await connect(sio)

    await victim.send(packet)

    await victim.wait_closed(answer_pings=True)
    await bystander.send('42["message","still here"]')
    assert await bystander.recv_non_ping() == '42["message-back","still here"]'


# Socket.IO over HTTP long-polling


async def test_connect_and_exchange_events_over_polling(sio: Wire) -> None:
    sid = await sio.open_polling()

    pushed = await sio.push(sid, "40")
    assert pushed.status == 200
    assert pushed.text == "ok"
    connected, auth = await sio.collect(sid, 2)
    check_connected(connected, "40")
    assert auth == '42["auth",{}]'

    pushed = await sio.push(
        sid,
        '42["message","over polling"]' + SEPARATOR + '42456["message-with-ack","x"]',
    )
    assert pushed.status == 200
    assert pushed.text == "ok"
    # Two handlers answer: the protocol does not order their answers.
    assert sorted(await sio.collect(sid, 2)) == [
        '42["message-back","over polling"]',
        '43456["x"]',
    ]


async def test_binary_attachments_over_polling(sio: Wire) -> None:
    sid = await sio.open_polling()
    await sio.push(sid, "40")
    await sio.collect(sid, 2)  # CONNECT reply and "auth"

    # Attachments travel as Engine.IO binary messages: "b" + base64 over polling.
    placeholder = '{"_placeholder":true,"num":0}'
    pushed = await sio.push(sid, f'451-["message",{placeholder}]' + SEPARATOR + "bAQID")
    assert pushed.status == 200
    assert pushed.text == "ok"

    assert await sio.collect(sid, 2) == [
        f'451-["message-back",{placeholder}]',
        "bAQID",
    ]
