"""CORS on the long-polling endpoints: allowed origins are echoed (credentials work), the
preflight is answered, other origins are refused, and no option means no CORS headers."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from multidict import CIMultiDictProxy
from server_wire import (
    SIO_PATH,
    WAIT,
    SioHarness,
    StartSio,
    error_body,
    polling_params,
    request_full,
)

OK_ORIGIN = "https://ok.example"
EVIL_ORIGIN = "https://evil.example"


async def handshake(harness: SioHarness, origin: str) -> tuple[int, str, CIMultiDictProxy[str]]:
    status, body, headers = await request_full(
        harness.net.http,
        "GET",
        harness.url + SIO_PATH,
        params=polling_params(),
        headers={"Origin": origin},
    )
    return status, body.decode(), headers


async def test_allowed_origin_is_echoed_with_credentials(start_sio: StartSio) -> None:
    harness = await start_sio(cors_allowed_origins=[OK_ORIGIN])
    bystander = await harness.bystander()

    status, body, headers = await handshake(harness, OK_ORIGIN)

    assert status == 200
    assert body.startswith("0{")
    assert headers["Access-Control-Allow-Origin"] == OK_ORIGIN
    assert headers["Access-Control-Allow-Credentials"] == "true"
    # The rest of the session (POST and GET with the sid) carries the headers too.
    client = await harness.polling(headers={"Origin": OK_ORIGIN})
    _, _, post_headers = await request_full(
        harness.net.http,
        "POST",
        client.url,
        params=client.params,
        headers={"Origin": OK_ORIGIN},
        data=b"40",
    )
    assert post_headers["Access-Control-Allow-Origin"] == OK_ORIGIN
    assert post_headers["Access-Control-Allow-Credentials"] == "true"
    await bystander.assert_echo()


async def test_preflight_is_answered_for_an_allowed_origin(start_sio: StartSio) -> None:
    harness = await start_sio(cors_allowed_origins=[OK_ORIGIN])
    bystander = await harness.bystander()

    status, body, headers = await request_full(
        harness.net.http,
        "OPTIONS",
        harness.url + SIO_PATH,
        params=polling_params(),
        headers={
            "Origin": OK_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-token",
        },
    )

    assert status == 204
    assert body == b""
    assert headers["Access-Control-Allow-Origin"] == OK_ORIGIN
    assert headers["Access-Control-Allow-Credentials"] == "true"
    methods = {m.strip() for m in headers["Access-Control-Allow-Methods"].split(",")}
    assert {"GET", "POST"} <= methods
    assert headers["Access-Control-Allow-Headers"] == "content-type,x-token"
    await bystander.assert_echo()


async def test_disallowed_origin_is_refused(start_sio: StartSio) -> None:
    harness = await start_sio(cors_allowed_origins=[OK_ORIGIN])
    bystander = await harness.bystander()

    status, body, headers = await handshake(harness, EVIL_ORIGIN)

    assert status == 403
    assert json.loads(body) == error_body(4, "Forbidden")
    assert "Access-Control-Allow-Origin" not in headers
    await bystander.assert_echo()


async def test_disallowed_origin_is_refused_over_websocket(start_sio: StartSio) -> None:
    harness = await start_sio(cors_allowed_origins=[OK_ORIGIN])
    bystander = await harness.bystander()

    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await asyncio.wait_for(
            harness.net.http.ws_connect(
                harness.url + SIO_PATH,
                params={"EIO": "4", "transport": "websocket"},
                headers={"Origin": EVIL_ORIGIN},
            ),
            WAIT,
        )

    assert refused.value.status == 403
    allowed = await harness.websocket(headers={"Origin": OK_ORIGIN})
    await allowed.sio_connect()
    await allowed.assert_echo()
    await bystander.assert_echo()


@pytest.mark.parametrize("origin", [OK_ORIGIN, "https://anything.example", "null"])
async def test_star_echoes_any_origin(start_sio: StartSio, origin: str) -> None:
    harness = await start_sio(cors_allowed_origins="*")
    bystander = await harness.bystander()

    status, _, headers = await handshake(harness, origin)

    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == origin
    assert headers["Access-Control-Allow-Credentials"] == "true"
    await bystander.assert_echo()


async def test_single_origin_string(start_sio: StartSio) -> None:
    harness = await start_sio(cors_allowed_origins=OK_ORIGIN)
    bystander = await harness.bystander()

    ok_status, _, ok_headers = await handshake(harness, OK_ORIGIN)
    evil_status, _, _ = await handshake(harness, EVIL_ORIGIN)

    assert ok_status == 200
    assert ok_headers["Access-Control-Allow-Origin"] == OK_ORIGIN
    assert evil_status == 403
    await bystander.assert_echo()


async def test_no_cors_option_sends_no_cors_headers(start_sio: StartSio) -> None:
    harness = await start_sio(cors_allowed_origins=None)
    bystander = await harness.bystander()

    status, body, headers = await handshake(harness, harness.url)  # its own origin
    refused, _, _ = await handshake(harness, OK_ORIGIN)

    assert status == 200
    assert body.startswith("0{")
    assert not [name for name in headers if name.lower().startswith("access-control-")]
    assert refused == 403  # None: the server's own origin only
    await bystander.assert_echo()


async def test_cors_credentials_can_be_turned_off(start_sio: StartSio) -> None:
    harness = await start_sio(cors_allowed_origins=[OK_ORIGIN], cors_credentials=False)
    bystander = await harness.bystander()

    status, _, headers = await handshake(harness, OK_ORIGIN)

    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == OK_ORIGIN
    assert "Access-Control-Allow-Credentials" not in headers
    await bystander.assert_echo()
