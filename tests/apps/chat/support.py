"""Helpers for the chat service's tests: ``roomcast chat`` as a subprocess in a folder of
its own, aiohttp for its HTTP API, and the official ``socket.io-client`` (the node driver
of the interop tests) for its events."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import signal
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from integration.support import HAVE_CLIENT, NODE, WAIT, NodeClient, Record

needs_node = [
    pytest.mark.node,
    pytest.mark.skipif(
        NODE is None or not HAVE_CLIENT, reason="node or npm's socket.io-client missing"
    ),
]

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1.0):
            return True
    except OSError:
        return False


needs_postgres = pytest.mark.skipif(not postgres_answers(), reason="no PostgreSQL on :5432")

NOTIFY_TOKEN = "test-notify-token"
PASSWORD = "correct horse battery"
_SERVING = re.compile(r"serving http://127\.0\.0\.1:(\d+)")


class ChatServer:
    """``python -m roomcast chat`` run in ``folder`` (its stderr kept for failures)."""

    def __init__(self, folder: Path, args: list[str]) -> None:
        self.folder = folder
        self.args = args
        self.port = 0
        self.proc: asyncio.subprocess.Process | None = None
        self.output = bytearray()
        self._reader: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, env: Mapping[str, str] | None = None) -> ChatServer:
        port = ["--port", str(self.port)]
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "roomcast",
            "chat",
            *port,
            *self.args,
            cwd=self.folder,
            env={**os.environ, **(env or {})},
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        serving = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read(serving))
        try:
            self.port = await asyncio.wait_for(serving, WAIT)
        except TimeoutError:
            raise AssertionError(f"roomcast chat did not start:\n{self.log()}") from None
        return self

    async def _read(self, serving: asyncio.Future[int]) -> None:
        assert self.proc is not None
        assert self.proc.stderr is not None
        async for line in self.proc.stderr:
            self.output += line
            found = _SERVING.search(line.decode(errors="replace"))
            if found and not serving.done():
                serving.set_result(int(found.group(1)))
        if not serving.done():
            serving.set_exception(AssertionError(f"roomcast chat exited:\n{self.log()}"))

    def log(self) -> str:
        return self.output.decode(errors="replace")

    async def stop(self) -> None:
        """SIGTERM, as a deployment stops it; the process must exit by itself."""
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), WAIT)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise AssertionError(f"roomcast chat did not stop on SIGTERM:\n{self.log()}") from None
        if self._reader is not None:
            await self._reader


class Api:
    """The HTTP API of one server."""

    def __init__(self, http: aiohttp.ClientSession, server: ChatServer) -> None:
        self.http = http
        self.server = server

    async def request(
        self, method: str, path: str, body: Any = None, *, token: str | None = None
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        async with self.http.request(
            method, self.server.url + path, json=body, headers=headers
        ) as response:
            return response.status, await response.json()

    async def signup(self, name: str, password: str = PASSWORD) -> str:
        """A new user's token."""
        status, body = await self.request(
            "POST", "/api/signup", {"name": name, "password": password}
        )
        assert status == 201, body
        return str(body["token"])

    async def notify(
        self, body: Mapping[str, Any], token: str | None = NOTIFY_TOKEN
    ) -> tuple[int, Any]:
        return await self.request("POST", "/api/notify", dict(body), token=token)


class Tabs:
    """Browser tabs, each an official client socket authenticated with a token."""

    def __init__(self, node: NodeClient) -> None:
        self.node = node

    async def open(self, id: str, token: str, **opts: Any) -> Record:
        return await self.node.connect(id, auth={"token": token}, transports=["websocket"], **opts)

    async def call(self, id: str, event: str, *args: Any) -> Any:
        """``await socket.emitWithAck(event, ...args)``: the value it resolves to."""
        record = await self.node.emit_with_ack(id, event, *args)
        assert record["type"] == "ack", record
        return record["args"][0]

    async def ok(self, id: str, event: str, *args: Any) -> Any:
        """Like ``call``, and the answer is not an error."""
        answer = await self.call(id, event, *args)
        assert not (isinstance(answer, dict) and "_rc_error" in answer), answer
        return answer

    async def event(self, tab: str, event: str, /, count: int = 1, **match: Any) -> list[Any]:
        """The arguments of the ``count``-th ``event`` tab ``tab`` got whose first argument
        has ``match``'s items (waiting for it)."""

        def first_has(args: list[Any]) -> bool:
            return (
                bool(args)
                and isinstance(args[0], dict)
                and all(args[0].get(k) == v for k, v in match.items())
            )

        record = await self.node.wait(
            type="event", id=tab, event=event, args=first_has, count=count
        )
        return list(record["args"])

    def events(self, id: str, event: str) -> list[Any]:
        return [args[0] for args in self.node.events(id, event)]


@contextlib.asynccontextmanager
async def running(folder: Path, *args: str) -> Any:
    server = await ChatServer(folder, list(args)).start()
    try:
        yield server
    finally:
        await server.stop()


@contextlib.asynccontextmanager
async def postgres_schema() -> Any:
    """A fresh schema in the test database: the store URL that uses it (dropped after)."""
    import asyncpg

    schema = f"chat_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(POSTGRES)
    await admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{POSTGRES}?search_path={schema}"
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()
