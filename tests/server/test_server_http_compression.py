"""HTTP compression of long-polling responses on a real server, read as raw HTTP (aiohttp
with its own decompression off, so the test sees the bytes and headers on the wire).

The official client over polling with compression is in
``tests/websocket/test_permessage_deflate.py::test_official_client_with_compression``.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDictProxy
from server_wire import SEPARATOR, WAIT

import roomcast
from roomcast.transports.compression import choose_encoding

BIG = "the quick brown fox jumps over the lazy dog; " * 100
PACKET = '42["big","' + BIG + '"]'
Serve = Callable[[Any], Awaitable[Any]]


class Poller:
    """One Socket.IO session over long-polling, packets written out literally."""

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http = http
        self.base = base
        self.sid = ""

    @property
    def url(self) -> str:
        return f"{self.base}/socket.io/?EIO=4&transport=polling&sid={self.sid}"

    async def connect(self) -> None:
        async with self.http.get(f"{self.base}/socket.io/?EIO=4&transport=polling") as r:
            self.sid = json.loads((await r.text())[1:])["sid"]
        async with self.http.post(self.url, data="40") as r:
            assert await r.text() == "ok"
        body, _ = await self.get({})
        assert body.startswith(b"40{")

    async def close(self) -> None:
        """Close the session (an Engine.IO CLOSE), so the server has nothing to wait for."""
        async with self.http.post(self.url, data="1") as r:
            await r.read()

    async def get(self, headers: dict[str, str]) -> tuple[bytes, CIMultiDictProxy[str]]:
        """The raw body and headers of the next poll."""
        async with self.http.get(self.url, headers=headers, timeout=WAIT) as response:
            assert response.status == 200
            return await response.read(), response.headers


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(
        auto_decompress=False, skip_auto_headers=["Accept-Encoding"]
    ) as session:
        yield session


Start = Callable[..., Awaitable[tuple[roomcast.Server, Poller]]]


@pytest.fixture
async def started(serve: Serve, http: aiohttp.ClientSession) -> AsyncIterator[Start]:
    """``io, poller = await started(**server_options)``: a server and a connected poller
    (closed before the server at teardown)."""
    pollers: list[Poller] = []

    async def start(**options: Any) -> tuple[roomcast.Server, Poller]:
        io = roomcast.Server(serve_client=False, **options)
        listener = await serve(io)
        poller = Poller(http, listener.url)
        await poller.connect()
        pollers.append(poller)
        return io, poller

    yield start
    for poller in pollers:
        await poller.close()


@pytest.mark.parametrize(
    ("accept", "encoding", "inflate"),
    [
        ("gzip", "gzip", gzip.decompress),
        ("gzip, deflate, br", "gzip", gzip.decompress),
        ("deflate", "deflate", zlib.decompress),
        ("gzip;q=0, deflate;q=0.5", "deflate", zlib.decompress),
        ("*", "gzip", gzip.decompress),
    ],
)
async def test_poll_over_the_threshold_is_compressed(
    started: Start,
    accept: str,
    encoding: str,
    inflate: Callable[[bytes], bytes],
) -> None:
    io, poller = await started()
    await io.emit("big", BIG)
    body, headers = await poller.get({"Accept-Encoding": accept})
    assert headers["Content-Encoding"] == encoding
    assert "Accept-Encoding" in headers["Vary"]
    assert int(headers["Content-Length"]) == len(body) < len(PACKET) // 5
    assert inflate(body).decode() == PACKET


@pytest.mark.parametrize("accept", [None, "identity", "br", "gzip;q=0"])
async def test_poll_is_plain_for_clients_that_take_neither(
    started: Start, accept: str | None
) -> None:
    io, poller = await started()
    await io.emit("big", BIG)
    body, headers = await poller.get({} if accept is None else {"Accept-Encoding": accept})
    assert "Content-Encoding" not in headers
    assert body.decode() == PACKET


async def test_small_polls_compress_false_and_option_off_are_plain(started: Start) -> None:
    gz = {"Accept-Encoding": "gzip"}
    io, poller = await started()
    await io.emit("small", "x" * 900)  # the payload stays under 1 KiB
    body, headers = await poller.get(gz)
    assert "Content-Encoding" not in headers
    assert body.decode() == '42["small","' + "x" * 900 + '"]'
    await io.compress(False).emit("big", BIG)
    body, headers = await poller.get(gz)
    assert "Content-Encoding" not in headers
    assert body.decode() == PACKET
    # one compressible message among them is enough, as in Node's engine.io
    await io.compress(False).emit("big", BIG)
    await io.emit("big", BIG)
    body, headers = await poller.get(gz)
    assert headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body).decode() == PACKET + SEPARATOR + PACKET

    io_off, off = await started(http_compression=False)
    await io_off.emit("big", BIG)
    body, headers = await off.get(gz)
    assert "Content-Encoding" not in headers
    assert body.decode() == PACKET


async def test_threshold_and_level_are_options(started: Start) -> None:
    options = roomcast.HttpCompression(threshold=10, level=1)
    io, poller = await started(http_compression=options)
    await io.emit("tiny", "y" * 40)
    body, headers = await poller.get({"Accept-Encoding": "gzip"})
    assert headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body).decode() == '42["tiny","' + "y" * 40 + '"]'


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        ("gzip", "gzip"),
        ("deflate, gzip", "gzip"),
        ("deflate;q=1, gzip;q=0.9", "deflate"),
        ("GZIP", "gzip"),
        ("*;q=0.1", "gzip"),
        ("*, gzip;q=0", "deflate"),
        ("br, zstd", None),
        ("gzip;q=0, deflate;q=0", None),
        ("gzip;q=bad", None),
        ("", None),
    ],
)
def test_accept_encoding_choice(header: str, chosen: str | None) -> None:
    assert choose_encoding(header) == chosen
