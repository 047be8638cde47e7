"""Hosting as an ASGI application (uvicorn, Starlette, FastAPI...)."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from ..exceptions import PayloadTooLarge
from .engine import EngineServer
from .http import HandshakeRequest, HttpResponse, ReadBody, make_headers
from .websocket import QueuedLink

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApplication = Callable[[Scope, Receive, Send], Awaitable[None]]


def handshake_request(scope: Scope) -> HandshakeRequest:
    headers = make_headers(
        [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
    )
    query_string = scope.get("query_string", b"").decode("latin-1")
    client = scope.get("client") or ("", 0)
    path = scope.get("root_path", "") + scope["path"]
    return HandshakeRequest(
        method=scope.get("method", "GET"),
        path=path,
        query=dict(parse_qsl(query_string, keep_blank_values=True)),
        headers=headers,
        address=str(client[0]),
        secure=scope.get("scheme") in ("https", "wss"),
        url=path + ("?" + query_string if query_string else ""),
    )


class ASGIApp:
    """Serves an Engine.IO / Socket.IO server under its path; other paths go to ``other_app``."""

    def __init__(self, engine: EngineServer, other_app: ASGIApplication | None = None) -> None:
        self.engine = engine
        self.other_app = other_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind in ("http", "websocket") and self._serves(scope["path"]):
            if kind == "http":
                await self._http(scope, receive, send)
            else:
                await self._websocket(scope, receive, send)
        elif self.other_app is not None and kind == "lifespan":
            await self.other_app(scope, self._closing_on_shutdown(receive), send)
        elif self.other_app is not None:
            await self.other_app(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "http":
            await _respond(send, HttpResponse(404, b"Not Found", {"Content-Type": "text/plain"}))
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1000})

    def _closing_on_shutdown(self, receive: Receive) -> Receive:
        """The other app's lifespan ``receive``: our clients are closed before its shutdown."""

        async def wrapped() -> MutableMapping[str, Any]:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                await self.engine.aclose()
            return message

        return wrapped

    def _serves(self, path: str) -> bool:
        return path.startswith(self.engine.path) or path == self.engine.path.rstrip("/")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.engine.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.engine.handle_http(handshake_request(scope), _body_reader(receive))
        try:
            await _respond(send, response)
        except OSError:  # the client went away
            if response.undelivered is not None:
                response.undelivered()

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = handshake_request(scope)
        if (await receive())["type"] != "websocket.connect":
            return
        error = await self.engine.check_websocket(request)
        if error is not None:
            await send({"type": "websocket.close", "code": 1008})
            return
        await send({"type": "websocket.accept"})
        link = AsgiLink(receive, send, self.engine.config.max_payload)
        await self.engine.serve_websocket(request, link)


class AsgiLink(QueuedLink):
    """A WebSocket accepted through ASGI."""

    def __init__(self, receive: Receive, send: Send, max_size: int) -> None:
        async def send_text(text: str) -> None:
            await send({"type": "websocket.send", "text": text})

        async def send_bytes(data: bytes) -> None:
            await send({"type": "websocket.send", "bytes": data})

        super().__init__(send_text, send_bytes)
        self._receive = receive
        self._send = send
        self._max_size = max_size
        self._closed = False

    async def receive(self) -> str | bytes | None:
        if self._closed:
            return None
        message = await self._receive()
        if message["type"] != "websocket.receive":
            self._closed = True
            return None
        data: str | bytes | None = message.get("text")
        if data is None:
            data = message.get("bytes") or b""
        if len(data) > self._max_size:
            self.failure = f"message of {len(data)} bytes over the limit of {self._max_size}"
            await self.aclose(code=1009)
            return None
        return data

    async def aclose(self, code: int = 1000) -> None:
        await self.drain()
        if not self._closed:
            self._closed = True
            with contextlib.suppress(Exception):
                await self._send({"type": "websocket.close", "code": code})


def _body_reader(receive: Receive) -> ReadBody:
    async def read_body(limit: int) -> bytes:
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(size, limit)
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)

    return read_body


async def _respond(send: Send, response: HttpResponse) -> None:
    headers = [
        (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()
    ]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})
