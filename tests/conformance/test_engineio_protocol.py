"""Engine.IO v4 conformance of ``examples/engineio_echo.py`` (echo on ``/engine.io/``).

Checks every behaviour of the published Engine.IO protocol test suite
(socketio/engine.io-protocol, ``test-suite/``, ``EIO=4``), written anew against
raw HTTP and WebSocket traffic, plus what the protocol README implies: the JSON
error bodies, a long poll released by a message or by an upgrade probe,
UTF-8 text and base64 binary over polling.

The echo server sends every message back to the session it came from; the
heartbeat is pingInterval 300 ms, pingTimeout 200 ms, maxPayload 1000000.
"""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import aiohttp
import pytest
from conformance_wire import (
    MARGIN,
    PING_INTERVAL,
    PING_TIMEOUT,
    SEPARATOR,
    Reply,
    Wire,
    check_error,
    check_handshake,
)

# Engine.IO error codes (HTTP 400 bodies), as the reference server numbers them.
UNKNOWN_TRANSPORT = 0
UNKNOWN_SID = 1
BAD_HANDSHAKE_METHOD = 2
BAD_REQUEST = 3
UNSUPPORTED_PROTOCOL_VERSION = 5


def without_pings(reply: Reply) -> str:
    """A polling payload minus any heartbeat ping a slow run let in."""
    return SEPARATOR.join(packet for packet in reply.packets if packet != "2")


# Handshake over HTTP long-polling


async def test_polling_handshake_opens_a_session(eio: Wire) -> None:
    reply = await eio.get(eio.url("EIO=4&transport=polling"))

    assert reply.status == 200
    assert SEPARATOR not in reply.text  # a single open packet
    check_handshake(reply.text, upgrades=["websocket"])


async def test_polling_handshakes_get_distinct_sids(eio: Wire) -> None:
    sids = {await eio.open_polling() for _ in range(3)}

    assert len(sids) == 3


@pytest.mark.parametrize("query", ["transport=polling", "EIO=abc&transport=polling"])
async def test_polling_handshake_fails_with_an_invalid_eio(eio: Wire, query: str) -> None:
    reply = await eio.get(eio.url(query))

    check_error(reply, BAD_REQUEST, UNSUPPORTED_PROTOCOL_VERSION)


@pytest.mark.parametrize("version", ["3", "5"])
async def test_polling_handshake_fails_with_an_unsupported_version(eio: Wire, version: str) -> None:
    reply = await eio.get(eio.url(f"EIO={version}&transport=polling"))

    check_error(reply, UNSUPPORTED_PROTOCOL_VERSION)


@pytest.mark.parametrize("query", ["EIO=4", "EIO=4&transport=abc"])
async def test_polling_handshake_fails_with_an_invalid_transport(eio: Wire, query: str) -> None:
    reply = await eio.get(eio.url(query))

    check_error(reply, UNKNOWN_TRANSPORT)


@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_handshake_fails_with_an_invalid_method(eio: Wire, method: str) -> None:
    reply = await eio.request(method, eio.url("EIO=4&transport=polling"), "")

    check_error(reply, BAD_HANDSHAKE_METHOD)


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_polling_with_an_unknown_sid_fails(eio: Wire, method: str) -> None:
    reply = await eio.request(method, eio.polling_url("no-such-session"), "4hello")

    check_error(reply, UNKNOWN_SID)


async def test_websocket_transport_over_plain_http_is_a_bad_request(eio: Wire) -> None:
    reply = await eio.get(eio.url("EIO=4&transport=websocket"))

    check_error(reply, BAD_REQUEST)


# Handshake over WebSocket


async def test_websocket_handshake_opens_a_session(eio: Wire) -> None:
    # open_websocket checks the open packet: upgrades [] and the heartbeat values.
    peer, _info = await eio.open_websocket()

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
async def test_websocket_handshake_fails_with_an_invalid_query(eio: Wire, query: str) -> None:
    await eio.check_ws_refused(query)


# Messages over HTTP long-polling


