"""Helpers for the worker tests: ``roomcast serve`` processes, a round-robin proxy, a raw
Engine.IO polling client, and the node client driver of the interop tests.

Every process and connection a test starts is stopped at teardown within bounded time; ports
are picked by the kernel (``--port 0``, read back from the server's log).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import secrets
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp

from integration.support import WAIT, NodeClient, RecordLog, seconds

HERE = Path(__file__).resolve().parent
APP = "workers_app:build"
REDIS_URL = "redis://127.0.0.1:6379"
_SERVING = re.compile(r"serving https?://[^:]+:(\d+) \(node (\w+),")


def redis_answers(host: str = "127.0.0.1", port: int = 6379) -> bool:
    """Whether a Redis answers PING there."""
    try:
        with socket.create_connection((host, port), timeout=1.0) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def unique_key() -> str:
    """A channel prefix of its own for one test (nobody else on the Redis hears it)."""
    return f"rc-workers-{secrets.token_hex(4)}"


class Served:
    """One ``roomcast serve`` process (its supervisor): ``port``, ``node``, ``log``."""

    def __init__(self, proc: asyncio.subprocess.Process, runtime_dir: str) -> None:
        self.proc = proc
        self.runtime_dir = runtime_dir
        self.log = RecordLog(f"roomcast serve pid {proc.pid}")
        self.port = 0
        self.node = ""
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(
        cls,
        app: str = APP,
        *,
        workers: int = 2,
        redis: str | None = None,
        key: str | None = None,
        extra: tuple[str, ...] = (),
    ) -> Served:
        """Start it on a free port; return once every worker serves."""
        runtime_dir = tempfile.mkdtemp(prefix="rc-w-")
        args = ["serve", app, "--workers", str(workers), "--port", "0"]
        args += ["--runtime-dir", runtime_dir, "--shutdown-timeout", "3", *extra]
        if redis is not None:
            args += ["--redis", redis, "--redis-key", key or unique_key()]
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "roomcast",
            *args,
            cwd=HERE,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        served = cls(proc, runtime_dir)
        try:
            record = await served.log.wait(text=lambda t: _SERVING.search(t) is not None)
        except AssertionError:
            await served.stop()
            raise
        match = _SERVING.search(record["text"])
        assert match is not None
        served.port, served.node = int(match.group(1)), match.group(2)
        return served

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_socket(self, index: int) -> str:
        """The private unix socket of worker ``index`` (served by the same server)."""
        return str(Path(self.runtime_dir) / f"worker-{index}.sock")

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        try:
            async for line in self.proc.stderr:
                self.log.add({"text": line.decode(errors="replace").rstrip()})
        finally:
            self.log.close()

    async def stop(self, signum: int = signal.SIGTERM) -> int:
        """Signal the supervisor and wait for it (SIGKILL if it takes too long)."""
        if self.proc.returncode is None:
            self.proc.send_signal(signum)
            try:
                await asyncio.wait_for(self.proc.wait(), WAIT)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        await asyncio.wait_for(self._reader, WAIT)
        assert self.proc.returncode is not None
        return self.proc.returncode

    def lines(self, pattern: str) -> list[str]:
        return [r["text"] for r in self.log.records if re.search(pattern, r["text"])]


class RoundRobinProxy:
    """A TCP proxy on 127.0.0.1 that sends each new connection to the next backend in turn
    (what a plain load balancer without sticky sessions does). Every connection it holds is
    tracked from the moment it is accepted, and closed by ``aclose``."""

    def __init__(self, backends: list[int]) -> None:
        self.backends = backends
        self.port = 0
        self.connections = 0
        self._turn = itertools.cycle(range(len(backends)))
        self._server: asyncio.Server | None = None
        self.transports: set[asyncio.BaseTransport] = set()
        self.connecting: set[asyncio.Task[None]] = set()

    def skip(self) -> None:
        """Pass a backend's turn (so that the next connection goes elsewhere)."""
        next(self._turn)

    async def start(self) -> RoundRobinProxy:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Downstream(self), "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def next_backend(self) -> int:
        self.connections += 1
        return self.backends[next(self._turn)]

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self.connecting):
            task.cancel()
        if self.connecting:
            await asyncio.wait(list(self.connecting), timeout=WAIT)
        for transport in list(self.transports):
            transport.close()
        await asyncio.sleep(0)  # let connection_lost run


class _Upstream(asyncio.Protocol):
    """The backend side of one proxied connection."""

    def __init__(self, proxy: RoundRobinProxy, client: asyncio.Transport) -> None:
        self.proxy = proxy
        self.client = client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.proxy.transports.add(transport)

    def data_received(self, data: bytes) -> None:
        self.client.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.close()


