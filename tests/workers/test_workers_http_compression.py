"""Long-polling answers routed between workers keep the client's choice of encoding: the
worker holding the session compresses for the client's ``Accept-Encoding`` only, and the
compressed body comes back through the other worker as it is."""

from __future__ import annotations

import gzip
import json

import aiohttp

from integration.support import WAIT

from .workers_support import PollingClient, Served

BIG = "routed and compressed; " * 200


async def poll(via: str, sid: str, accept: str | None) -> tuple[str | None, bytes]:
    """One GET at a worker's unix socket: its Content-Encoding and raw body."""
    async with aiohttp.ClientSession(
        connector=aiohttp.UnixConnector(via, force_close=True),
        auto_decompress=False,
        skip_auto_headers=["Accept-Encoding"],
    ) as session:
        headers = {} if accept is None else {"Accept-Encoding": accept}
        url = f"http://worker/socket.io/?EIO=4&transport=polling&sid={sid}"
        async with session.get(url, headers=headers, timeout=WAIT) as reply:
            assert reply.status == 200
            return reply.headers.get("Content-Encoding"), await reply.read()


async def test_routed_polls_are_compressed_only_when_asked(serve_app: object) -> None:
    served: Served = await serve_app()  # type: ignore[operator]
    home, other = served.worker_socket(0), served.worker_socket(1)
    client = PollingClient()
    try:
        await client.handshake(home)
        await client.request(home, "POST", "40")
        await client.request(home)
        expected = "431" + json.dumps([BIG])
        for accept, encoding in [(None, None), ("gzip", "gzip"), ("br", None)]:
            await client.request(other, "POST", "421" + json.dumps(["echo", BIG]))
            got_encoding, body = await poll(other, client.sid, accept)
            assert got_encoding == encoding
            text = (gzip.decompress(body) if encoding else body).decode()
            assert text == expected
    finally:
        await client.aclose()
