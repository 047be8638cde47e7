"""``/healthz`` and ``/readyz``: raw HTTP against real servers (native, aiohttp, ASGI), with
an adapter or a store out of reach, moved or turned off, and while draining."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

import roomcast
from integration.support import WAIT
from roomcast.adapters.redis import RedisAdapter
from roomcast.server.health import Health

Serve = Callable[[Any], Awaitable[int]]


def dead_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def get(port: int, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """One raw HTTP/1.1 request: the status, the headers and the body."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), WAIT)
    try:
        writer.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        raw = await asyncio.wait_for(reader.read(), WAIT)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    headers = {k.lower(): v for k, v in headers.items()}
    if headers.get("transfer-encoding") == "chunked":
        size, _, rest = body.partition(b"\r\n")
        body = rest[: int(size, 16)]
    return int(lines[0].split()[1]), headers, body


async def get_json(port: int, path: str) -> tuple[int, Any]:
    status, headers, body = await get(port, path)
    assert headers["content-type"].startswith("application/json")
    return status, json.loads(body)


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """``port = await serve(io)``: the native server on 127.0.0.1; closed at teardown."""
    listeners: list[Any] = []

    async def start(io: Any) -> int:
        listener = await io.listen("127.0.0.1", 0)
        listeners.append(listener)
        return int(listener.port)

    yield start
    for listener in reversed(listeners):
        await asyncio.wait_for(listener.aclose(), WAIT)


READY = {"status": "ready", "adapter": "ok", "store": "ok"}


async def test_a_serving_server_is_alive_and_ready(serve: Serve) -> None:
    port = await serve(roomcast.Server(recovery=True))
    assert await get_json(port, "/healthz") == (200, {"status": "alive"})
    assert await get_json(port, "/readyz") == (200, READY)
    status, _, body = await get(port, "/readyz", "HEAD")
    assert (status, body) == (200, b"")
    status, headers, _ = await get(port, "/readyz", "POST")
    assert (status, headers["allow"]) == (405, "GET, HEAD")


async def test_an_engine_server_has_them_too(serve: Serve) -> None:
    port = await serve(roomcast.EngineServer())
    assert await get_json(port, "/readyz") == (200, READY)


async def test_redis_out_of_reach_is_not_ready_but_alive(serve: Serve) -> None:
    factory = RedisAdapter.factory(f"redis://127.0.0.1:{dead_port()}", reconnect_delay=(0.05, 0.2))
    io = roomcast.Server(adapter=factory)
    port = await asyncio.wait_for(serve(io), WAIT)
    assert await get_json(port, "/healthz") == (200, {"status": "alive"})
    status, body = await get_json(port, "/readyz")
    assert (status, body) == (503, {"status": "not ready", "adapter": "down", "store": "ok"})


async def test_a_store_out_of_reach_is_not_ready(serve: Serve) -> None:
    io = roomcast.Server(recovery=True, store=f"redis://127.0.0.1:{dead_port()}/0")
    port = await asyncio.wait_for(serve(io), WAIT)
    status, body = await get_json(port, "/readyz")
    assert (status, body) == (503, {"status": "not ready", "adapter": "ok", "store": "down"})
    assert (await get(port, "/healthz"))[0] == 200


async def test_a_draining_server_is_not_ready(serve: Serve) -> None:
    io = roomcast.Server()
    port = await serve(io)
    io.draining = True
    status, body = await get_json(port, "/readyz")
    assert (status, body) == (503, {"status": "draining", "adapter": "ok", "store": "ok"})
    assert (await get(port, "/healthz"))[0] == 200


async def test_moved_or_turned_off(serve: Serve) -> None:
    moved = await serve(roomcast.Server(health=Health(live="/live", ready=None)))
    assert await get_json(moved, "/live") == (200, {"status": "alive"})
    assert (await get(moved, "/healthz"))[0] == 404
    assert (await get(moved, "/readyz"))[0] == 404
    off = await serve(roomcast.Server(health=False))
    assert (await get(off, "/healthz"))[0] == 404
    assert (await get(off, "/readyz"))[0] == 404


def test_bad_paths_are_refused() -> None:
    with pytest.raises(ValueError, match="starts with '/'"):
        Health(live="healthz")
    with pytest.raises(ValueError, match="must differ"):
        Health(live="/h", ready="/h")


async def test_on_an_aiohttp_application() -> None:
    io = roomcast.Server()
    app = web.Application()
    io.attach(app)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        assert await get_json(port, "/healthz") == (200, {"status": "alive"})
        assert await get_json(port, "/readyz") == (200, READY)
    finally:
        await asyncio.wait_for(runner.cleanup(), WAIT)


async def test_in_an_asgi_application() -> None:
    import uvicorn

    io = roomcast.Server()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)  # connections queue until uvicorn serves them
        config = uvicorn.Config(io.asgi_app(), log_level="error", lifespan="off")
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            port = sock.getsockname()[1]
            assert await get_json(port, "/healthz") == (200, {"status": "alive"})
            assert await get_json(port, "/readyz") == (200, READY)
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, WAIT)