class _Downstream(asyncio.Protocol):
    """The client side of one proxied connection."""

    def __init__(self, proxy: RoundRobinProxy) -> None:
        self.proxy = proxy
        self.transport: asyncio.Transport | None = None
        self.upstream: asyncio.Transport | None = None
        self.pending = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.proxy.transports.add(transport)
        task = asyncio.ensure_future(self._connect(transport, self.proxy.next_backend()))
        self.proxy.connecting.add(task)
        task.add_done_callback(self.proxy.connecting.discard)

    async def _connect(self, transport: asyncio.Transport, port: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            upstream, _ = await loop.create_connection(
                lambda: _Upstream(self.proxy, transport), "127.0.0.1", port
            )
        except OSError:
            transport.close()
            return
        if transport.is_closing():
            upstream.close()
            return
        self.upstream = upstream
        if self.pending:
            upstream.write(bytes(self.pending))
            self.pending.clear()

    def data_received(self, data: bytes) -> None:
        if self.upstream is None:
            self.pending += data
        else:
            self.upstream.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.upstream is not None:
            self.upstream.close()


class PollingClient:
    """A raw Engine.IO v4 / Socket.IO v5 long-polling client that opens a new connection for
    every request, to any address: a TCP URL or a worker's unix socket."""

    def __init__(self, headers: dict[str, str] | None = None) -> None:
        self.sid = ""
        self.headers = headers or {}
        """Sent with every request (a browser's ``Origin`` and ``Host``)."""
        self._sessions: list[aiohttp.ClientSession] = []

    def _session(self, via: str) -> tuple[aiohttp.ClientSession, str]:
        connector: aiohttp.BaseConnector
        if via.startswith("http://"):
            connector, base = aiohttp.TCPConnector(force_close=True), via
        else:
            connector, base = aiohttp.UnixConnector(via, force_close=True), "http://worker"
        session = aiohttp.ClientSession(connector=connector, headers=self.headers)
        self._sessions.append(session)
        return session, base

    async def request(self, via: str, method: str = "GET", body: str | None = None) -> str:
        """One polling request (with the session's sid once there is one); the body; raises
        AssertionError for a status other than 200."""
        session, base = self._session(via)
        query = "EIO=4&transport=polling" + (f"&sid={self.sid}" if self.sid else "")
        async with asyncio.timeout(WAIT):
            async with session.request(method, f"{base}/socket.io/?{query}", data=body) as reply:
                text = await reply.text()
                assert reply.status == 200, (reply.status, text)
                return text

    async def handshake(self, via: str) -> dict[str, Any]:
        text = await self.request(via)
        assert text.startswith("0"), text
        opened: dict[str, Any] = json.loads(text[1:])
        self.sid = opened["sid"]
        return opened

    async def status_of(self, via: str, method: str = "GET") -> tuple[int, str]:
        session, base = self._session(via)
        query = f"EIO=4&transport=polling&sid={self.sid}"
        async with asyncio.timeout(WAIT):
            async with session.request(
                method, f"{base}/socket.io/?{query}", data="6" if method == "POST" else None
            ) as reply:
                return reply.status, await reply.text()

    async def websocket(self, via: str) -> aiohttp.ClientWebSocketResponse:
        """A WebSocket upgrade of this session, opened at ``via``."""
        session, base = self._session(via)
        query = f"EIO=4&transport=websocket&sid={self.sid}"
        return await session.ws_connect(f"{base.replace('http', 'ws')}/socket.io/?{query}")

    async def aclose(self) -> None:
        for session in self._sessions:
            await session.close()


def owners(stats: list[Mapping[str, Any]]) -> set[str]:
    return {str(s["tag"]) for s in stats}


async def connect_on_each(
    node: NodeClient,
    tags: int,
    *,
    prefix: str = "c",
    limit: int = 40,
    nudge: Callable[[], None] | None = None,
    **options: Any,
) -> dict[str, str]:
    """Connect clients one by one until sessions are held by ``tags`` different workers;
    returns client id -> tag of the worker holding it (all the clients connected).
    ``nudge()`` is called when a client lands on a worker seen before."""
    held: dict[str, str] = {}
    for n in range(limit):
        id = f"{prefix}{n}"
        await node.connect(id, **options)
        (who,) = await node.call(id, "whoami")
        if who["tag"] in held.values() and nudge is not None:
            nudge()
        held[id] = who["tag"]
        if len(set(held.values())) >= tags:
            return held
    raise AssertionError(f"{limit} clients all landed on {set(held.values())}")


def one_per_worker(held: Mapping[str, str]) -> list[str]:
    """One client id for each worker in ``held`` (ordered by worker tag)."""
    first: dict[str, str] = {}
    for id, tag in held.items():
        first.setdefault(tag, id)
    return [first[tag] for tag in sorted(first)]


async def closing(*things: Any) -> None:
    """Close what a test started, each bounded, errors suppressed (teardown)."""
    for thing in things:
        with contextlib.suppress(Exception):
            if isinstance(thing, Served):
                await thing.stop()
                shutil.rmtree(thing.runtime_dir, ignore_errors=True)
            else:
                await asyncio.wait_for(thing.aclose(), seconds(10.0))


__all__ = ["WAIT", "NodeClient", "seconds"]
