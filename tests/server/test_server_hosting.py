"""Hosting roomcast inside other applications: ``attach`` into an aiohttp Application that
has its own routes, and ``asgi_app(other_app)`` served by uvicorn next to another ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

import pytest
import uvicorn
from aiohttp import web
from server_wire import (
    SIO_PATH,
    WAIT,
    Net,
    ServerLog,
    install_echo,
    request,
)

import roomcast
from roomcast.transports.engine import MAX_PENDING
from roomcast.transports.websocket import MESSAGES_PER_TURN

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


async def exercise_socketio(net: Net, base_url: str) -> None:
    """A WebSocket session and a polling session, each connects to "/" and gets an ack."""
    ws = await net.websocket(base_url)
    assert ws.handshake["upgrades"] == []
    await ws.sio_connect()
    await ws.assert_echo()
    await ws.send('425["echo",{"nested":[1,2,"three"]},null]')
    assert await ws.recv_text() == '435[{"nested":[1,2,"three"]},null]'

    polling = await net.polling(base_url)
    assert polling.handshake["upgrades"] == ["websocket"]
    await polling.sio_connect()
    await polling.assert_echo()

    await ws.assert_echo()  # the first one is unaffected by the second


# -- aiohttp --------------------------------------------------------------------------------


@pytest.fixture
async def aiohttp_site() -> AsyncIterator[Callable[[web.Application], Awaitable[str]]]:
    """``base_url = await start(app)``: the app on 127.0.0.1, port 0; cleaned up at teardown."""
    runners: list[web.AppRunner] = []

    async def start(app: web.Application) -> str:
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


async def test_attach_into_an_existing_aiohttp_application(
    net: Net, aiohttp_site: Callable[[web.Application], Awaitable[str]]
) -> None:
    io = roomcast.Server()
    log = ServerLog()
    install_echo(io, log)

    async def own_route(request: web.Request) -> web.Response:
        return web.Response(text=f"own route {request.query.get('x', '')}")

    app = web.Application()
    app.router.add_get("/hello", own_route)
    io.attach(app)
    base_url = await aiohttp_site(app)

    assert await request(net.http, "GET", base_url + "/hello", params={"x": "1"}) == (
        200,
        "own route 1",
    )
    await exercise_socketio(net, base_url)
    assert await request(net.http, "GET", base_url + "/hello", params={"x": "2"}) == (
        200,
        "own route 2",
    )
    status, _ = await request(net.http, "GET", base_url + "/not-there")
    assert status == 404
    assert len(log.connected) == 2


# -- ASGI under uvicorn ----------------------------------------------------------------------


class OtherApp:
    """A bare ASGI app: answers every HTTP request with its path; supports lifespan."""

    def __init__(self) -> None:
        self.lifespan: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                self.lifespan.append(message["type"])
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        elif scope["type"] == "http":
            body = f"other app {scope['path']}".encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"text/plain")],
                }
            )
            await send({"type": "http.response.body", "body": body})
        else:  # a WebSocket outside the Socket.IO path: refused
            await receive()
            await send({"type": "websocket.close", "code": 1000})


@contextlib.asynccontextmanager
async def uvicorn_serving(app: Any) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn in this loop on a free port; stop it on exit."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            async with asyncio.timeout(WAIT):
                while not server.started:  # uvicorn offers a flag, not an event
                    if task.done():
                        task.result()
                        raise AssertionError("uvicorn stopped before it started")
                    await asyncio.sleep(0.01)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, WAIT)


async def test_asgi_app_under_uvicorn_with_another_app(net: Net) -> None:
    io = roomcast.Server()
    log = ServerLog()
    install_echo(io, log)
    other = OtherApp()

    async with uvicorn_serving(io.asgi_app(other)) as base_url:
        assert other.lifespan == ["lifespan.startup"]
        assert await request(net.http, "GET", base_url + "/elsewhere") == (
            200,
            "other app /elsewhere",
        )
        await exercise_socketio(net, base_url)
        assert await request(net.http, "GET", base_url + "/socket.io-not") == (
            200,
            "other app /socket.io-not",
        )
        assert len(log.connected) == 2
        await net.aclose()  # the clients leave before uvicorn shuts down
    assert other.lifespan == ["lifespan.startup", "lifespan.shutdown"]


async def test_asgi_app_rejects_bad_handshakes_and_keeps_serving(net: Net) -> None:
    io = roomcast.Server()
    log = ServerLog()
    install_echo(io, log)

    async with uvicorn_serving(io.asgi_app(OtherApp())) as base_url:
        bystander = await net.websocket(base_url)
        await bystander.sio_connect()
        status, body = await request(
            net.http,
            "GET",
            base_url + SIO_PATH,
            params={"EIO": "4", "transport": "polling", "sid": "nope"},
        )
        assert status == 400
        assert body == '{"code":1,"message":"Session ID unknown"}'
        await bystander.send("garbage")
        await bystander.expect_closed()
        assert await log.disconnect_reason(log.connected[0]) == "parse error"

        survivor = await net.websocket(base_url)
        await survivor.sio_connect()
        await survivor.assert_echo()
        await net.aclose()


async def test_asgi_app_without_another_app(net: Net) -> None:
    io = roomcast.Server()
    install_echo(io, ServerLog())

    async with uvicorn_serving(io.asgi_app()) as base_url:
        status, _ = await request(net.http, "GET", base_url + "/elsewhere")
        assert status == 404
        await exercise_socketio(net, base_url)
        await net.aclose()


# -- a flooding client takes turns with the others on every host -------------------------


def flood_app() -> tuple[roomcast.Server, list[int], asyncio.Event]:
    """``noise`` counts, ``hello`` answers how many noises came before it."""
    io = roomcast.Server()
    noise: list[int] = []
    started = asyncio.Event()

    @io.on("noise")
    def on_noise(socket: roomcast.Socket) -> None:
        noise.append(1)
        started.set()

    @io.on("hello")
    def hello(socket: roomcast.Socket) -> int:
        return len(noise)

    return io, noise, started


async def flood_against(net: Net, base_url: str, noise: list[int], started: asyncio.Event) -> None:
    """One client writes 5000 events at once; another's event, sent once the server has
    started on them, is answered long before they are all handled; the 5000 all come."""
    host, port = base_url.removeprefix("http://").split(":")
    target = SIO_PATH + "?EIO=4&transport=websocket"
    flooder = await net.raw_websocket(host, int(port), target)
    other = await net.raw_websocket(host, int(port), target)
    for client in (flooder, other):
        assert (await client.recv_text()).startswith("0{")
        await client.send_text("40")
        assert (await client.recv_text()).startswith("40{")
    await flooder.send_texts(['42["noise"]'] * 5000)
    await asyncio.wait_for(started.wait(), WAIT)
    await other.send_text('421["hello"]')
    answer = await other.recv_text()
    assert answer.startswith("431["), answer
    assert int(answer[4:-1]) < 2500, answer
    await flooder.send_text('422["hello"]')
    assert await flooder.recv_text() == "432[5000]"
    assert len(noise) == 5000


async def test_a_flooding_client_takes_turns_under_aiohttp(
    net: Net, aiohttp_site: Callable[[web.Application], Awaitable[str]]
) -> None:
    io, noise, started = flood_app()
    app = web.Application()
    io.attach(app)
    await flood_against(net, await aiohttp_site(app), noise, started)


async def test_a_flooding_client_takes_turns_under_uvicorn(net: Net) -> None:
    io, noise, started = flood_app()
    async with uvicorn_serving(io.asgi_app()) as base_url:
        await flood_against(net, base_url, noise, started)


async def test_a_client_whose_handlers_pile_up_is_held_under_aiohttp(
    net: Net, aiohttp_site: Callable[[web.Application], Awaitable[str]]
) -> None:
    """Past ``MAX_PENDING`` unfinished handlers of one client, its messages are not pulled
    from aiohttp until half of them are done; the others are served meanwhile, and nothing
    of the held client's is lost."""
    io = roomcast.Server()
    install_echo(io, ServerLog())
    release = asyncio.Event()
    started: list[int] = []
    held, all_started = asyncio.Event(), asyncio.Event()

    @io.on("slow")
    async def slow(socket: roomcast.Socket, n: int) -> None:
        started.append(n)
        if len(started) == MAX_PENDING:
            held.set()
        if len(started) == 2000:
            all_started.set()
        await release.wait()

    app = web.Application()
    io.attach(app)
    base_url = await aiohttp_site(app)
    bystander = await net.websocket(base_url)
    await bystander.sio_connect()
    host, port = base_url.removeprefix("http://").split(":")
    raw = await net.raw_websocket(host, int(port), SIO_PATH + "?EIO=4&transport=websocket")
    assert (await raw.recv_text()).startswith("0{")
    await raw.send_text("40")
    assert (await raw.recv_text()).startswith("40{")

    await raw.send_texts([f'42["slow",{n}]' for n in range(2000)])
    await asyncio.wait_for(held.wait(), WAIT)
    for _ in range(10):  # many loop turns: the held client's messages stay unread
        await bystander.assert_echo()
    assert MAX_PENDING <= len(started) < MAX_PENDING + MESSAGES_PER_TURN

    release.set()
    await asyncio.wait_for(all_started.wait(), WAIT)
    assert started == list(range(2000))
    await bystander.assert_echo()
