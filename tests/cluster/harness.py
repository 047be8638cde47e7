"""Helpers for the cluster tests: Redis (the shared one and private ones), roomcast nodes on
a RedisAdapter, and the Node drivers (``node/server.mjs``: a socket.io server with
``@socket.io/redis-adapter``; ``node/emitter.mjs``: ``@socket.io/redis-emitter``).

Every test uses its own channel ``key`` so tests (and other users of the shared Redis) never
hear each other. The node client driver and the record log come from the interop tests
(``integration/support.py``); ``NodeServer`` reuses ``NodeClient``'s process plumbing.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import secrets
import shutil
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import roomcast
from integration.support import (
    HAVE_CLIENT,
    NODE,
    NODE_LIFETIME,
    ROOT,
    WAIT,
    Listener,
    NodeClient,
    Record,
    RecordLog,
    ServerHarness,
)
from roomcast.adapters.cluster import ClusterAdapterFactory

NODE_DIR = Path(__file__).resolve().parent / "node"
SERVER_JS = NODE_DIR / "server.mjs"
EMITTER_JS = NODE_DIR / "emitter.mjs"
REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}"
REDIS_SERVER = shutil.which("redis-server")
HAVE_NODE_ADAPTER = (ROOT / "node_modules" / "@socket.io" / "redis-adapter").is_dir()


def redis_answers(host: str = REDIS_HOST, port: int = REDIS_PORT) -> bool:
    """Whether a Redis answers PING there (checked once, at import)."""
    try:
        with socket.create_connection((host, port), timeout=1.0) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


HAVE_REDIS = redis_answers()

needs_redis = pytest.mark.skipif(not HAVE_REDIS, reason="no Redis answers on 127.0.0.1:6379")
needs_node = [
    pytest.mark.node,
    pytest.mark.skipif(
        NODE is None or not HAVE_CLIENT or not HAVE_NODE_ADAPTER,
        reason="node or the npm packages (socket.io-client, @socket.io/redis-adapter) missing",
    ),
]
needs_redis_server = pytest.mark.skipif(REDIS_SERVER is None, reason="no redis-server on PATH")


def unique_key() -> str:
    """A channel prefix of its own for one test."""
    return f"rc-test-{secrets.token_hex(4)}"


# ------------------------------------------------------------------------ roomcast nodes


@dataclass
class ClusterNode:
    """A roomcast server on a RedisAdapter: its listener, handlers and bus events."""

    io: roomcast.Server
    factory: ClusterAdapterFactory
    listener: Listener
    harness: ServerHarness
    events: RecordLog
    """BusDown / BusUp / MessagesDropped as records: ``{"type": class name, "event": ...}``."""

    @property
    def port(self) -> int:
        return int(self.listener.port)


# ------------------------------------------------------------------------ Node drivers

_reqs = itertools.count(1)


class NodeServer(NodeClient):
    """``node server.mjs``: a Node socket.io server in the same cluster (see its header)."""

    port: int

    @classmethod
    async def launch(cls, redis_url: str, key: str, requests_timeout: float = 2.0) -> NodeServer:
        assert NODE is not None
        proc = await asyncio.create_subprocess_exec(
            NODE,
            str(SERVER_JS),
            redis_url,
            key,
            str(int(requests_timeout * 1000)),
            str(NODE_LIFETIME),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=64 * 1024 * 1024,
        )
        server = cls(proc, "")
        ready = await server.log.wait(type="ready")
        server.port = int(ready["port"])
        server.url = f"http://127.0.0.1:{server.port}"
        return server

    async def request(self, cmd: str, **fields: Any) -> Record:
        """Send a command and return its ``result`` (or ``error``) record."""
        req = f"s{next(_reqs)}"
        await self.send(cmd, req=req, **fields)
        return await self.log.wait(req=req, type=lambda t: t in ("result", "error"))


async def run_emitter(redis_url: str, key: str, ops: Iterable[dict[str, Any]]) -> None:
    """Run Node's redis-emitter once over ``ops`` (see ``node/emitter.mjs``)."""
    assert NODE is not None
    proc = await asyncio.create_subprocess_exec(
        NODE,
        str(EMITTER_JS),
        redis_url,
        key,
        json.dumps(list(ops)),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), WAIT)
    assert proc.returncode == 0, stderr.decode()
    assert json.loads(stdout.splitlines()[-1])["type"] == "done", stdout


# ------------------------------------------------------------------------ private Redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateRedis:
    """A redis-server of the test's own on a free port, to stop and restart at will.

    Never the shared one on 6379: other tests and users rely on it.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Start it and wait for "Ready to accept connections"."""
        assert REDIS_SERVER is not None
        assert self.proc is None
        self.proc = await asyncio.create_subprocess_exec(
            REDIS_SERVER,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        assert self.proc.stdout is not None
        seen: list[bytes] = []
        async with asyncio.timeout(WAIT):
            async for line in self.proc.stdout:
                seen.append(line)
                if b"Ready to accept connections" in line:
                    break
            else:
                raise AssertionError(b"".join(seen).decode(errors="replace"))
        self._drain = asyncio.create_task(self._read_rest())

    async def _read_rest(self) -> None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        async for _ in self.proc.stdout:
            pass

    async def stop(self) -> None:
        """SIGTERM and wait: every client connection is closed."""
        proc, self.proc = self.proc, None
        if proc is None or proc.returncode is not None:
            return
        proc.terminate()
        await asyncio.wait_for(proc.wait(), WAIT)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._drain, WAIT)

    async def restart(self) -> None:
        await self.stop()
        await self.start()


# ------------------------------------------------------------------------ what arrived

_fences = itertools.count(1)


async def received(
    via: Any, clients: dict[NodeClient, list[str]], event: str
) -> dict[str, list[list[Any]]]:
    """What each client got of ``event`` so far, proven complete through the cluster.

    ``via`` (a roomcast Server or Namespace, or a NodeServer) broadcasts a unique
    ``__fence__`` to everyone.
    A node forwards messages in the order it published them and Redis keeps that order on
    every subscriber's connection, so whatever ``via`` broadcast before reached each client
    before the fence. ``clients`` maps each node driver to the client ids to check.
    """
    token = next(_fences)
    if isinstance(via, NodeServer):
        await via.request("emit", event="__fence__", args=[token])
    else:
        await via.emit("__fence__", token)
    result: dict[str, list[list[Any]]] = {}
    for driver, ids in clients.items():
        for id in ids:
            fence = await driver.wait(type="event", id=id, event="__fence__", args=[token])
            result[id] = driver.events(id, event, before=fence["seq"])
    return result
