"""The client's HTTP side, over aiohttp: where the server is (``Endpoint``), the long-polling
requests, and WebSocket frames to and from Engine.IO packets. Every network failure comes
out as ``ConnectionError`` (the cause chained)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

import aiohttp
from yarl import URL

from ..engineio import Packet, PacketType, Transport, decode_packet, encode_packet

WebSocket = aiohttp.ClientWebSocketResponse
NETWORK_ERRORS: Final = (aiohttp.ClientError, OSError)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where an Engine.IO server is: ``url`` is http(s)://host[:port]/path/."""

    url: URL
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)

    def for_transport(self, transport: Transport, sid: str | None) -> URL:
        """The URL of a request (polling) or WebSocket for ``transport``."""
        query = {**self.query, "EIO": "4", "transport": transport.value}
        if sid is not None:
            query["sid"] = sid
        url = self.url.with_query(query)
        if transport is Transport.WEBSOCKET:
            url = url.with_scheme("wss" if self.url.scheme == "https" else "ws")
        return url


async def poll(http: aiohttp.ClientSession, endpoint: Endpoint, sid: str | None) -> str:
    """One long-polling GET (the handshake when ``sid`` is None); the payload."""
    url = endpoint.for_transport(Transport.POLLING, sid)
    try:
        async with http.get(url, headers=endpoint.headers) as response:
            body = await response.read()
    except NETWORK_ERRORS as exc:
        raise ConnectionError(f"GET {url.with_query(None)} failed: {exc}") from exc
    text = body.decode("utf-8", errors="replace")
    if response.status != 200:
        raise ConnectionError(f"GET {url.with_query(None)} answered {response.status}: {text}")
    return text


async def post(http: aiohttp.ClientSession, endpoint: Endpoint, sid: str, payload: str) -> None:
    """One long-polling POST of ``payload``."""
    url = endpoint.for_transport(Transport.POLLING, sid)
    headers = {**endpoint.headers, "Content-Type": "text/plain;charset=UTF-8"}
    try:
        async with http.post(url, data=payload.encode(), headers=headers) as response:
            await response.read()
    except NETWORK_ERRORS as exc:
        raise ConnectionError(f"POST failed: {exc}") from exc
    if response.status != 200:
        raise ConnectionError(f"POST answered {response.status}")


async def open_websocket(
    http: aiohttp.ClientSession, endpoint: Endpoint, sid: str | None
) -> WebSocket:
    """A WebSocket to the server (a new session, or the upgrade probe of ``sid``)."""
    url = endpoint.for_transport(Transport.WEBSOCKET, sid)
    try:
        return await http.ws_connect(url, headers=endpoint.headers, max_msg_size=0)
    except aiohttp.WSServerHandshakeError as exc:
        raise ConnectionError(f"WebSocket handshake answered {exc.status}") from exc
    except NETWORK_ERRORS as exc:
        raise ConnectionError(f"WebSocket to {url.with_query(None)} failed: {exc}") from exc


async def send_frames(ws: WebSocket, packets: Iterable[Packet]) -> None:
    """Each packet as one frame: text, or binary for a binary MESSAGE."""
    try:
        for packet in packets:
            data = encode_packet(packet)
            if isinstance(data, bytes):
                await ws.send_bytes(data)
            else:
                await ws.send_str(data)
    except NETWORK_ERRORS as exc:
        raise ConnectionError(f"WebSocket send failed: {exc}") from exc


def frame_packet(message: aiohttp.WSMessage) -> Packet | None:
    """The Engine.IO packet of a WebSocket message; None when the WebSocket is closing.

    Raises:
        RemoteProtocolError: a text frame that is no Engine.IO packet.
    """
    if message.type is aiohttp.WSMsgType.TEXT:
        return decode_packet(message.data)
    if message.type is aiohttp.WSMsgType.BINARY:
        return Packet(PacketType.MESSAGE, message.data)
    return None
