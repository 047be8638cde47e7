"""One client of a plain WebSocket endpoint, as handlers see it."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from ..exceptions import ConnectionClosed
from ..transports.http import HandshakeRequest
from ..transports.websocket import RawOutgoing, WebSocketLink

if TYPE_CHECKING:
    from multidict import CIMultiDictProxy

    from .endpoint import WebSocketEndpoint

logger = logging.getLogger("roomcast.websocket")

UNREAD: Final = 256
"""Messages received and not yet read by the handler past which the client is not read
(its link is held) until the handler has read half of them."""

ABNORMAL = 1006


class WebSocket:
    """A plain WebSocket client of an endpoint.

    Read with ``async for message in ws`` (or ``await ws.receive()``), write with
    ``await ws.send(text_or_bytes)``, end with ``await ws.close(code, reason)``. ``request``
    is the HTTP request that opened it (path, query, headers, address); ``data`` is free for
    the application.
    """

    __slots__ = (
        "_link",
        "_messages",
        "_waiter",
        "awaiting_pong",
        "close_code",
        "close_reason",
        "closed",
        "data",
        "endpoint",
        "next_ping",
        "request",
        "subprotocol",
        "timer_slot",
    )

    def __init__(
        self,
        endpoint: WebSocketEndpoint,
        request: HandshakeRequest,
        link: WebSocketLink,
        subprotocol: str | None,
    ) -> None:
        self.endpoint = endpoint
        self.request = request
        self.subprotocol = subprotocol
        """The subprotocol agreed in the handshake, if any."""
        self.data: Any = None
        self.closed = False
        self.close_code: int | None = None
        """Once closed: the code of the close (1006: the connection was lost)."""
        self.close_reason = ""
        self._link = link
        self._messages: deque[str | bytes] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self.awaiting_pong = False
        self.next_ping = 0.0
        self.timer_slot: int | None = None

    # -- the request --------------------------------------------------------------------

    @property
    def path(self) -> str:
        return self.request.path

    @property
    def query(self) -> Mapping[str, str]:
        return self.request.query

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        return self.request.headers

    @property
    def address(self) -> str:
        return self.request.address

    # -- sending ------------------------------------------------------------------------

    async def send(self, data: str | bytes, *, compress: bool = True) -> None:
        """Send one message: text as a text frame, bytes as a binary one (compressed when
        permessage-deflate was agreed and it is over the threshold, unless ``compress`` is
        False). Never waits for the network (frames of one loop tick leave in one write);
        raises ConnectionClosed once closed."""
        self.send_nowait(data, compress=compress)

    def send_nowait(self, data: str | bytes, *, compress: bool = True) -> None:
        """``send`` without the ``await``."""
        if self.closed:
            raise ConnectionClosed(f"the WebSocket is closed ({self.close_code})")
        if compress:
            self._link.send_encoded(data)
        else:
            self._link.send_outgoing(RawOutgoing(data, compress=False))

    @property
    def link(self) -> WebSocketLink:
        """The link the frames go through (broadcasts write to it)."""
        return self._link

    def buffered_amount(self) -> int:
        """Bytes accepted by ``send`` and not yet handed to the kernel."""
        return self._link.buffered_amount()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close with ``code`` and ``reason`` (what is queued goes out first)."""
        if self.closed:
            return
        self._closed(code, reason)
        await self._link.aclose(code, reason)

    # -- receiving ----------------------------------------------------------------------

    def __aiter__(self) -> WebSocket:
        return self

    async def __anext__(self) -> str | bytes:
        try:
            return await self.receive()
        except ConnectionClosed:
            raise StopAsyncIteration from None

    @property
    def unread(self) -> int:
        """Messages received and not read yet: ``UNREAD`` at most, and those of the loop
        turn that reached it (then the client is not read until half of them are)."""
        messages = self._messages
        return len(messages) if messages else 0

    async def receive(self) -> str | bytes:
        """The next message (str for text, bytes for binary); raises ConnectionClosed once
        the WebSocket is closed and every message before the close was read."""
        while True:
            messages = self._messages
            if messages:
                if len(messages) == UNREAD // 2:  # the handler caught up: read on
                    self._link.hold_reading(False)
                return messages.popleft()
            if self.closed:
                raise ConnectionClosed(f"the WebSocket is closed ({self.close_code})")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- what the link reports (the Receiver protocol) ---------------------------------------

    def websocket_message(self, link: WebSocketLink, data: str | bytes) -> None:
        if self.closed:
            return
        endpoint = self.endpoint
        if endpoint.message_handler is not None:
            endpoint.dispatch_message(self, data)
            return
        if self._messages is None:
            self._messages = deque()
        self._messages.append(data)
        if len(self._messages) == UNREAD:  # the handler is behind: stop reading the client
            self._link.hold_reading(True)
        self._wake()

    def websocket_closed(self, link: WebSocketLink, failure: str | None = None) -> None:
        if self.closed:
            return
        if failure is not None:
            logger.info("WebSocket of %s on %s closed: %s", self.address, self.path, failure)
        code = link.close_code
        self._closed(ABNORMAL if code is None else code, link.close_reason)

    def _closed(self, code: int, reason: str) -> None:
        self.closed = True
        self.close_code, self.close_reason = code, reason
        self._wake()
        self.endpoint.forget(self)

    def __repr__(self) -> str:
        state = f"closed {self.close_code}" if self.closed else "open"
        return f"<WebSocket {self.path} from {self.address} {state}>"
