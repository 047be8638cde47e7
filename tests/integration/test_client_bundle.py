"""The browser bundle served at /socket.io/socket.io.js, like Node's socket.io does."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import aiohttp
import pytest

import roomcast

from .support import ROOT, WAIT, Listener, base_url

pytestmark = pytest.mark.node

Serve = Callable[[roomcast.Server], Awaitable[Listener]]
DIST = ROOT / "node_modules" / "socket.io-client" / "dist"


@pytest.mark.parametrize("name", ["socket.io.js", "socket.io.min.js"])
async def test_bundle_is_served(serve: Serve, name: str) -> None:
    listener = await serve(roomcast.Server())
    timeout = aiohttp.ClientTimeout(total=WAIT)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.get(f"{base_url(listener)}/socket.io/{name}") as response,
    ):
        body = await response.read()
        assert response.status == 200
        assert "javascript" in response.headers["Content-Type"]
    assert body.startswith(b"/*!\n * Socket.IO v4.")
    assert body == (DIST / name).read_bytes()


@pytest.mark.parametrize("name", ["socket.io.js.map", "socket.io.min.js.map"])
async def test_source_maps_are_served(serve: Serve, name: str) -> None:
    listener = await serve(roomcast.Server())
    timeout = aiohttp.ClientTimeout(total=WAIT)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.get(f"{base_url(listener)}/socket.io/{name}") as response,
    ):
        body = await response.read()
        assert response.status == 200
    source_map = json.loads(body)
    assert source_map["version"] == 3
    assert body == (DIST / name).read_bytes()


async def test_bundle_not_served_when_disabled(serve: Serve) -> None:
    listener = await serve(roomcast.Server(serve_client=False))
    timeout = aiohttp.ClientTimeout(total=WAIT)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.get(f"{base_url(listener)}/socket.io/socket.io.js") as response,
    ):
        assert response.status != 200
