"""The client side of one Engine.IO connection: the sans-IO ``EngineClientSession`` driven
over aiohttp's client (a WebSocket, or HTTP long-polling with an upgrade to WebSocket).

``EngineClient`` is what the Socket.IO client sees: ``open()`` does the handshake, ``send()``
queues a message, ``on_message`` / ``on_close`` report what happens, ``close()`` says goodbye
and ``wait_closed()`` returns once every task it ran has ended and its sockets are closed.
Each connection attempt gets a new ``EngineClient``, with its own aiohttp client session
(no HTTP connection kept alive from an earlier Engine.IO session is reused).

Tasks: one reads (the polling GET loop, or the WebSocket), one writes (POSTs, or WebSocket
frames) whatever the session queued, one probes the upgrade; a timer wakes the session
at its heartbeat deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Final

import aiohttp

from ..engineio import (
    Closed,
    CloseReason,
    EngineClientSession,
    Message,
    Opened,
    Packet,
    Transport,
    batch_for_polling,
    decode_payload,
    encode_packet,
    encode_payload,
)
from ..exceptions import ProtocolError, RemoteProtocolError
from .http import (
    NETWORK_ERRORS,
    Endpoint,
    WebSocket,
    frame_packet,
    open_websocket,
    poll,
    post,
    send_frames,
)

logger = logging.getLogger("roomcast.client")

_CLOSE_FLUSH: Final = 1.0  # seconds given to the goodbye (queued packets, then CLOSE)


class EngineClient:
    """One Engine.IO v4 connection to a server, from the client side.

    Args:
        endpoint: where the server is.
        on_message: called with each message the server sends, in order.
        on_close: called once, with the reason, when the connection is over.
        upgrade: whether to upgrade a polling connection to WebSocket when offered.
        upgrade_timeout: seconds the probe may take before polling is kept.
        connect_timeout: seconds a TCP connection may take.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        on_message: Callable[[str | bytes], None],
        on_close: Callable[[CloseReason], None],
        upgrade: bool = True,
        upgrade_timeout: float = 10.0,
        connect_timeout: float = 20.0,
    ) -> None:
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout)
        )
        self._endpoint = endpoint
        self._on_message = on_message
        self._on_close = on_close
        self._upgrade = upgrade
        self._upgrade_timeout = upgrade_timeout
        self._session = EngineClientSession(Transport.POLLING, upgrade=upgrade)
        self._loop = asyncio.get_running_loop()
        self._tasks: set[asyncio.Task[None]] = set()
        self._writer: asyncio.Task[None] | None = None
        self._prober: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._posting = False
        self._post_idle = asyncio.Event()
        self._polling_stopped = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._ws: WebSocket | None = None
        self._probe_ws: WebSocket | None = None
        self._closed: asyncio.Future[CloseReason] = self._loop.create_future()
        self._finishing: asyncio.Task[None] | None = None

    @property
    def transport(self) -> str:
        """The transport in use: ``polling`` or ``websocket``."""
        return self._session.transport.value

    @property
    def sid(self) -> str | None:
        return self._session.sid

    @property
    def closed(self) -> bool:
        return self._session.closed

    # -- opening ------------------------------------------------------------------------

    async def open(self, transport: Transport) -> Opened:
        """Do the handshake over ``transport`` and start the connection's tasks.

        Raises:
            ConnectionError: the server could not be reached or refused the handshake
                (the cause is chained). Bound the wait with ``asyncio.timeout``.
        """
        session = self._session = EngineClientSession(transport, upgrade=self._upgrade)
        try:
            if transport is Transport.POLLING:
                packets = decode_payload(await poll(self._http, self._endpoint, None))
            else:
                self._ws = await open_websocket(self._http, self._endpoint, None)
                packet = frame_packet(await self._ws.receive())
                packets = [] if packet is None else [packet]
        except RemoteProtocolError as exc:
            await self._abort_open()
            raise ConnectionError(f"invalid handshake from {self._endpoint.url}") from exc
        except BaseException:
            await self._abort_open()
            raise
        session.receive_packets(packets, now=self._loop.time())
        handshake = session.handshake
        if handshake is None or session.closed:
            await self._abort_open()
            raise ConnectionError(f"invalid handshake from {self._endpoint.url}")
        if transport is Transport.POLLING:
            self._spawn(self._poll())
        else:
            assert self._ws is not None
            self._spawn(self._read_ws(self._ws))
        self._writer = self._spawn(self._write())
        self._post_idle.set()
        if session.can_upgrade():
            self._prober = self._spawn(self._probe())
        self._pump()
        return handshake

    async def _abort_open(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(*NETWORK_ERRORS):
                await ws.close()
        await self._http.close()
        self._session.fail(CloseReason.TRANSPORT_ERROR)
        self._session.events_received()
        if not self._closed.done():
            self._closed.set_result(CloseReason.TRANSPORT_ERROR)

    # -- what the layer above calls -------------------------------------------------------

    def send(self, data: str | bytes) -> None:
        """Queue one message for the server; dropped once the connection is closed."""
        session = self._session
        session.send_message(data)
        if session.has_packets_to_send():
            self._wake.set()

    def close(self) -> None:
        """Close from this side: queued messages, then CLOSE, go out (briefly awaited)."""
        self._session.close()
        self._pump()

    def fail(self, reason: CloseReason) -> None:
        """Close at once without a goodbye (e.g. the layer above could not parse a message)."""
        self._session.fail(reason)
        self._pump()

    async def wait_closed(self) -> CloseReason:
        """Wait until the connection is closed and its tasks have ended; the reason."""
        return await asyncio.shield(self._closed)

    async def aclose(self) -> None:
        """``close()``, then ``wait_closed()``."""
        self.close()
        await self.wait_closed()

    # -- the sans-IO session's requests ----------------------------------------------------

    def _pump(self) -> None:
        session = self._session
        if session.has_packets_to_send():
            self._wake.set()
        for event in session.events_received():
            if isinstance(event, Message):
                self._on_message(event.data)
            elif isinstance(event, Closed):
                self._teardown(event.reason)
        self._arm_timer()

    def _arm_timer(self) -> None:
        deadline = self._session.next_deadline()
        timer = self._timer
        if timer is not None:
            if deadline is not None and timer.when() <= deadline:
                return  # it fires first; the session re-checks then
            timer.cancel()
            self._timer = None
        if deadline is not None:
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._session.handle_timeout(now=self._loop.time())
        self._pump()

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = self._loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _teardown(self, reason: CloseReason) -> None:
        if self._finishing is not None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        current = asyncio.current_task()
        others = [task for task in self._tasks if task is not current]
        goodbye = reason is CloseReason.FORCED_CLOSE  # ours: the writer sends CLOSE first
        for task in others:
            if not goodbye or task is self._prober:
                task.cancel()
        self._wake.set()
        self._finishing = self._loop.create_task(self._finish(reason, others, goodbye))
        try:
            self._on_close(reason)
        except Exception:
            logger.exception("error in an on_close callback")

    async def _finish(
        self, reason: CloseReason, tasks: list[asyncio.Task[None]], goodbye: bool
    ) -> None:
        """End the tasks (after the goodbye: CLOSE sent, the server's answer read), close
        the WebSockets, then report the connection closed."""
        if goodbye:
            deadline = self._loop.time() + _CLOSE_FLUSH
            writer = self._writer
            if writer is not None and not writer.done():
                await asyncio.wait({writer}, timeout=_CLOSE_FLUSH)
            await self._close_websockets()  # ends the WebSocket reader
            pending = [task for task in tasks if not task.done()]
            if pending:
                await asyncio.wait(pending, timeout=max(0.0, deadline - self._loop.time()))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._close_websockets()
        await self._http.close()
        self._closed.set_result(reason)

    async def _close_websockets(self) -> None:
        for ws in (self._ws, self._probe_ws):
            if ws is not None:
                with contextlib.suppress(*NETWORK_ERRORS):
                    await ws.close()
        self._ws = self._probe_ws = None

    # -- HTTP long-polling ----------------------------------------------------------------

    async def _poll(self) -> None:
        session = self._session
        try:
            while (
                not session.closed and session.transport is Transport.POLLING and not session.paused
            ):
                try:
                    packets = decode_payload(await poll(self._http, self._endpoint, session.sid))
                except ConnectionError as exc:
                    logger.info("polling failed: %s", exc)
                    session.fail(CloseReason.TRANSPORT_ERROR)
                except RemoteProtocolError:
                    session.fail(CloseReason.PARSE_ERROR)
                else:
                    session.receive_packets(packets, now=self._loop.time())
                self._pump()
        finally:
            self._polling_stopped.set()

    # -- writing --------------------------------------------------------------------------

    async def _write(self) -> None:
        session = self._session
        while True:
            packets = session.packets_to_send()
            if packets:
                try:
                    await self._write_packets(packets)
                except ConnectionError as exc:
                    logger.info("sending failed: %s", exc)
                    session.fail(CloseReason.TRANSPORT_ERROR)
                    self._pump()
                    return
                continue
            if session.closed:
                return
            self._wake.clear()
            await self._wake.wait()

    async def _write_packets(self, packets: list[Packet]) -> None:
        ws = self._ws
        if self._session.transport is Transport.WEBSOCKET and ws is not None:
            await send_frames(ws, packets)
            return
        handshake = self._session.handshake
        limit = handshake.max_payload if handshake is not None else 0
        self._posting = True
        self._post_idle.clear()
        try:
            sid = self._session.sid
            assert sid is not None
            for batch in batch_for_polling(packets, limit):
                await post(self._http, self._endpoint, sid, encode_payload(batch))
        finally:
            self._posting = False
            self._post_idle.set()

    # -- WebSocket ------------------------------------------------------------------------

    async def _read_ws(self, ws: WebSocket) -> None:
        session = self._session
        reason = CloseReason.TRANSPORT_CLOSE
        try:
            async for message in ws:
                packet = frame_packet(message)
                if packet is None:
                    reason = CloseReason.TRANSPORT_ERROR
                    break
                session.receive_packets([packet], now=self._loop.time())
                self._pump()
                if session.closed:
                    return
        except RemoteProtocolError:
            reason = CloseReason.PARSE_ERROR
        except NETWORK_ERRORS:
            reason = CloseReason.TRANSPORT_ERROR
        session.fail(reason)
        self._pump()

    async def _probe(self) -> None:
        """Upgrade to WebSocket: probe, pause polling, switch (or stay on polling)."""
        session = self._session
        try:
            ws = self._probe_ws = await open_websocket(self._http, self._endpoint, session.sid)
            await ws.send_str(str(encode_packet(session.start_probe())))
            async with asyncio.timeout(self._upgrade_timeout):
                answer = frame_packet(await ws.receive())
            if answer is None or not session.receive_probe(answer):
                raise ConnectionError("the server did not answer the probe")
            await self._polling_stopped.wait()
            while self._posting:
                await self._post_idle.wait()
            if session.closed:
                return
            session.finish_upgrade()
            self._ws, self._probe_ws = ws, None
            self._spawn(self._read_ws(ws))
        except (ConnectionError, TimeoutError, ProtocolError, *NETWORK_ERRORS) as exc:
            logger.info("staying on polling: %r", exc)
            session.cancel_upgrade()
            ws_, self._probe_ws = self._probe_ws, None
            if ws_ is not None:
                with contextlib.suppress(*NETWORK_ERRORS):
                    await ws_.close()
        self._pump()
