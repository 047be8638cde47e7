"""Serving a route table as an ASGI application (uvicorn, Starlette, FastAPI...)."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from ..exceptions import PayloadTooLarge
from .http import HandshakeRequest, HttpResponse, ReadBody, make_headers
from .routes import Route, RouteTable, not_found
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
    """Serves the paths of a route table; other paths go to ``other_app``."""

    def __init__(self, routes: RouteTable, other_app: ASGIApplication | None = None) -> None:
        self.routes = routes
        self.other_app = other_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        route = self.routes.find(scope["path"]) if kind in ("http", "websocket") else None
        if route is not None and kind == "http":
            await self._http(route, scope, receive, send)
        elif route is not None and route.accepts_websocket:
            await self._websocket(route, scope, receive, send)
        elif self.other_app is not None and kind == "lifespan":
            await self.other_app(scope, self._closing_on_shutdown(receive), send)
        elif self.other_app is not None:
            await self.other_app(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "http":
            await _respond(send, not_found())
        elif kind == "websocket":
            await _refuse(scope, send, not_found())

    def _closing_on_shutdown(self, receive: Receive) -> Receive:
        """The other app's lifespan ``receive``: our clients are closed before its shutdown."""

        async def wrapped() -> MutableMapping[str, Any]:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                await self.routes.aclose()
            return message

        return wrapped

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.routes.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, route: Route, scope: Scope, receive: Receive, send: Send) -> None:
        response = await route.handle_http(handshake_request(scope), _body_reader(receive))
        try:
            await _respond(send, response)
        except OSError:  # the client went away
            if response.undelivered is not None:
                response.undelivered()

    async def _websocket(self, route: Route, scope: Scope, receive: Receive, send: Send) -> None:
        request = handshake_request(scope)
        if (await receive())["type"] != "websocket.connect":
            return
        error = await route.check_websocket(request)
        if error is not None:
            await _refuse(scope, send, error)
            return
        accept: dict[str, Any] = {"type": "websocket.accept"}
        subprotocol = route.subprotocol(request)
        if subprotocol is not None:
            accept["subprotocol"] = subprotocol
        await send(accept)
        link = AsgiLink(receive, send, route.max_message_size)
        await route.serve_websocket(request, link)


async def _refuse(scope: Scope, send: Send, response: HttpResponse) -> None:
    """Refuse a WebSocket with ``response`` where the server can send one (the ASGI
    ``websocket.http.response`` extension), else with a close before accepting (403)."""
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 1008})
        return
    headers = [
        (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()
    ]
    await send(
        {"type": "websocket.http.response.start", "status": response.status, "headers": headers}
    )
    await send({"type": "websocket.http.response.body", "body": response.body})


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
            if message["type"] == "websocket.disconnect":
                self.close_code = int(message.get("code", 1005))
                self.close_reason = str(message.get("reason") or "")
            return None
        data: str | bytes | None = message.get("text")
        if data is None:
            data = message.get("bytes") or b""
        if len(data) > self._max_size:
            self.failure = f"message of {len(data)} bytes over the limit of {self._max_size}"
            await self.aclose(1009, "message too big")
            return None
        return data

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        await self.drain()
        if not self._closed:
            self._closed = True
            with contextlib.suppress(Exception):
                await self._send({"type": "websocket.close", "code": code, "reason": reason})


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
