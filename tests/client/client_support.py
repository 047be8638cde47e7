"""Helpers for the client tests: an awaitable record log, a recorder of what a client sees,
a roomcast server with the handlers the tests use, and the Node socket.io server driver.

Waiting is always for a record with a timeout (``WAIT``, scaled by
ROOMCAST_TEST_TIMEOUT_FACTOR), never a bare sleep.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import roomcast
from integration.support import WAIT, NodeProcess, Record, RecordLog, matches, seconds
from roomcast.client import ClientSocket

__all__ = ["WAIT", "Record", "RecordLog", "matches", "seconds"]

ROOT = Path(__file__).resolve().parents[2]
NODE_SERVER = Path(__file__).resolve().parent / "node" / "server.mjs"
NODE = shutil.which("node")
HAVE_SERVER = (ROOT / "node_modules" / "socket.io" / "package.json").is_file()

TRANSPORTS = [["websocket"], ["polling"], ["polling", "websocket"]]
TRANSPORT_IDS = ["websocket", "polling", "upgrade"]

CLIENT_EVENTS = ("connect", "connect_error", "disconnect")
MANAGER_EVENTS = ("reconnect_attempt", "reconnect", "reconnect_error", "reconnect_failed")


class Recorder:
    """Records what clients see: reserved events, every event, with loop times."""

    def __init__(self) -> None:
        self.log = RecordLog("client")

    def watch(self, client: roomcast.Client) -> None:
        """Record the connection's events and the main namespace's."""
        for name in MANAGER_EVENTS:
            client.on(name, self._recorder(name, "/"))
        self.watch_socket(client.socket("/"))

    def watch_socket(self, socket: ClientSocket) -> None:
        for name in CLIENT_EVENTS:
            socket.on(name, self._recorder(name, socket.namespace))

        def any_event(event: str, *args: Any) -> None:
            self._add("event", socket.namespace, event=event, args=list(args))

        socket.on_any(any_event)

    def _recorder(self, name: str, namespace: str) -> Callable[..., None]:
        def record(*args: Any) -> None:
            self._add(name, namespace, args=list(args))

        return record

    def _add(self, kind: str, namespace: str, **fields: Any) -> None:
        loop = asyncio.get_running_loop()
        self.log.add({"type": kind, "nsp": namespace, "time": loop.time(), **fields})

    async def wait(self, *, within: float = WAIT, count: int = 1, **match: Any) -> Record:
        return await self.log.wait(within=within, count=count, **match)

    def types(self, *, nsp: str | None = None) -> list[str]:
        return [r["type"] for r in self.log.records if nsp is None or r["nsp"] == nsp]


# ------------------------------------------------------------------ roomcast server


class RoomcastPeer:
    """A roomcast server with the handlers the tests use, and a log of what it saw.

    Namespaces: ``/`` and ``/admin`` accept everyone, ``/private`` wants auth
    ``{"token": "secret"}`` and refuses others with "not authorized" and data
    ``{"code": 401}``, ``/slow`` answers only after ``release()``.

    Events: ``echo(*args)`` acks the same arguments, ``join(room)`` acks the rooms,
    ``dedupe({"id", "drop"})`` processes each id once and holds the acks of the first
    ``drop`` deliveries of an id back until ``release()`` or until that socket disconnects.
    Server sockets are kept by sid.
    """

    def __init__(self, **options: Any) -> None:
        self.log = RecordLog("roomcast server")
        self.sockets: dict[str, roomcast.Socket] = {}
        self.options = options
        self._seen: dict[str, int] = {}
        self._holds: dict[str, asyncio.Event] = {}
        self._released = False

    def release(self) -> None:
        """Let every handler holding an ack back finish."""
        self._released = True
        for hold in self._holds.values():
            hold.set()

    def _hold(self, sid: str) -> asyncio.Event:
        """Set when the socket ``sid`` disconnects or on ``release()``: held acks go then
        (a disconnected socket sends none)."""
        hold = self._holds.setdefault(sid, asyncio.Event())
        if self._released:
            hold.set()
        return hold

    def build(self) -> roomcast.Server:
        """A new server with the handlers (a stopped server is not listened on again)."""
        io = roomcast.Server(**self.options)
        for name in ("/", "/admin", "/private"):
            self._install(io.of(name))

        @io.of("/private").use
        def only_with_token(socket: roomcast.Socket) -> None:
            if socket.handshake.auth.get("token") != "secret":
                raise roomcast.ConnectionRefused("not authorized", data={"code": 401})

        self._install(io.of("/slow"))

        @io.of("/slow").use
        async def answer_late(socket: roomcast.Socket) -> None:
            await self._hold("/slow").wait()

        def raw(conn: Any, data: str | bytes) -> None:
            if isinstance(data, str) and '"dedupe"' in data:
                self.log.add({"type": "raw", "data": data})

        io.engine.on("message", raw)
        return io

    def _install(self, nsp: roomcast.Namespace) -> None:
        def connection(socket: roomcast.Socket) -> None:
            self.sockets[socket.id] = socket
            handshake = socket.handshake
            self.log.add(
                {
                    "type": "connect",
                    "nsp": socket.namespace,
                    "sid": socket.id,
                    "auth": handshake.auth,
                    "query": handshake.query,
                    "header": handshake.headers.get("X-Test"),
                    "transport": socket.transport,
                    "conn": socket.conn.sid,
                }
            )

            def any_event(event: str, *args: Any) -> None:
                self.log.add(
                    {
                        "type": "event",
                        "nsp": socket.namespace,
                        "sid": socket.id,
                        "event": event,
                        "args": list(args),
                    }
                )

            socket.on_any(any_event)

        def disconnect(socket: roomcast.Socket, reason: str) -> None:
            self._hold(socket.id).set()
            self.log.add(
                {"type": "disconnect", "nsp": socket.namespace, "sid": socket.id, "reason": reason}
            )

        def echo(socket: roomcast.Socket, *args: Any) -> tuple[Any, ...]:
            return args

        def join(socket: roomcast.Socket, room: str) -> list[str]:
            socket.join(room)
            return sorted(socket.rooms)

        async def dedupe(socket: roomcast.Socket, msg: dict[str, Any]) -> str:
            deliveries = self._seen[msg["id"]] = self._seen.get(msg["id"], 0) + 1
            if deliveries == 1:
                self.log.add({"type": "processed", "id": msg["id"]})
            if deliveries <= msg.get("drop", 0):
                await self._hold(socket.id).wait()  # the ack is lost (late, if ever)
            return f"ok:{msg['id']}"

        nsp.on("connection", connection)
        nsp.on("disconnect", disconnect)
        nsp.on("echo", echo)
        nsp.on("join", join)
        nsp.on("dedupe", dedupe)

    async def socket(self, sid: str) -> roomcast.Socket:
        await self.log.wait(type="connect", sid=sid)
        return self.sockets[sid]


# ------------------------------------------------------------------ node server


class NodeServer(NodeProcess):
    """One ``node server.mjs`` process: a socket.io@4.8 server on 127.0.0.1."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        super().__init__(proc, "node server")
        self.port = 0

    @classmethod
    async def start(cls, port: int = 0, **options: Any) -> NodeServer:
        assert NODE is not None
        proc = await asyncio.create_subprocess_exec(
            NODE,
            str(NODE_SERVER),
            str(port),
            json.dumps(options),
            str(seconds(120.0)),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=64 * 1024 * 1024,
        )
        server = cls(proc)
        try:
            record = await server.log.wait(type="listening")
        except AssertionError:
            await server.aclose()
            raise AssertionError(f"node server did not start: {server.stderr.decode()}") from None
        server.port = int(record["port"])
        return server

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def emit_with_ack(self, sid: str, event: str, *args: Any, nsp: str = "/") -> Record:
        req = f"r{next(self._reqs)}"
        await self.send("emit", nsp=nsp, sid=sid, event=event, args=list(args), req=req)
        return await self.log.wait(req=req, type=lambda t: t in ("ack", "ack_error"))

    async def stop(self) -> None:
        """io.close() (clients see "transport close"), then wait for the process to end."""
        if self.proc.returncode is None:
            await self.send("close")
        await self._wait_exit()

    async def _wait_exit(self) -> None:
        try:
            await asyncio.wait_for(self.proc.wait(), WAIT)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        await asyncio.wait_for(asyncio.gather(*self._readers), WAIT)

    async def aclose(self) -> None:
        if self.proc.returncode is None:
            try:
                await self.send("close")
            except ConnectionError:
                self.proc.kill()
        await self._wait_exit()
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        bad = self.log.find(type=lambda t: t in ("bad_command", "bad_line"))
        assert not bad, f"the node server did not understand: {bad}"


