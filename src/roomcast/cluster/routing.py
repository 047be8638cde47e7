"""No sticky sessions: a request for a session another process holds is served by that process.

Every worker has a tag, ``{node}-{index}`` (the node id is drawn by each ``roomcast serve``),
and every session id it makes starts with it: ``{tag}.{random}``. A polling request whose
session is not held here goes to the owner over a private connection and the owner's answer
is returned as it is; a WebSocket (an upgrade of such a session) is piped to the owner
byte for byte. The owner listens on a unix socket in the node's runtime directory
(``worker-{index}.sock``) for the workers of its own node, and, when Redis is configured,
on an internal TCP address that it announces in Redis under its tag for the other nodes.

A routed request carries ``X-Roomcast-Routed``; it is never routed again, so a request goes
through at most one extra process and a stale or forged sid ends in "Session ID unknown".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from ..exceptions import PayloadTooLarge
from ..transports.http import HandshakeRequest, HttpResponse, ReadBody

if TYPE_CHECKING:
    from redis.asyncio import Redis

logger = logging.getLogger("roomcast.routing")

ROUTED_HEADER: Final = "X-Roomcast-Routed"
"""Set on requests a worker routed to the owner of their session (they are not routed again)."""

Address = str | tuple[str, int]
"""Where a worker can be reached: a unix socket path, or a TCP (host, port)."""

_NODE: Final = re.compile(r"[A-Za-z0-9]{1,32}")
_TAG: Final = re.compile(r"([A-Za-z0-9]{1,32})-(\d{1,4})")
_NOT_FORWARDED: Final = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding"}
    | {"upgrade", "content-length", ROUTED_HEADER.lower()}
)
"""Hop-by-hop headers (and ours). ``Host`` goes on as the client sent it: the owner checks
a browser's ``Origin`` against it."""
_NOT_RETURNED: Final = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "date", "server"}
)


def new_node_id() -> str:
    """A random node id (letters and digits, so that it can start a session id)."""
    return secrets.token_hex(4)


def worker_tag(node: str, index: int) -> str:
    """The tag of worker ``index`` of ``node``: what its session ids start with."""
    if not _NODE.fullmatch(node):
        raise ValueError(f"a node id is 1 to 32 letters or digits, not {node!r}")
    return f"{node}-{index}"


def worker_socket(runtime_dir: str | Path, index: int) -> str:
    """The private unix socket of worker ``index`` in a node's runtime directory."""
    return str(Path(runtime_dir) / f"worker-{index}.sock")


def owner_tag(sid: str) -> str | None:
    """The tag of the worker that made session id ``sid`` (None if it names no worker)."""
    tag, dot, _ = sid.partition(".")
    return tag if dot and _TAG.fullmatch(tag) else None


@dataclass(slots=True)
class RouterStats:
    """What a router did: requests answered by their owner, WebSockets piped, failures."""

    forwarded: int = 0
    piped: int = 0
    failed: int = 0


