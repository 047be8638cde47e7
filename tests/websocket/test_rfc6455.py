"""RFC 6455 conformance of the native server: the data-driven cases of ``rfc6455_cases``
against a plain echo endpoint, and the failure cases against the Socket.IO WebSocket
transport too (the same frame code). After every case the server must have sent its close
frame and then ended the TCP connection; a new client is then served as before."""

from __future__ import annotations

import asyncio

import pytest
from rfc6455_cases import CASES, Case, close
from wire import SIO_WEBSOCKET, WAIT, RawWebSocket, Serve, echo_server


async def run_case(port: int, path: str, case: Case, skip_first: bool = False) -> None:
    client, status, _ = await RawWebSocket.open(port, path)
    assert status == 101
    if skip_first:  # the Engine.IO OPEN packet
        opcode, payload = await client.read_frame() or (0, b"")
        assert (opcode, payload[:1]) == (0x1, b"0")
    data = b"".join(case.send) + (b"" if case.fails else close(1000))
    sending = asyncio.create_task(client.send(data, case.chop))
    try:
        got = await asyncio.wait_for(client.receive_all(), WAIT)
    finally:
        await sending
        await client.aclose()
    if not skip_first:
        assert got.messages == case.messages
        assert got.pongs == case.pongs
    assert got.close_code in (case.close_codes or {1000}), (got.close_code, got.close_reason)
    assert got.eof_after_close, "the server ends the TCP connection after its close frame"


async def assert_still_serving(port: int) -> None:
    await run_case(port, "/echo", Case("after", [b""], ["still here"][:0]))


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_plain_endpoint(serve: Serve, case: Case) -> None:
    listener = await serve(echo_server(ping_interval=None))
    await run_case(listener.port, "/echo", case)
    await assert_still_serving(listener.port)


SIO_CASES = [case for case in CASES if case.fails and not case.messages and not case.pongs]


@pytest.mark.parametrize("case", SIO_CASES, ids=[case.id for case in SIO_CASES])
async def test_socketio_transport(serve: Serve, case: Case) -> None:
    listener = await serve(echo_server())
    await run_case(listener.port, SIO_WEBSOCKET, case, skip_first=True)
    await assert_still_serving(listener.port)
