"""Routing, request by request: a raw polling client talks to one worker's private socket
for the handshake and to the other's for everything after, so every request after the
handshake is one the other worker must route (no luck involved)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from roomcast.cluster.routing import Router
from roomcast.transports.http import HandshakeRequest, make_headers

from .workers_support import PollingClient, Served

ServeApp = Callable[..., Awaitable[Served]]


async def test_polling_requests_are_served_by_the_owner(serve_app: ServeApp) -> None:
    served = await serve_app(workers=2)
    owner, other = served.worker_socket(0), served.worker_socket(1)
    client = PollingClient()
    try:
        opened = await client.handshake(owner)
        assert opened["sid"].startswith(f"{served.node}-0."), opened
        assert opened["upgrades"] == ["websocket"]
        assert await client.request(other, "POST", "40") == "ok"
        connected = await client.request(other)
        assert connected.startswith("40{"), connected
        assert await client.request(other, "POST", '421["echo",1,"two"]') == "ok"
        assert await client.request(other) == '431[1,"two"]'
        assert await client.request(served.url, "POST", '422["whoami"]') == "ok"
        answer = await client.request(other)
        assert answer.startswith("432"), answer
        assert json.loads(answer[3:])[0]["tag"] == f"{served.node}-0"
    finally:
        await client.aclose()


async def test_a_browsers_routed_requests_keep_their_host_for_the_origin_check(
    serve_app: ServeApp,
) -> None:
    """A page's requests carry ``Origin``; the owner checks it against the ``Host`` the
    browser sent, which a routed request must keep (not the router's own)."""
    served = await serve_app(workers=2)
    host = f"127.0.0.1:{served.port}"
    client = PollingClient({"Host": host, "Origin": f"http://{host}"})
    owner, other = served.worker_socket(0), served.worker_socket(1)
    try:
        await client.handshake(owner)
        assert await client.request(other, "POST", "40") == "ok"
        connected = await client.request(other)
        assert connected.startswith("40{"), connected
        foreign = PollingClient({"Host": host, "Origin": "http://elsewhere.example"})
        foreign.sid = client.sid
        try:
            status, _ = await foreign.status_of(other, "POST")
            assert status == 403  # the owner still refuses another origin
        finally:
            await foreign.aclose()
    finally:
        await client.aclose()


async def test_unknown_and_forged_sessions_are_unknown_everywhere(serve_app: ServeApp) -> None:
    served = await serve_app(workers=2)
    client = PollingClient()
    try:
        await client.handshake(served.worker_socket(0))
        good = client.sid
        _, _, rest = good.partition(".")
        for sid in (f"{served.node}-0.nope", f"{served.node}-7.{rest}", f"other-0.{rest}", "x"):
            client.sid = sid
            for via in (served.worker_socket(0), served.worker_socket(1)):
                status, body = await client.status_of(via)
                assert (status, json.loads(body)["code"]) == (400, 1), (sid, via)
        client.sid = good
        status, _ = await client.status_of(served.worker_socket(1), "POST")
        assert status == 200
    finally:
        await client.aclose()


async def test_websocket_upgrade_is_piped_to_the_owner(serve_app: ServeApp) -> None:
    served = await serve_app(workers=2)
    owner, other = served.worker_socket(1), served.worker_socket(0)
    client = PollingClient()
    try:
        await client.handshake(owner)
        await client.request(other, "POST", "40")
        assert (await client.request(other)).startswith("40")
        ws = await client.websocket(other)
        await ws.send_str("2probe")
        assert (await ws.receive(timeout=10)).data == "3probe"
        await ws.send_str("5")
        await ws.send_str('421["echo","via a pipe"]')
        assert (await ws.receive(timeout=10)).data == '431["via a pipe"]'
        status, body = await client.status_of(owner)  # polling is over for this session
        assert status == 400, body
        await ws.close()
        assert ws.closed
    finally:
        await client.aclose()


async def test_a_websocket_for_an_unknown_session_is_refused(serve_app: ServeApp) -> None:
    served = await serve_app(workers=2)
    client = PollingClient()
    client.sid = f"{served.node}-1.unknown"
    try:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.websocket(served.worker_socket(0))
        assert refused.value.status == 400
    finally:
        await client.aclose()


async def test_a_routed_poll_answer_that_is_lost_ends_the_session(serve_app: ServeApp) -> None:
    served = await serve_app(workers=2)
    client = PollingClient()
    router = Router(served.node, 1, workers=2, runtime_dir=served.runtime_dir)
    try:
        await client.handshake(served.worker_socket(0))
        await client.request(served.worker_socket(0), "POST", "40")
        answer = await router.forward_http(polling_request(client.sid), no_body)
        assert answer is not None
        assert answer.body.startswith(b"40{")
        assert answer.undelivered is not None
        assert (await client.status_of(served.worker_socket(0), "POST"))[0] == 200  # still open
        answer.undelivered()  # as the host does when the client vanished meanwhile
        await router.aclose()  # waits for the owner to be told
        status, body = await client.status_of(served.worker_socket(0))
        assert (status, json.loads(body)["code"]) == (400, 1)  # the owner closed it
    finally:
        await router.aclose()
        await client.aclose()


def polling_request(sid: str) -> HandshakeRequest:
    query = f"EIO=4&transport=polling&sid={sid}"
    return HandshakeRequest(
        method="GET",
        path="/socket.io/",
        query={"EIO": "4", "transport": "polling", "sid": sid},
        headers=make_headers([]),
        address="127.0.0.1",
        secure=False,
        url=f"/socket.io/?{query}",
    )


async def no_body(limit: int) -> bytes:
    return b""
