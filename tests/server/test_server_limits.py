"""Handshake limits on the wire: over a limit, a polling handshake and a WebSocket handshake
get 429 (rate, open connections per address) or 503 (open connections in all) with a JSON
body, and no session is kept; upgrades of existing sessions are not new connections;
X-Forwarded-For names the client only behind a trusted proxy."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from server_wire import (
    SIO_PATH,
    SioHarness,
    StartSio,
    polling_params,
    raw_upgrade,
    request_full,
    ws_target,
)

import roomcast


async def polling_handshake(
    harness: SioHarness, headers: Mapping[str, str] | None = None
) -> tuple[int, Any, Mapping[str, str]]:
    status, body, answer_headers = await request_full(
        harness.net.http, "GET", harness.url + SIO_PATH, params=polling_params(), headers=headers
    )
    text = body.decode()
    return status, (text if status == 200 else json.loads(text)), answer_headers


async def websocket_handshake(
    harness: SioHarness, headers: Mapping[str, str] | None = None
) -> tuple[int, Any, Mapping[str, str]]:
    status, answer_headers, body = await raw_upgrade(harness.url, ws_target(), headers or {})
    return status, (json.loads(body) if status != 101 else None), answer_headers


def sessions(harness: SioHarness) -> int:
    return len(harness.io.engine.sockets)


async def test_connection_rate_per_address_over_polling(start_sio: StartSio) -> None:
    harness = await start_sio(limits=roomcast.Limits(connection_rate_per_ip="1/min", burst=2))
    assert (await polling_handshake(harness))[0] == 200
    assert (await polling_handshake(harness))[0] == 200

    status, body, headers = await polling_handshake(harness)

    assert status == 429
    assert body["code"] == "rate_limited"
    assert body["retry_after"] == 60
    assert headers["Retry-After"] == "60"
    assert headers["Content-Type"] == "application/json"
    assert sessions(harness) == 2  # nothing kept for the refused one


async def test_connection_rate_per_address_over_websocket(start_sio: StartSio) -> None:
    harness = await start_sio(limits=roomcast.Limits(connection_rate_per_ip="1/min", burst=2))
    assert (await websocket_handshake(harness))[0] == 101
    assert (await websocket_handshake(harness))[0] == 101

    status, body, headers = await websocket_handshake(harness)

    assert status == 429
    assert body["code"] == "rate_limited"
    assert headers["retry-after"] == "60"
    # a polling handshake from the same address draws on the same bucket
    assert (await polling_handshake(harness))[0] == 429


async def test_an_upgrade_is_not_a_new_connection(start_sio: StartSio) -> None:
    harness = await start_sio(
        limits=roomcast.Limits(connection_rate_per_ip="1/min", burst=1, max_connections=1)
    )
    client = await harness.polling()
    await client.sio_connect()

    status, _, _ = await raw_upgrade(harness.url, ws_target(client.sid), {})

    assert status == 101
    assert (await websocket_handshake(harness))[0] == 503  # a new one is


async def test_open_connections_in_all(start_sio: StartSio) -> None:
    harness = await start_sio(limits=roomcast.Limits(max_connections=2))
    first = await harness.websocket()
    await first.sio_connect()
    second = await harness.polling()
    await second.sio_connect()

    for status, body, headers in (
        await polling_handshake(harness),
        await websocket_handshake(harness),
    ):
        assert status == 503
        assert body["code"] == "server_full"
        assert "Retry-After" in headers or "retry-after" in headers
    assert sessions(harness) == 2

    await first.aclose()
    await harness.log.until(lambda: len(harness.log.disconnects) == 1, "a disconnect")
    third = await harness.websocket()  # a place is free again
    await third.sio_connect()
    await third.assert_echo()


async def test_open_connections_per_address(start_sio: StartSio) -> None:
    harness = await start_sio(limits=roomcast.Limits(max_connections_per_ip=1))
    first = await harness.websocket()
    await first.sio_connect()

    for status, body, _ in (await polling_handshake(harness), await websocket_handshake(harness)):
        assert status == 429
        assert body["code"] == "too_many_connections"
    await first.assert_echo()


async def test_forwarded_for_counts_only_behind_a_trusted_proxy(start_sio: StartSio) -> None:
    limits = roomcast.Limits(max_connections_per_ip=1)
    alice, bob = {"X-Forwarded-For": "198.51.100.1"}, {"X-Forwarded-For": "198.51.100.2"}
    direct = await start_sio(limits=limits)
    proxied = await start_sio(limits=limits, trusted_proxies=["127.0.0.0/8"])

    await (await direct.websocket(headers=alice)).sio_connect()
    assert (await websocket_handshake(direct, bob))[0] == 429  # both are 127.0.0.1

    await (await proxied.websocket(headers=alice)).sio_connect()
    await (await proxied.websocket(headers=bob)).sio_connect()
    assert (await polling_handshake(proxied, alice))[0] == 429  # alice's address is full
    addresses = sorted(socket.address for socket in proxied.io.engine.sockets.values())
    assert addresses == ["198.51.100.1", "198.51.100.2"]
