"""``io.route``: plain HTTP routes beside the Socket.IO path, on the native server and in
aiohttp, answering errors in the one error shape."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

import roomcast


def make_server() -> roomcast.Server:
    io = roomcast.Server()

    @io.route("/api/echo", methods=["POST"], max_body=100)
    async def echo(request: roomcast.HttpRequest) -> roomcast.HttpResponse:
        return roomcast.json_response(
            {"got": request.json(), "token": request.bearer_token()}, status=201
        )

    @io.route("/api/boom")
    async def boom(request: roomcast.HttpRequest) -> roomcast.HttpResponse:
        raise RuntimeError("secret detail")

    return io


@pytest.fixture(params=["native", "aiohttp"])
async def base(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    io = make_server()
    if request.param == "native":
        listener = await io.listen()
        yield f"http://127.0.0.1:{listener.port}"
        await listener.aclose()
    else:
        app = web.Application()
        io.attach(app)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        yield f"http://127.0.0.1:{port}"
        await runner.cleanup()


async def test_the_handler_answers_with_json(base: str) -> None:
    async with aiohttp.ClientSession() as http:
        headers = {"Authorization": "Bearer abc"}
        async with http.post(f"{base}/api/echo", json={"a": 1}, headers=headers) as response:
            assert response.status == 201
            assert response.headers["Content-Type"] == "application/json"
            assert await response.json() == {"got": {"a": 1}, "token": "abc"}


async def test_refusals_use_the_error_shape(base: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/api/echo") as response:
            assert response.status == 405
            assert response.headers["Allow"] == "POST"
            assert (await response.json())["_rc_error"]["code"] == "method_not_allowed"
        async with http.post(f"{base}/api/echo", data=b"x" * 101) as response:
            assert response.status == 413
            assert (await response.json())["_rc_error"]["code"] == "too_large"
        async with http.get(f"{base}/api/boom") as response:
            assert response.status == 500
            body = await response.json()
            assert body["_rc_error"]["code"] == "handler_error"
            assert "secret" not in str(body)


async def test_a_rate_limited_route_answers_429_with_retry_after() -> None:
    io = roomcast.Server()

    @io.route("/api/login", methods=["POST"], rate="1/min", burst=2)
    async def login(request: roomcast.HttpRequest) -> roomcast.HttpResponse:
        return roomcast.json_response({"ok": True})

    listener = await io.listen()
    try:
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{listener.port}/api/login"
            for _ in range(2):
                async with http.post(url) as response:
                    assert response.status == 200
            async with http.post(url) as response:
                assert response.status == 429
                assert 0 < int(response.headers["Retry-After"]) <= 60
                error = (await response.json())["_rc_error"]
                assert error["code"] == "rate_limited"
                assert 0 < error["details"]["retry_after"] <= 60
    finally:
        await listener.aclose()