@pytest.mark.parametrize("payload", ["4hello", "4h\u00e9llo \u20ac \u2713"])
async def test_polling_sends_and_receives_one_text_packet(eio: Wire, payload: str) -> None:
    sid = await eio.open_polling()

    pushed = await eio.push(sid, payload)
    assert pushed.status == 200
    assert pushed.text == "ok"

    polled = await eio.poll(sid)
    assert polled.status == 200
    assert without_pings(polled) == payload


async def test_polling_sends_and_receives_several_text_packets(eio: Wire) -> None:
    sid = await eio.open_polling()
    payload = SEPARATOR.join(["4test1", "4test2", "4test3"])

    pushed = await eio.push(sid, payload)
    assert pushed.status == 200
    assert pushed.text == "ok"

    polled = await eio.poll(sid)
    assert polled.status == 200
    assert without_pings(polled) == payload


async def test_polling_sends_and_receives_text_and_binary_packets(eio: Wire) -> None:
    sid = await eio.open_polling()
    # "b" + base64: the message packet carrying the bytes 01 02 03 04.
    payload = "4hello" + SEPARATOR + "bAQIDBA=="

    pushed = await eio.push(sid, payload)
    assert pushed.status == 200
    assert pushed.text == "ok"

    polled = await eio.poll(sid)
    assert polled.status == 200
    assert without_pings(polled) == payload


async def test_a_pending_poll_is_released_by_a_message(eio: Wire) -> None:
    sid = await eio.open_polling()
    poll = await eio.start_poll(sid)

    pushed = await eio.push(sid, "4wake up")
    assert pushed.status == 200
    assert pushed.text == "ok"

    polled = await poll
    assert polled.status == 200
    assert without_pings(polled) == "4wake up"


async def test_polling_closes_the_session_upon_an_invalid_packet(eio: Wire) -> None:
    sid = await eio.open_polling()

    try:
        pushed = await eio.push(sid, "abc")
    except aiohttp.ClientError:
        pass  # the server may also drop the request
    else:
        # 400 fits; the reference server answers "ok" and closes the session anyway.
        assert pushed.status in (200, 400), pushed

    polled = await eio.poll(sid)
    assert polled.status == 400


async def test_polling_closes_the_session_upon_duplicate_polls(eio: Wire) -> None:
    sid = await eio.open_polling()

    first, second = await asyncio.gather(eio.poll(sid), eio.poll(sid))

    # Whichever the server saw first is the pending poll: it gets a close packet,
    # the other one an error (the reference server answers 500, 400 fits better).
    pending, duplicate = (first, second) if first.status == 200 else (second, first)
    assert pending.status == 200
    assert pending.text == "1"
    assert duplicate.status in (400, 500)

    after = await eio.poll(sid)
    assert after.status == 400


# Messages over WebSocket


async def test_websocket_sends_and_receives_a_text_packet(eio: Wire) -> None:
    peer, _info = await eio.open_websocket()

    await peer.send("4hello")

    assert await peer.recv_non_ping() == "4hello"


async def test_websocket_sends_and_receives_a_binary_packet(eio: Wire) -> None:
    peer, _info = await eio.open_websocket()

    await peer.send(bytes([1, 2, 3, 4]))

    assert await peer.recv_non_ping() == bytes([1, 2, 3, 4])


async def test_websocket_closes_the_session_upon_an_invalid_packet(eio: Wire) -> None:
    peer, _info = await eio.open_websocket()

    await peer.send("abc")

    await peer.wait_closed(answer_pings=True)


# Heartbeat


async def test_polling_sends_pings_and_accepts_pongs(eio: Wire) -> None:
    sid = await eio.open_polling()

    for _ in range(3):
        polled = await eio.poll(sid)
        assert polled.status == 200
        assert polled.text == "2"

        pushed = await eio.push(sid, "3")
        assert pushed.status == 200
        assert pushed.text == "ok"


async def test_polling_closes_the_session_upon_ping_timeout(eio: Wire) -> None:
    sid = await eio.open_polling()

    # The time the server needs to send a ping and give up waiting for its pong.
    await asyncio.sleep(PING_INTERVAL + PING_TIMEOUT + MARGIN)

    polled = await eio.poll(sid)
    assert polled.status == 400 or (polled.status == 200 and polled.text == "1"), polled


