"""Origin checks on every handshake (cross-site WebSocket hijacking): the allowed origins
guard long-polling and WebSocket alike, a new session and an upgrade alike, on each host;
by default only the server's own origin may connect; a client without ``Origin`` (not a
browser) always may; ``X-Forwarded-Host`` counts only from a trusted proxy."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

import pytest
from aiohttp import web
from server_wire import (
    SIO_PATH,
    WAIT,
    Net,
    ServerLog,
    SioHarness,
    StartSio,
    error_body,
    install_echo,
    polling_params,
    raw_upgrade,
    request_full,
    ws_target,
)

import roomcast

EVIL = "https://evil.example"
FORBIDDEN = error_body(4, "Forbidden")
Serve = Callable[[object], Awaitable[object]]


def own_origin(harness: SioHarness) -> str:
    return harness.url  # http://127.0.0.1:PORT, what a page served by it sends


async def polling_status(
    harness: SioHarness, headers: Mapping[str, str]
) -> tuple[int, dict[str, object] | str]:
    status, body, _ = await request_full(
        harness.net.http,
        "GET",
        harness.url + SIO_PATH,
        params=polling_params(),
        headers=headers,
    )
    text = body.decode()
    return status, json.loads(text) if status != 200 else text


async def test_by_default_only_the_own_origin_connects_over_both_transports(
    start_sio: StartSio,
) -> None:
    harness = await start_sio()
    bystander = await harness.bystander()
    own = own_origin(harness)

    assert (await polling_status(harness, {"Origin": EVIL})) == (403, FORBIDDEN)
    status, headers, body = await raw_upgrade(harness.url, ws_target(), {"Origin": EVIL})
    assert (status, json.loads(body)) == (403, FORBIDDEN)
    assert headers["content-type"] == "application/json"
    # another port of the same host is another origin
    other_port = own.rsplit(":", 1)[0] + ":1"
    assert (await polling_status(harness, {"Origin": other_port}))[0] == 403

    status, text = await polling_status(harness, {"Origin": own})
    assert status == 200
    assert str(text).startswith("0{")
    page = await harness.websocket(headers={"Origin": own})
    await page.sio_connect()
    await page.assert_echo()
    await bystander.assert_echo()


async def test_an_upgrade_from_a_refused_origin_keeps_the_session_on_polling(
    start_sio: StartSio,
) -> None:
    harness = await start_sio(cors_allowed_origins=["https://ok.example"])
    client = await harness.polling(headers={"Origin": "https://ok.example"})
    await client.sio_connect()

    status, _, body = await raw_upgrade(harness.url, ws_target(client.sid), {"Origin": EVIL})

    assert (status, json.loads(body)) == (403, FORBIDDEN)
    await client.assert_echo()  # the session goes on over polling


@pytest.mark.parametrize("option", [None, "https://ok.example", ["https://ok.example"], "*"])
async def test_clients_without_an_origin_connect_whatever_the_option(
    start_sio: StartSio, option: str | list[str] | None
) -> None:
    harness = await start_sio(cors_allowed_origins=option)

    polling = await harness.polling()
    await polling.sio_connect()
    websocket = await harness.websocket()
    await websocket.sio_connect()

    await polling.assert_echo()
    await websocket.assert_echo()


async def test_forwarded_host_counts_only_from_a_trusted_proxy(start_sio: StartSio) -> None:
    page = {"Origin": "https://chat.example", "X-Forwarded-Host": "chat.example"}
    direct = await start_sio()
    proxied = await start_sio(trusted_proxies=["127.0.0.1"])

    assert (await polling_status(direct, page)) == (403, FORBIDDEN)
    status, _, _ = await raw_upgrade(direct.url, ws_target(), page)
    assert status == 403

    assert (await polling_status(proxied, page))[0] == 200
    status, _, _ = await raw_upgrade(proxied.url, ws_target(), page)
    assert status == 101


# -- other hosts ------------------------------------------------------------------------------


@pytest.fixture
async def aiohttp_url() -> AsyncIterator[Callable[[roomcast.Server], Awaitable[str]]]:
    runners: list[web.AppRunner] = []

    async def start(io: roomcast.Server) -> str:
        app = web.Application()
        io.attach(app)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        return f"http://{host}:{port}"

    yield start
    for runner in reversed(runners):
        await asyncio.wait_for(runner.cleanup(), WAIT)


async def test_origins_are_checked_when_mounted_in_aiohttp(
    net: Net, aiohttp_url: Callable[[roomcast.Server], Awaitable[str]]
) -> None:
    io = roomcast.Server(cors_allowed_origins=["https://ok.example"])
    install_echo(io, ServerLog())
    url = await aiohttp_url(io)

    status, _, body = await raw_upgrade(url, ws_target(), {"Origin": EVIL})
    assert (status, json.loads(body)) == (403, FORBIDDEN)
    status, body, _ = await request_full(
        net.http, "GET", url + SIO_PATH, params=polling_params(), headers={"Origin": EVIL}
    )
    assert (status, json.loads(body)) == (403, FORBIDDEN)

    allowed = await net.websocket(url, headers={"Origin": "https://ok.example"})
    await allowed.sio_connect()
    await allowed.assert_echo()


# -- plain WebSocket endpoints agree -----------------------------------------------------------


@pytest.mark.parametrize(
    ("origins", "origin", "status"),
    [
        (None, EVIL, 403),
        (None, "own", 101),
        (None, None, 101),
        ("*", EVIL, 101),
        (["https://ok.example"], "https://ok.example", 101),
        (["https://ok.example"], EVIL, 403),
        (["https://ok.example"], None, 101),
    ],
)
async def test_plain_websocket_endpoints_apply_the_same_rule(
    serve: Serve, origins: str | list[str] | None, origin: str | None, status: int
) -> None:
    io = roomcast.Server()

    @io.websocket("/ws", origins=origins)
    async def echo(ws: roomcast.WebSocket) -> None:
        async for message in ws:
            await ws.send(message)

    listener = await serve(io)
    url = str(listener.url)  # type: ignore[attr-defined]
    headers = {} if origin is None else {"Origin": url if origin == "own" else origin}

    answer, _, _ = await raw_upgrade(url, "/ws", headers)

    assert answer == status
