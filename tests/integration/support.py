"""Helpers for the interop tests: a real roomcast server on 127.0.0.1 with a
random port, driven by the official ``socket.io-client`` under node.

The node side is ``node/client.mjs``: it reads JSON commands on stdin and reports
what its client sockets see as JSON lines on stdout (see the header of that file).
``NodeClient`` wraps one such process; ``ServerHarness`` installs the same handful of
server handlers (connection log, join/leave/echo) on a namespace and records what the
server sees.

To prove that a client did NOT receive an event, ``delivered()`` sends a unique marker
to every client through its own server socket after the broadcast and waits for it:
whatever the broadcast sent to a client arrives before the marker on that connection.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import signal
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import roomcast

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = Path(__file__).resolve().parent / "node"
CLIENT_JS = NODE_DIR / "client.mjs"
NODE = shutil.which("node")
HAVE_CLIENT = (ROOT / "node_modules" / "socket.io-client" / "package.json").is_file()

#: Scale every timeout here, e.g. ROOMCAST_TEST_TIMEOUT_FACTOR=5 on a slow machine.
FACTOR = float(os.environ.get("ROOMCAST_TEST_TIMEOUT_FACTOR", "1"))


def seconds(value: float) -> float:
    """A duration in seconds, scaled by ROOMCAST_TEST_TIMEOUT_FACTOR."""
    return value * FACTOR


WAIT = seconds(10.0)
NODE_LIFETIME = seconds(60.0)

WEBSOCKET = ["websocket"]
POLLING = ["polling"]
#: Transport settings for parametrized tests: None means the client default
#: (polling, then upgrade to WebSocket).
TRANSPORTS: list[list[str] | None] = [WEBSOCKET, POLLING, None]
TRANSPORT_IDS = ["websocket", "polling", "upgrade"]

Record = dict[str, Any]


# ------------------------------------------------------------------------ wire values


def to_wire(value: Any) -> Any:
    """JSON form of a value for the node driver: bytes become {"$bin": base64}."""
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bin": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, list | tuple):
        return [to_wire(v) for v in value]
    if isinstance(value, dict):
        return {k: to_wire(v) for k, v in value.items()}
    return value


def from_wire(value: Any) -> Any:
    """Inverse of ``to_wire``."""
    if isinstance(value, list):
        return [from_wire(v) for v in value]
    if isinstance(value, dict):
        if set(value) == {"$bin"}:
            return base64.b64decode(value["$bin"])
        return {k: from_wire(v) for k, v in value.items()}
    return value


# ------------------------------------------------------------------------- record log


def matches(record: Record, match: Mapping[str, Any]) -> bool:
    """Every key equals, or satisfies when the expected value is callable."""
    for key, expected in match.items():
        actual = record.get(key)
        if callable(expected):
            if not expected(actual):
                return False
        elif actual != expected:
            return False
    return True


class RecordLog:
    """An append-only list of records that can be awaited with a timeout."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.records: list[Record] = []
        self._changed = asyncio.Event()
        self.closed = False

    def add(self, record: Record) -> None:
        self.records.append({**record, "seq": len(self.records)})
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def find(self, **match: Any) -> list[Record]:
        return [r for r in self.records if matches(r, match)]

    async def wait(self, *, within: float = WAIT, count: int = 1, **match: Any) -> Record:
        """The ``count``-th record matching ``match``, waiting up to ``timeout``."""

        def found() -> Record | None:
            hits = self.find(**match)
            return hits[count - 1] if len(hits) >= count else None

        return await self.wait_until(found, within=within, what=f"{count} x {match!r}")

    async def wait_until(
        self,
        predicate: Callable[[], Record | None],
        *,
        within: float = WAIT,
        what: str = "",
    ) -> Record:
        try:
            async with asyncio.timeout(within):
                while True:
                    result = predicate()
                    if result is not None:
                        return result
                    if self.closed:
                        break
                    await self._changed.wait()
        except TimeoutError:
            pass
        raise AssertionError(
            f"{self.name}: no {what or 'match'} within {within:.1f}s; saw:\n{self.dump()}"
        )

    def dump(self, last: int = 40) -> str:
        return "\n".join(f"  {r}" for r in self.records[-last:])