async def test_websocket_sends_pings_and_accepts_pongs(eio: Wire) -> None:
    peer, _info = await eio.open_websocket()

    for _ in range(3):
        assert await peer.recv() == "2"
        await peer.send("3")

    await peer.send("4still open")
    assert await peer.recv_non_ping() == "4still open"


async def test_websocket_closes_the_session_upon_ping_timeout(eio: Wire) -> None:
    peer, _info = await eio.open_websocket()

    frames = await peer.wait_closed(answer_pings=False)

    # Pings, and perhaps a close packet before the WebSocket closes.
    assert set(frames) <= {"2", "1"}, frames


# Heartbeat deadlines, with the spec's timing: the ping is due pingInterval after the
# handshake, and a session whose ping gets no pong within pingTimeout is gone at once.


async def test_polling_session_of_a_silent_client_ends_at_interval_plus_timeout(
    eio: Wire,
) -> None:
    await eio.check_silent_polling_session_ends_on_time()


async def test_websocket_of_a_silent_client_closes_at_interval_plus_timeout(eio: Wire) -> None:
    await eio.check_silent_websocket_closed_on_time()


async def test_pongs_late_but_within_the_timeout_keep_the_session(eio: Wire) -> None:
    await eio.check_late_pongs_keep_the_session()


# Close


async def test_polling_forcefully_closes_the_session(eio: Wire) -> None:
    sid = await eio.open_polling()
    poll = await eio.start_poll(sid)

    await eio.push(sid, "1")

    polled = await poll
    assert polled.status == 200
    assert polled.text == "6"

    after = await eio.poll(sid)
    assert after.status == 400


async def test_websocket_forcefully_closes_the_session(eio: Wire) -> None:
    peer, info = await eio.open_websocket()

    await peer.send("1")

    # Pings get their pong, so only the close packet can end the session here
    # (stricter than the published suite, where the heartbeat would end it too).
    await peer.wait_closed(answer_pings=True)
    after = await eio.poll(info["sid"])
    assert after.status == 400


# Upgrade from HTTP long-polling to WebSocket


async def test_upgrade_from_polling_to_websocket(eio: Wire) -> None:
    sid = await eio.open_polling()
    peer = await eio.upgrade_ws(sid)

    await peer.send("2probe")
    assert await peer.recv() == "3probe"

    # A poll during the upgrade ends with a noop packet.
    polled = await eio.poll(sid)
    assert polled.status == 200
    assert polled.text == "6"

    await peer.send("5")
    await peer.send("4hello")
    assert await peer.recv_non_ping() == "4hello"


async def test_upgrade_probe_releases_a_pending_poll_with_noop(eio: Wire) -> None:
    sid = await eio.open_polling()
    poll = await eio.start_poll(sid)
    peer = await eio.upgrade_ws(sid)

    await peer.send("2probe")
    assert await peer.recv() == "3probe"

    polled = await poll
    assert polled.status == 200
    assert polled.text == "6"

    await peer.send("5")
    await peer.send("4hello")
    assert await peer.recv_non_ping() == "4hello"


async def test_upgrade_ignores_polling_requests_with_the_same_sid(eio: Wire) -> None:
    sid = await eio.open_polling()
    peer = await eio.upgrade_ws(sid)
    await peer.send("2probe")
    assert await peer.recv() == "3probe"
    await peer.send("5")
    # The echo proves the server has handled the upgrade packet sent before it.
    await peer.send("4first")
    assert await peer.recv_non_ping() == "4first"

    polled = await eio.poll(sid)
    check_error(polled, UNKNOWN_SID, BAD_REQUEST)

    await peer.send("4hello")
    assert await peer.recv_non_ping() == "4hello"


async def test_upgrade_ignores_a_second_websocket_with_the_same_sid(eio: Wire) -> None:
    sid = await eio.open_polling()
    peer = await eio.upgrade_ws(sid)
    await peer.send("2probe")
    assert await peer.recv() == "3probe"
    await peer.send("5")
    await peer.send("4first")
    assert await peer.recv_non_ping() == "4first"

    await eio.check_ws_refused(f"EIO=4&transport=websocket&sid={quote(sid, safe='')}")

    await peer.send("4hello")
    assert await peer.recv_non_ping() == "4hello"
