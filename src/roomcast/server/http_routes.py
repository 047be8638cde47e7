"""Plain HTTP routes served beside a server (a JSON API next to the Socket.IO path).

::

    @io.route("/api/notify", methods=["POST"])
    async def notify(request: roomcast.HttpRequest) -> roomcast.HttpResponse:
        note = request.json()
        await io.to(f"user-{note['user']}").emit("notification", note)
        return roomcast.json_response({"ok": True}, status=202)

The route is in the server's one route table, so it answers the same on every host (the
native server, ``attach`` into aiohttp, ``asgi_app``) and on every worker. A request whose
method is not listed gets 405; a body over ``max_body`` bytes gets 413; over the route's
``rate`` (per client address, a token bucket as for events: ``rate="10/min", burst=5``)
429 with ``Retry-After``; a handler that raises gets 500 (the traceback is logged, never
sent). Those answer with the error shape of event acks: ``{"_rc_error": {"code": ...,
"message": ..., "details": ...}}`` (``details.retry_after`` for 429).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from multidict import CIMultiDictProxy

from ..exceptions import PayloadTooLarge
from ..transports.http import HandshakeRequest, HttpResponse, ReadBody
from ..transports.routes import Route
from .limits import Limiter, RateLimit

logger = logging.getLogger("roomcast.http")

JSON_TYPE = "application/json"


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One HTTP request to a route: its head and its whole body."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: CIMultiDictProxy[str]
    address: str
    """The client's address (a trusted proxy's ``X-Forwarded-For`` is not applied here)."""
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON; raises ``ValueError`` when it is not JSON."""
        return json.loads(self.body)

    def bearer_token(self) -> str | None:
        """The token of an ``Authorization: Bearer`` header, if any."""
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        return token if scheme.lower() == "bearer" and token else None


HttpHandler = Callable[[HttpRequest], Awaitable[HttpResponse]]


def json_response(
    value: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> HttpResponse:
    """An ``HttpResponse`` carrying ``value`` as JSON."""
    body = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    return HttpResponse(
        status, body, {"Content-Type": JSON_TYPE, "Cache-Control": "no-store", **(headers or {})}
    )


def error_response(
    status: int, code: str, message: str, details: Any = None, **headers: str
) -> HttpResponse:
    """The error shape of event acks, as an HTTP answer with ``status``."""
    error = {"_rc_error": {"code": code, "message": message, "details": details}}
    return json_response(error, status, headers)


class HttpRoute(Route):
    """``handler`` answering ``methods`` at ``path`` (``io.route`` makes one)."""

    def __init__(
        self,
        path: str,
        handler: HttpHandler,
        *,
        methods: Iterable[str] = ("GET",),
        max_body: int = 64 * 1024,
        rate: RateLimit | str | float | None = None,
        burst: int | None = None,
    ) -> None:
        super().__init__()
        if isinstance(rate, RateLimit):
            limit: RateLimit | None = rate
        else:
            limit = None if rate is None else RateLimit(rate, burst, per="ip")
        self.limiter = None if limit is None else Limiter(limit)
        if not path.startswith("/"):
            raise ValueError(f"a route's path starts with '/': {path!r}")
        self.path = path
        self.handler = handler
        self.methods = frozenset(m.upper() for m in methods)
        if "GET" in self.methods:
            self.methods |= {"HEAD"}
        self.max_message_size = max_body

    def exact_paths(self) -> tuple[str, ...]:
        return (self.path,)

    async def handle_http(self, request: HandshakeRequest, read_body: ReadBody) -> HttpResponse:
        if request.method not in self.methods:
            return error_response(
                405,
                "method_not_allowed",
                f"{request.method} is not served at {self.path}",
                Allow=", ".join(sorted(self.methods)),
            )
        if self.limiter is not None:
            wait = self.limiter.take_key(request.address, time.monotonic())
            if wait:
                rejection = self.limiter.rejection(wait)
                return error_response(
                    429,
                    rejection.code,
                    rejection.message,
                    rejection.details,
                    **{"Retry-After": str(math.ceil(wait))},
                )
        try:
            body = await read_body(self.max_message_size)
        except PayloadTooLarge as exc:
            return error_response(
                413, "too_large", "the request body is too large", {"limit": exc.limit}
            )
        http = HttpRequest(
            request.method, request.path, request.query, request.headers, request.address, body
        )
        try:
            return await self.handler(http)
        except Exception:
            logger.exception("the handler of %s %s raised", request.method, self.path)
            return error_response(500, "handler_error", "the request could not be handled")
