"""``Client``: the public asyncio Socket.IO client."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, overload

from yarl import URL

from ..engineio import Transport
from ..exceptions import InvalidState
from ..socketio import Parser
from .http import Endpoint
from .manager import MANAGER_EVENTS, ClientOptions, Manager
from .socket import Auth, ClientSocket, H


class Client:
    """An asyncio Socket.IO v4 client (protocol v5), for roomcast or any Socket.IO server.

    The client's own ``on``, ``emit``, ``emit_with_ack``, ``sid``, ``connected`` and
    ``recovered`` are those of the main namespace ``/``; ``socket(name)`` gives the others,
    which share the same connection.

    Args:
        reconnection: reconnect when the connection drops (not after ``disconnect()``,
            and not after the server disconnected every namespace).
        reconnection_attempts: give up after this many failed attempts (None: never).
        reconnection_delay: the first delay before reconnecting, in seconds; each next one
            doubles, up to ``reconnection_delay_max``.
        reconnection_delay_max: the longest delay between attempts.
        randomization_factor: jitter, 0 to 1: each delay moves up or down by up to this
            fraction of itself.
        timeout: seconds a connection attempt (and ``connect()``) may take.
        retries: re-send each emit until the server acks it, at most this many more times
            (``ack_timeout`` per try); the same ack id each time, so a server can
            de-duplicate. Emits then go one at a time, in order.
        ack_timeout: the default ``timeout`` of ``emit_with_ack`` (None: wait forever).
        buffer_size: how many emits may wait while disconnected (or for their ack with
            ``retries``); past it ``emit`` raises ``InvalidState``.
        path: the server's Socket.IO path.
        transports: ``("polling", "websocket")`` opens with long-polling and upgrades;
            ``("websocket",)`` uses WebSocket only; ``("polling",)`` never upgrades.
        parser: how packets are written, as the server expects them: ``"json"`` (the
            default) or ``"msgpack"`` (``socket.io-msgpack-parser``'s format; needs the
            ``msgpack`` package, ``roomcast[msgpack]``), or a ``Parser``.
    """

    def __init__(
        self,
        *,
        reconnection: bool = True,
        reconnection_attempts: int | None = None,
        reconnection_delay: float = 1.0,
        reconnection_delay_max: float = 5.0,
        randomization_factor: float = 0.5,
        timeout: float = 20.0,
        retries: int = 0,
        ack_timeout: float | None = None,
        buffer_size: int = 1000,
        path: str = "/socket.io/",
        transports: Sequence[str] = ("polling", "websocket"),
        parser: str | Parser = "json",
    ) -> None:
        options = ClientOptions(
            reconnection=reconnection,
            reconnection_attempts=reconnection_attempts,
            reconnection_delay=reconnection_delay,
            reconnection_delay_max=reconnection_delay_max,
            randomization_factor=randomization_factor,
            timeout=timeout,
            retries=retries,
            ack_timeout=ack_timeout,
            buffer_size=buffer_size,
            path="/" + path.strip("/") + "/",
            transports=_transports(transports),
            parser=parser,
        )
        self._manager = Manager(options)
        self._main = self._manager.socket("/")

    def __repr__(self) -> str:
        return f"<Client {self.sid or 'disconnected'}>"

    # -- namespaces and handlers ------------------------------------------------------------

    def socket(self, namespace: str = "/", *, auth: Auth = None) -> ClientSocket:
        """The client's socket for ``namespace`` (created on first use); ``auth`` replaces
        the CONNECT payload it sends."""
        return self._manager.socket(_namespace(namespace), auth)

    @overload
    def on(self, event: str) -> Callable[[H], H]: ...
    @overload
    def on(self, event: str, handler: H) -> H: ...
    def on(self, event: str, handler: H | None = None) -> H | Callable[[H], H]:
        """Register a handler (or use as a decorator).

        ``reconnect_attempt(attempt)``, ``reconnect(attempt)``, ``reconnect_error(exc)`` and
        ``reconnect_failed()`` are the connection's; any other event is the main
        namespace's: ``connect()``, ``connect_error(exc)``, ``disconnect(reason)``, and
        ``<event>(*args)`` whose return value is the ack.
        """

        def register(fn: H) -> H:
            if event in MANAGER_EVENTS:
                self._manager.on(event, fn)
            else:
                self._main.on(event, fn)
            return fn

        return register if handler is None else register(handler)

    def on_any(self, handler: H) -> H:
        """``handler(event, *args)`` for every event of the main namespace."""
        return self._main.on_any(handler)

    # -- connecting -------------------------------------------------------------------------

    async def connect(
        self,
        url: str,
        *,
        namespaces: Iterable[str] | None = None,
        auth: Auth = None,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        transports: Sequence[str] | None = None,
        retry: bool = False,
    ) -> None:
        """Connect to ``url`` and to each namespace; return once the server accepted them all.

        Args:
            url: ``http(s)://`` or ``ws(s)://`` host and port; a path in it is the namespace
                to connect to when ``namespaces`` is not given (as with socket.io-client),
                and its query goes with every request.
            namespaces: the namespaces to connect to, over one connection.
            auth: the CONNECT payload (a dict), or a function (sync or async) returning it,
                called again at each reconnection; for every namespace given here.
            headers: extra HTTP headers for every request and the WebSocket handshake.
            query: extra query parameters for every request.
            transports: overrides the client's ``transports`` for this connection.
            retry: when the first attempt fails, go on with the reconnection policy instead
                of raising at once.

        Raises:
            ConnectionRefused: a namespace was refused (``message`` and ``data``).
            ConnectionError: the server could not be reached (or reconnection gave up).
            TimeoutError: no answer within ``timeout``.
            InvalidState: already connected.
        """
        options = self._manager.options
        base, default_namespace, url_query = _parse_url(url, options.path)
        names = [_namespace(n) for n in namespaces] if namespaces else [default_namespace]
        sockets = [self.socket(name) for name in dict.fromkeys(names)]
        if self._manager.running:
            raise InvalidState("the client is connected already; disconnect() first")
        for socket in sockets:
            if auth is not None:
                socket.auth = auth
            socket.activate()
        endpoint = Endpoint(base, {**url_query, **(query or {})}, dict(headers or {}))
        chosen = _transports(transports) if transports is not None else options.transports
        self._manager.start(endpoint, tuple(Transport(t) for t in chosen), retry)
        try:
            async with asyncio.timeout(None if retry else options.timeout):
                for socket in sockets:
                    await socket.wait_connected()
        except BaseException:
            await self.disconnect()
            raise

    async def disconnect(self) -> None:
        """Leave every namespace, close the connection, stop reconnecting, end every task.
        Whatever waits (acks, buffered emits) fails with ``ConnectionClosed``."""
        for socket in list(self._manager.sockets.values()):
            socket.close()
        await self._manager.aclose()

    async def wait(self) -> None:
        """Wait until the client is disconnected for good (by ``disconnect()``, by the server,
        or when reconnection gave up)."""
        await self._manager.wait()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.disconnect()

    # -- the main namespace -----------------------------------------------------------------

    async def emit(self, event: str, *args: Any, volatile: bool = False) -> None:
        """``emit`` on the main namespace (see ``ClientSocket.emit``)."""
        await self._main.emit(event, *args, volatile=volatile)

    async def emit_with_ack(self, event: str, *args: Any, timeout: float | None = None) -> Any:
        """``emit_with_ack`` on the main namespace (see ``ClientSocket.emit_with_ack``)."""
        return await self._main.emit_with_ack(event, *args, timeout=timeout)

    @property
    def connected(self) -> bool:
        """Whether the main namespace is connected."""
        return self._main.connected

    @property
    def sid(self) -> str | None:
        """The main namespace's socket id; None while not connected."""
        return self._main.sid

    @property
    def recovered(self) -> bool:
        """Whether the main namespace's last connection recovered its previous session."""
        return self._main.recovered

    @property
    def transport(self) -> str | None:
        """``polling`` or ``websocket`` while the connection is open, else None."""
        return self._manager.transport


def _transports(names: Sequence[str]) -> tuple[str, ...]:
    if isinstance(names, str):
        names = [names]
    known = {t.value for t in Transport}
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise ValueError(f"unknown transports {unknown}; choose among {sorted(known)}")
    return tuple(dict.fromkeys(names))


def _namespace(name: str) -> str:
    return name if name.startswith("/") else "/" + name


def _parse_url(url: str, path: str) -> tuple[URL, str, dict[str, str]]:
    """The server's Socket.IO URL, the namespace in ``url``, and the query of ``url``."""
    parsed = URL(url)
    scheme = {"ws": "http", "wss": "https"}.get(parsed.scheme, parsed.scheme)
    if scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"not an http(s):// or ws(s):// URL: {url!r}")
    namespace = parsed.path if parsed.path not in ("", "/") else "/"
    base = parsed.with_scheme(scheme).with_path(path).with_query(None).with_fragment(None)
    return base, namespace, dict(parsed.query)