# ------------------------------------------------------------------ reconnection


def check_backoff(
    recorder: Recorder, dropped_at: float, delay: float, delay_max: float, attempts: int
) -> list[float]:
    """Check the first ``attempts`` reconnection attempts waited their backoff delays
    (no jitter: ``delay``, doubling, up to ``delay_max``); return the waits observed.

    Each attempt comes at least its delay after the previous one failed (or after the
    connection dropped); the upper bound only catches a delay gone wild.
    """
    records = recorder.log.records
    waits = []
    previous_end = dropped_at
    for n in range(1, attempts + 1):
        attempt = next(r for r in records if r["type"] == "reconnect_attempt" and r["args"] == [n])
        expected = min(delay * 2 ** (n - 1), delay_max)
        waited = attempt["time"] - previous_end
        assert waited >= expected * 0.95, f"attempt {n} after {waited:.3f}s < {expected}s"
        assert waited <= expected + seconds(2.0), f"attempt {n} after {waited:.3f}s"
        waits.append(waited)
        failed = [
            r for r in records if r["type"] == "reconnect_error" and r["seq"] > attempt["seq"]
        ]
        if failed:
            previous_end = failed[0]["time"]
    return waits


def reconnection_types(recorder: Recorder) -> list[str]:
    """The reserved events the main namespace and the connection saw, in order."""
    return [r["type"] for r in recorder.log.records if r["type"] != "event"]
