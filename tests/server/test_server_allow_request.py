"""The ``allow_request`` hook: called with the handshake request, sync or async; refusing
answers 403 ``{"code":4,...}`` (polling and WebSocket alike), accepting lets the handshake on."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from server_wire import SIO_PATH, WAIT, StartSio, error_body, polling_params, request

import roomcast

Hook = Callable[[roomcast.HandshakeRequest], bool | Awaitable[bool]]


def make_hook(kind: str, seen: list[roomcast.HandshakeRequest]) -> Hook:
    """A hook that lets in requests with ``?token=letmein``."""

    def sync_hook(req: roomcast.HandshakeRequest) -> bool:
        seen.append(req)
        return req.query.get("token") == "letmein"

    async def async_hook(req: roomcast.HandshakeRequest) -> bool:
        await asyncio.sleep(0)  # a real await: the verdict comes from a coroutine
        return sync_hook(req)

    return sync_hook if kind == "sync" else async_hook


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_refusing_hook_answers_403_forbidden(start_sio: StartSio, kind: str) -> None:
    seen: list[roomcast.HandshakeRequest] = []
    harness = await start_sio(allow_request=make_hook(kind, seen))
    bystander_ws = await harness.websocket(query={"token": "letmein"})
    await bystander_ws.sio_connect()

    status, body = await request(
        harness.net.http,
        "GET",
        harness.url + SIO_PATH,
        params={**polling_params(), "token": "wrong"},
    )
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await asyncio.wait_for(
            harness.net.http.ws_connect(
                harness.url + SIO_PATH, params={"EIO": "4", "transport": "websocket"}
            ),
            WAIT,
        )

    assert status == 403
    assert json.loads(body) == error_body(4, "Forbidden")
    assert refused.value.status == 403
    assert [r.query.get("token") for r in seen] == ["letmein", "wrong", None]
    assert seen[1].method == "GET"
    assert seen[1].path == SIO_PATH
    await bystander_ws.assert_echo()


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_accepting_hook_lets_the_handshake_through(start_sio: StartSio, kind: str) -> None:
    seen: list[roomcast.HandshakeRequest] = []
    harness = await start_sio(allow_request=make_hook(kind, seen))
    bystander = await harness.websocket(query={"token": "letmein"})
    await bystander.sio_connect()

    status, body = await request(
        harness.net.http,
        "GET",
        harness.url + SIO_PATH,
        params={**polling_params(), "token": "letmein"},
        headers={"X-Custom": "yes"},
    )
    assert status == 200
    assert body.startswith("0{")
    assert seen[-1].headers["X-Custom"] == "yes"

    # The hook judges handshakes only: the session's own requests carry no token.
    sid = json.loads(body[1:])["sid"]
    calls = len(seen)
    status, body = await request(
        harness.net.http, "POST", harness.url + SIO_PATH, params=polling_params(sid), data=b"40"
    )
    assert (status, body) == (200, "ok")
    status, body = await request(
        harness.net.http, "GET", harness.url + SIO_PATH, params=polling_params(sid)
    )
    assert status == 200
    assert body.startswith('40{"sid":')
    assert len(seen) == calls
    await bystander.assert_echo()
