"""What the Engine.IO server needs from an HTTP host, whichever host it is (aiohttp, ASGI)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final

from multidict import CIMultiDict, CIMultiDictProxy

from .origins import OriginPolicy, OriginsOption

ReadBody = Callable[[int], Awaitable[bytes]]
"""``await read_body(limit)``: the whole request body; raises PayloadTooLarge past limit."""


@dataclass(frozen=True, slots=True)
class HandshakeRequest:
    """The HTTP request that opened (or continues) an Engine.IO session."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: CIMultiDictProxy[str]
    address: str
    secure: bool
    url: str


@dataclass(slots=True)
class HttpResponse:
    """What to answer; the host calls ``undelivered()`` (when set) if writing it fails."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    undelivered: Callable[[], None] | None = None


class PendingResponse:
    """An answer that is not ready yet (a long-polling GET waiting for data).

    A host that can wait without a task adds a callback to ``ready``; once it is done, it
    calls ``response()`` and sends that. If the client goes away first, the host cancels
    ``ready`` and calls ``abandon()`` instead. Hosts that serve each request in a task
    ``await wait()``.
    """

    __slots__ = ("ready",)

    def __init__(self, ready: asyncio.Future[None]) -> None:
        self.ready = ready

    def response(self) -> HttpResponse:
        """The answer, once ``ready`` is done (and not cancelled)."""
        raise NotImplementedError

    def abandon(self) -> None:
        """The client went away before the answer was ready: nothing will be sent."""

    async def wait(self) -> HttpResponse:
        """Wait for the answer (in the task serving the request) and make it."""
        try:
            await self.ready
        except asyncio.CancelledError:  # the host saw the client go away
            self.abandon()
            raise
        return self.response()


class ErrorCode(IntEnum):
    """Engine.IO handshake error codes, sent as HTTP 400 ``{"code":N,"message":...}``."""

    UNKNOWN_TRANSPORT = 0
    UNKNOWN_SID = 1
    BAD_HANDSHAKE_METHOD = 2
    BAD_REQUEST = 3
    FORBIDDEN = 4
    UNSUPPORTED_PROTOCOL_VERSION = 5


_MESSAGES: Final = {
    ErrorCode.UNKNOWN_TRANSPORT: "Transport unknown",
    ErrorCode.UNKNOWN_SID: "Session ID unknown",
    ErrorCode.BAD_HANDSHAKE_METHOD: "Bad handshake method",
    ErrorCode.BAD_REQUEST: "Bad request",
    ErrorCode.FORBIDDEN: "Forbidden",
    ErrorCode.UNSUPPORTED_PROTOCOL_VERSION: "Unsupported protocol version",
}


def error_response(code: ErrorCode) -> HttpResponse:
    body = json.dumps(
        {"code": int(code), "message": _MESSAGES[code]}, separators=(",", ":")
    ).encode()
    status = 403 if code is ErrorCode.FORBIDDEN else 400
    return HttpResponse(status, body, {"Content-Type": "application/json"})


def text_response(text: str, content_type: str = "text/plain; charset=UTF-8") -> HttpResponse:
    return HttpResponse(200, text.encode(), {"Content-Type": content_type})


def make_headers(pairs: Sequence[tuple[str, str]]) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict(pairs))


@dataclass(frozen=True, slots=True)
class CorsPolicy:
    """Which origins may connect (both transports) and the CORS headers of the polling
    answers.

    ``origins`` (see ``origins.OriginPolicy``): None allows the server's own origin only
    and sends no CORS headers (a same-origin page needs none); ``"*"`` allows every origin;
    otherwise the allowed origins. An allowed request's origin is echoed back, so
    credentials work.
    """

    origins: OriginPolicy = field(default_factory=OriginPolicy)
    credentials: bool = True

    @classmethod
    def from_option(cls, option: OriginsOption, credentials: bool) -> CorsPolicy:
        return cls(OriginPolicy.from_option(option), credentials)

    def headers_for(self, request: HandshakeRequest) -> dict[str, str]:
        origins = self.origins.origins
        if origins is None:  # same origin only: no CORS headers
            return {}
        origin = request.headers.get("Origin")
        if origin is None or not ("*" in origins or origin in origins):
            return {}
        headers = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
        if self.credentials:
            headers["Access-Control-Allow-Credentials"] = "true"
        return headers

    def preflight(self, request: HandshakeRequest) -> HttpResponse:
        headers = self.headers_for(request)
        if headers:
            headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            wanted = request.headers.get("Access-Control-Request-Headers")
            if wanted:
                headers["Access-Control-Allow-Headers"] = wanted
            headers["Access-Control-Max-Age"] = "86400"
        return HttpResponse(204, b"", headers)