class Router:
    """The ``SessionRouter`` of one worker (``EngineServer.router``).

    Args:
        node: this node's id.
        index: this worker's index on the node.
        workers: how many workers the node has.
        runtime_dir: where the node's workers have their private unix sockets.
        registry: where the workers of other nodes announce themselves (Redis), if any.
        max_payload: the largest POST body forwarded (the server's ``max_http_buffer_size``).
        connect_timeout: seconds to reach an owner.
        read_timeout: seconds an owner may stay silent on a request (a long-poll lasts up to
            the ping interval).
    """

    def __init__(
        self,
        node: str,
        index: int,
        *,
        workers: int,
        runtime_dir: str | Path,
        registry: Registry | None = None,
        max_payload: int = 1_000_000,
        connect_timeout: float = 5.0,
        read_timeout: float = 120.0,
    ) -> None:
        self.node = node
        self.index = index
        self.tag = worker_tag(node, index)
        self.workers = workers
        self.runtime_dir = Path(runtime_dir)
        self.registry = registry
        self.max_payload = max_payload
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.stats = RouterStats()
        self._clients: dict[Address, aiohttp.ClientSession] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def new_sid(self) -> str:
        return f"{self.tag}.{secrets.token_urlsafe(15)}"

    async def locate(self, request: HandshakeRequest) -> Address | None:
        """Where the owner of ``request``'s session listens; None when it is not routable
        (no sid, held here, already routed once, or no such worker)."""
        if ROUTED_HEADER in request.headers:
            return None
        tag = owner_tag(request.query.get("sid", ""))
        if tag is None or tag == self.tag:
            return None
        node, _, index = tag.rpartition("-")
        if node == self.node:
            return (
                worker_socket(self.runtime_dir, int(index)) if int(index) < self.workers else None
            )
        if self.registry is None:
            return None
        return await self.registry.lookup(tag)

    # -- long-polling ------------------------------------------------------------------------

    async def forward_http(
        self, request: HandshakeRequest, read_body: ReadBody
    ) -> HttpResponse | None:
        address = await self.locate(request)
        if address is None:
            return None
        body = b""
        if request.method == "POST":
            try:
                body = await read_body(self.max_payload)
            except PayloadTooLarge:
                return HttpResponse(413, b"Payload Too Large", {"Content-Type": "text/plain"})
        try:
            status, payload, reply_headers = await self._send(address, request, body)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            self._failed(address, request, exc)
            return None
        self.stats.forwarded += 1
        kept = {
            name: value
            for name, value in reply_headers.items()
            if name.lower() not in _NOT_RETURNED and not name.lower().startswith("access-control-")
        }
        response = HttpResponse(status, payload, kept)
        if request.method == "GET" and status == 200:
            response.undelivered = lambda: self._spawn(self._lost(address, request))
        return response

    async def _send(
        self, address: Address, request: HandshakeRequest, body: bytes, method: str = ""
    ) -> tuple[int, bytes, Mapping[str, str]]:
        """``request`` (with ``body``) to the worker at ``address``: its status, body, headers."""
        headers = CIMultiDict(
            (name, value)
            for name, value in request.headers.items()
            if name.lower() not in _NOT_FORWARDED
        )
        headers[ROUTED_HEADER] = self.tag
        host = "roomcast" if isinstance(address, str) else f"{address[0]}:{address[1]}"
        url = URL(f"http://{host}{request.url}", encoded=True)
        client = self._client(address)
        async with client.request(
            method or request.method, url, headers=headers, data=body or None, allow_redirects=False
        ) as reply:
            return reply.status, await reply.read(), reply.headers

    async def _lost(self, address: Address, request: HandshakeRequest) -> None:
        """The owner's poll answer did not reach the client: the packets in it are lost, so
        the session must end, as it does when the owner itself cannot deliver a poll answer.
        The owner is told with a CLOSE packet from the client's side."""
        sid = request.query.get("sid")
        logger.info("closing %s: its routed poll response could not be delivered", sid)
        with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
            await self._send(address, request, b"1", "POST")

    async def ask_siblings(self, target: str, timeout: float = 5.0) -> list[bytes | None]:
        """GET ``target`` from each other worker of this node, over their private unix
        sockets: their bodies, None for a worker that did not answer 200 in time (one being
        restarted)."""

        async def ask(index: int) -> bytes | None:
            client = self._client(worker_socket(self.runtime_dir, index))
            try:
                async with asyncio.timeout(timeout):
                    async with client.get(f"http://{worker_tag(self.node, index)}{target}") as r:
                        return await r.read() if r.status == 200 else None
            except (aiohttp.ClientError, OSError, TimeoutError):
                return None

        others = [index for index in range(self.workers) if index != self.index]
        return list(await asyncio.gather(*(ask(index) for index in others)))

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _client(self, address: Address) -> aiohttp.ClientSession:
        client = self._clients.get(address)
        if client is None or client.closed:
            connector: aiohttp.BaseConnector
            if isinstance(address, str):
                connector = aiohttp.UnixConnector(address, limit=0)
            else:
                connector = aiohttp.TCPConnector(limit=0)
            timeout = aiohttp.ClientTimeout(
                total=None, sock_connect=self.connect_timeout, sock_read=self.read_timeout
            )
            client = aiohttp.ClientSession(  # the client's own Accept-Encoding, or none
                connector=connector,
                timeout=timeout,
                auto_decompress=False,
                skip_auto_headers=("Accept-Encoding",),
            )
            self._clients[address] = client
        return client

    def _failed(self, address: Address, request: HandshakeRequest, exc: BaseException) -> None:
        self.stats.failed += 1
        sid = request.query.get("sid", "")
        logger.info("could not route %s %s to %s: %s", request.method, sid, address, exc)
        if self.registry is not None and (tag := owner_tag(sid)) is not None:
            self.registry.forget(tag)

    # -- WebSocket -------------------------------------------------------------------------

    async def connect(
        self, request: HandshakeRequest, protocol: Callable[[], asyncio.Protocol]
    ) -> asyncio.Transport | None:
        address = await self.locate(request)
        if address is None:
            return None
        loop = asyncio.get_running_loop()
        try:
            if isinstance(address, str):
                opening = loop.create_unix_connection(protocol, address)
            else:
                opening = loop.create_connection(protocol, *address)
            transport, _ = await asyncio.wait_for(opening, self.connect_timeout)
        except (OSError, TimeoutError) as exc:
            self._failed(address, request, exc)
            return None
        transport.write(request_head(request, self.tag))
        self.stats.piped += 1
        return transport

    async def aclose(self) -> None:
        """Close the connections to other workers."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=self.connect_timeout)
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()


def request_head(request: HandshakeRequest, tag: str) -> bytes:
    """The head of ``request`` as the owner must receive it (marked as routed by ``tag``)."""
    lines = [f"{request.method} {request.url} HTTP/1.1"]
    lines.extend(
        f"{name}: {value}"
        for name, value in request.headers.items()
        if name.lower() != ROUTED_HEADER.lower()
    )
    lines.append(f"{ROUTED_HEADER}: {tag}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Registry:
    """Where the workers of every node can be reached, kept in Redis.

    Each worker sets ``{key}-roomcast-route#{tag}`` to its internal ``host:port`` with an
    expiry and refreshes it; the others read it on first need and remember it (an address
    never changes for a tag: a restarted node draws a new node id).

    Args:
        redis: a redis-py asyncio client.
        key: the cluster's channel prefix (the adapter's ``key``).
        ttl: seconds an announcement lives unless refreshed (refreshed at a third of it).
    """

    def __init__(self, redis: Redis, *, key: str = "socket.io", ttl: float = 30.0) -> None:
        self.redis = redis
        self.key = key
        self.ttl = ttl
        self._known: OrderedDict[str, tuple[str, int]] = OrderedDict()
        self._unknown: OrderedDict[str, float] = OrderedDict()  # tag -> until when
        self._refresher: asyncio.Task[None] | None = None

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Registry:
        """A registry on the Redis at ``url`` (needs the redis extra)."""
        from redis.asyncio import Redis

        return cls(Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=5.0), **options)

    def _name(self, tag: str) -> str:
        return f"{self.key}-roomcast-route#{tag}"

    async def announce(self, tag: str, address: tuple[str, int]) -> None:
        """Publish where ``tag`` listens, now and every ``ttl / 3`` seconds."""
        value = f"{address[0]}:{address[1]}"
        await self._set(tag, value)
        self._refresher = asyncio.create_task(self._refresh(tag, value))

    async def _set(self, tag: str, value: str) -> None:
        try:
            await self.redis.set(self._name(tag), value, px=int(self.ttl * 1000))
        except Exception as exc:  # Redis is down: the next refresh tries again
            logger.warning("could not announce the route of %s in Redis: %s", tag, exc)

    async def _refresh(self, tag: str, value: str) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            await self._set(tag, value)

    async def lookup(self, tag: str) -> tuple[str, int] | None:
        """Where ``tag`` listens (None when Redis does not know it or cannot be reached)."""
        if tag in self._known:
            self._known.move_to_end(tag)
            return self._known[tag]
        now = asyncio.get_running_loop().time()
        if self._unknown.get(tag, 0.0) > now:
            return None  # asked a moment ago (a stale or forged sid): not again yet
        try:
            raw = await self.redis.get(self._name(tag))
        except Exception as exc:
            logger.warning("could not look up the route of %s in Redis: %s", tag, exc)
            return None
        address = _address(raw)
        table: OrderedDict[str, Any] = self._known if address is not None else self._unknown
        table[tag] = address if address is not None else now + 2.0
        while len(table) > 4096:
            table.popitem(last=False)
        return address

    def forget(self, tag: str) -> None:
        """Drop what is remembered of ``tag`` (it could not be reached)."""
        self._known.pop(tag, None)

    async def aclose(self, withdraw: str | None = None) -> None:
        """Stop refreshing; delete the announcement of ``withdraw``; close the client."""
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        if withdraw is not None:
            with contextlib.suppress(Exception):
                await self.redis.delete(self._name(withdraw))
        with contextlib.suppress(Exception):
            await self.redis.aclose()


def _address(raw: Any) -> tuple[str, int] | None:
    if isinstance(raw, bytes):
        raw = raw.decode("latin-1")
    if not isinstance(raw, str):
        return None
    host, _, port = raw.rpartition(":")
    valid = host and port.isascii() and port.isdigit()  # "²" is a digit int() refuses
    return (host.strip("[]"), int(port)) if valid else None
