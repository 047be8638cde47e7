"""The WebSocket opening handshake, server side (RFC 6455 section 4.2), sans-IO.

``handshake_error`` checks a client's upgrade request; a bad one is refused with 400 (or
426 for an unsupported version, with the version this server speaks) and a plain-text
reason in the body. ``accept_headers`` are the 101 response's headers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Final

from .http import HandshakeRequest, HttpResponse

GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TEXT: Final = {"Content-Type": "text/plain; charset=utf-8"}


def refusal(status: int, reason: str, headers: dict[str, str] | None = None) -> HttpResponse:
    """An HTTP refusal of a WebSocket with its reason as plain text."""
    return HttpResponse(status, reason.encode(), {**_TEXT, **(headers or {})})


def _tokens(value: str) -> list[str]:
    return [token.strip().lower() for token in value.split(",")]


def handshake_error(request: HandshakeRequest) -> HttpResponse | None:
    """Why ``request`` is not a valid WebSocket opening handshake, as the response to send;
    None when it is one."""
    headers = request.headers
    if request.method != "GET":
        return refusal(400, "Bad WebSocket handshake: the method must be GET")
    if "websocket" not in _tokens(headers.get("Upgrade", "")):
        return refusal(400, "Bad WebSocket handshake: missing Upgrade: websocket")
    if "upgrade" not in _tokens(",".join(headers.getall("Connection", []))):
        return refusal(400, "Bad WebSocket handshake: missing Connection: Upgrade")
    version = headers.get("Sec-WebSocket-Version")
    if version != "13":
        return refusal(
            426,
            f"Upgrade Required: Sec-WebSocket-Version {version!r} is not supported; use 13",
            {"Sec-WebSocket-Version": "13"},
        )
    key = headers.get("Sec-WebSocket-Key", "")
    try:
        raw = base64.b64decode(key.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raw = b""
    if len(raw) != 16:
        return refusal(400, "Bad WebSocket handshake: Sec-WebSocket-Key must be 16 bytes, base64")
    return None


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key``."""
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def offered_subprotocols(request: HandshakeRequest) -> list[str]:
    """The subprotocols the client offers, in its order."""
    offered = ",".join(request.headers.getall("Sec-WebSocket-Protocol", []))
    return [token.strip() for token in offered.split(",") if token.strip()]


def accept_headers(request: HandshakeRequest, subprotocol: str | None) -> list[tuple[str, str]]:
    """The headers of the 101 answer to a valid handshake."""
    headers = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", accept_key(request.headers.get("Sec-WebSocket-Key", ""))),
    ]
    if subprotocol is not None:
        headers.append(("Sec-WebSocket-Protocol", subprotocol))
    return headers