# ------------------------------------------------------------------------ node driver


class NodeProcess:
    """A node peer driven over stdio: JSON commands in, one JSON record per line out
    (into ``log``; bytes travel as {"$bin": base64}), stderr kept for failure messages."""

    def __init__(self, proc: asyncio.subprocess.Process, name: str) -> None:
        self.proc = proc
        self.log = RecordLog(f"{name} pid {proc.pid}")
        self.stderr = bytearray()
        self._reqs = itertools.count(1)
        self._readers = [
            asyncio.create_task(self._read_stdout()),
            asyncio.create_task(self._read_stderr()),
        ]

    async def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        try:
            async for line in self.proc.stdout:
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    record = {"type": "bad_line", "line": line[:200].decode("utf-8", "replace")}
                self.log.add(from_wire(record))
        finally:
            self.log.close()

    async def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        async for chunk in self.proc.stderr:
            self.stderr += chunk

    async def send(self, cmd: str, **fields: Any) -> None:
        assert self.proc.stdin is not None
        line = json.dumps({"cmd": cmd, **to_wire(fields)}) + "\n"
        self.proc.stdin.write(line.encode())
        await self.proc.stdin.drain()


class NodeClient(NodeProcess):
    """One ``node client.mjs`` process holding any number of client sockets."""

    def __init__(self, proc: asyncio.subprocess.Process, url: str) -> None:
        super().__init__(proc, "node client")
        self.url = url

    @classmethod
    async def start(cls, url: str) -> NodeClient:
        assert NODE is not None
        proc = await asyncio.create_subprocess_exec(
            NODE,
            str(CLIENT_JS),
            url,
            str(NODE_LIFETIME),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=64 * 1024 * 1024,  # one JSON line per record, big payloads included
        )
        client = cls(proc, url)
        await client.log.wait(type="ready")
        return client

    # -- commands

    async def send_many(self, cmds: Iterable[Mapping[str, Any]]) -> None:
        """Several commands in one write: node reads them in one go, in order."""
        assert self.proc.stdin is not None
        lines = "".join(json.dumps(to_wire(dict(cmd))) + "\n" for cmd in cmds)
        self.proc.stdin.write(lines.encode())
        await self.proc.stdin.drain()

    async def connect(
        self,
        id: str,
        nsp: str = "/",
        *,
        transports: list[str] | None = None,
        auth: Mapping[str, Any] | None = None,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        acks: Mapping[str, Any] | None = None,
        expect: str | None = "connect",
        **opts: Any,
    ) -> Record:
        """Open client socket ``id`` on ``nsp``; return its connect or error record.

        With ``expect="connect"`` (the default) a connect_error fails the test, with
        ``expect="connect_error"`` a successful connection does; ``None`` accepts both.
        """
        if transports is not None:
            opts["transports"] = transports
        if auth is not None:
            opts["auth"] = dict(auth)
        if query is not None:
            opts["query"] = dict(query)
        if headers is not None:
            opts["extraHeaders"] = dict(headers)
        await self.send("connect", id=id, nsp=nsp, opts=opts, acks=dict(acks or {}))
        record = await self.log.wait(id=id, type=lambda t: t in ("connect", "connect_error"))
        if expect is not None:
            assert record["type"] == expect, f"{id}: expected {expect}, got {record}"
        return record

    async def connect_all(
        self, ids: Iterable[str], nsp: str = "/", **kwargs: Any
    ) -> dict[str, str]:
        """Connect several client sockets at once; return their sids by client id."""
        records = await asyncio.gather(*(self.connect(i, nsp, **kwargs) for i in ids))
        return {r["id"]: r["sid"] for r in records}

    async def emit(self, id: str, event: str, *args: Any) -> None:
        await self.send("emit", id=id, event=event, args=list(args))

    async def emit_ack(
        self, id: str, event: str, *args: Any, timeout_ms: int | None = None
    ) -> Record:
        """``socket[.timeout(ms)].emit(event, ...args, cb)``; ack/ack_error record."""
        req = f"r{next(self._reqs)}"
        fields: dict[str, Any] = {
            "id": id,
            "event": event,
            "args": list(args),
            "req": req,
        }
        if timeout_ms is not None:
            fields["timeout"] = timeout_ms
        await self.send("emit", ack=True, **fields)
        return await self.log.wait(req=req, type=lambda t: t in ("ack", "ack_error"))

    async def emit_with_ack(
        self, id: str, event: str, *args: Any, timeout_ms: int | None = None
    ) -> Record:
        """``await socket[.timeout(ms)].emitWithAck(event, ...args)``; ack/ack_error."""
        req = f"r{next(self._reqs)}"
        fields: dict[str, Any] = {
            "id": id,
            "event": event,
            "args": list(args),
            "req": req,
        }
        if timeout_ms is not None:
            fields["timeout"] = timeout_ms
        await self.send("emitWithAck", **fields)
        return await self.log.wait(req=req, type=lambda t: t in ("ack", "ack_error"))

    async def call(self, id: str, event: str, *args: Any) -> list[Any]:
        """Emit with an ack callback; assert it was acked; return the ack arguments."""
        record = await self.emit_ack(id, event, *args)
        assert record["type"] == "ack", record
        return list(record["args"])

    async def transport(self, id: str) -> str:
        req = f"r{next(self._reqs)}"
        await self.send("transport", id=id, req=req)
        record = await self.log.wait(req=req, type="result")
        return str(record["transport"])

    async def set_acks(self, id: str, acks: Mapping[str, Any]) -> None:
        await self.send("acks", id=id, acks=dict(acks))

    async def disconnect(self, id: str) -> None:
        await self.send("disconnect", id=id)

    async def cut(self, id: str, *, pause: bool = False, url: str | None = None) -> None:
        """Close the Engine.IO connection under client ``id`` (the server sees "transport
        close", the client "forced close"): with
        reconnection on it reconnects by itself, to ``url`` when given; ``pause``: not
        before ``resume``."""
        fields: dict[str, Any] = {"id": id, "pause": pause}
        if url is not None:
            fields["url"] = url
        await self.send("cut", **fields)

    async def resume(self, id: str) -> None:
        """Reconnect client ``id`` after ``cut(pause=True)``."""
        await self.send("resume", id=id)

    async def state(self, id: str) -> Record:
        """Client ``id``'s ``sid``, ``pid``, last ``offset`` and ``recovered``."""
        req = f"r{next(self._reqs)}"
        await self.send("state", id=id, req=req)
        return await self.log.wait(req=req, type="result")

    # -- what happened

    async def wait(self, *, within: float = WAIT, count: int = 1, **match: Any) -> Record:
        return await self.log.wait(within=within, count=count, **match)

    def events(self, id: str, event: str | None = None, *, before: int | None = None) -> list[Any]:
        """Argument lists of ``event`` (every event if None) seen by client ``id``."""
        return [
            r["args"] if event is not None else [r["event"], *r["args"]]
            for r in self.log.find(type="event", id=id)
            if (event is None or r["event"] == event) and (before is None or r["seq"] < before)
        ]

    # -- process

    def freeze(self) -> None:
        """SIGSTOP: the process stops answering (heartbeats included)."""
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT after ``freeze``."""
        self.proc.send_signal(signal.SIGCONT)

    async def kill(self) -> None:
        """SIGKILL: the kernel closes the sockets, the client says goodbye to nobody."""
        if self.proc.returncode is None:
            self.proc.kill()
        await self.wait_exit()

    async def wait_exit(self) -> int:
        returncode = await asyncio.wait_for(self.proc.wait(), WAIT)
        await asyncio.wait_for(asyncio.gather(*self._readers), WAIT)
        return returncode

    async def aclose(self) -> None:
        if self.proc.returncode is None:
            self.thaw()  # in case a test froze it and failed before thawing
            try:
                await self.send("exit")
                await asyncio.wait_for(self.proc.wait(), seconds(5.0))
            except (TimeoutError, ConnectionError):
                self.proc.kill()
        await self.wait_exit()
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        bad = self.log.find(type=lambda t: t in ("bad_command", "bad_line"))
        assert not bad, f"the node driver did not understand: {bad}"


# ------------------------------------------------------------------------ server side


class ServerHarness:
    """Standard handlers on a namespace, and a log of what the server saw.

    Handlers installed: ``connection`` (records and keeps the socket, then runs
    ``on_connect``), ``disconnecting`` (records the rooms), ``disconnect`` (records the
    reason), ``join`` (rooms) -> sorted rooms, ``leave`` (room) -> sorted rooms,
    ``echo`` (*args) -> the same args.
    """

    def __init__(self, name: str = "server") -> None:
        self.sockets: dict[str, roomcast.Socket] = {}
        self.log = RecordLog(name)

    def install(
        self,
        nsp: Any,
        on_connect: Callable[[roomcast.Socket], Awaitable[None]] | None = None,
    ) -> None:
        async def connection(socket: roomcast.Socket) -> None:
            self.sockets[socket.id] = socket
            if on_connect is not None:
                await on_connect(socket)
            self.log.add({"type": "connect", "sid": socket.id, "nsp": socket.namespace})

        async def disconnecting(socket: roomcast.Socket, reason: str) -> None:
            self.log.add(
                {
                    "type": "disconnecting",
                    "sid": socket.id,
                    "reason": reason,
                    "rooms": sorted(socket.rooms),
                }
            )

        async def disconnect(socket: roomcast.Socket, reason: str) -> None:
            self.log.add(
                {
                    "type": "disconnect",
                    "sid": socket.id,
                    "nsp": socket.namespace,
                    "reason": reason,
                }
            )

        async def join(socket: roomcast.Socket, rooms: str | list[str]) -> list[str]:
            socket.join(rooms)
            return sorted(socket.rooms)

        async def leave(socket: roomcast.Socket, room: str) -> list[str]:
            socket.leave(room)
            return sorted(socket.rooms)

        async def echo(socket: roomcast.Socket, *args: Any) -> tuple[Any, ...] | None:
            return args or None

        nsp.on("connection")(connection)
        nsp.on("disconnecting")(disconnecting)
        nsp.on("disconnect")(disconnect)
        nsp.on("join")(join)
        nsp.on("leave")(leave)
        nsp.on("echo")(echo)

    async def socket(self, sid: str) -> roomcast.Socket:
        """The server socket of ``sid``, once its connection handler has run."""
        await self.log.wait(type="connect", sid=sid)
        return self.sockets[sid]

    async def wait(self, *, within: float = WAIT, count: int = 1, **match: Any) -> Record:
        return await self.log.wait(within=within, count=count, **match)


_markers = itertools.count(1)


async def delivered(
    node: NodeClient, harness: ServerHarness, event: str, sids: Mapping[str, str]
) -> dict[str, list[list[Any]]]:
    """What each client received of ``event`` so far, proven complete by a marker.

    ``sids`` maps client id -> sid (as ``NodeClient.connect_all`` returns them). Each
    client gets a unique ``__marker__`` through its own server socket; whatever was sent
    to it before arrives before the marker, so the events recorded before the marker
    are all the client will ever get from an earlier broadcast.
    """
    token = next(_markers)
    for sid in sids.values():
        socket = await harness.socket(sid)
        await socket.emit("__marker__", token)
    result: dict[str, list[list[Any]]] = {}
    for id in sids:
        marker = await node.wait(
            type="event",
            id=id,
            event="__marker__",
            # with recovery of direct emits, an offset follows the token
            args=lambda args, token=token: bool(args) and args[0] == token,
        )
        result[id] = node.events(id, event, before=marker["seq"])
    return result


async def join(node: NodeClient, id: str, *rooms: str) -> list[str]:
    """Client ``id`` asks the ``join`` handler to join ``rooms``; returns its rooms."""
    (rooms_now,) = await node.call(id, "join", list(rooms))
    return list(rooms_now)


Listener = Any  # what Server.listen() returns: .port, .url, aclose()


def base_url(listener: Listener) -> str:
    return f"http://127.0.0.1:{listener.port}"
