"""A TCP proxy to put between a roomcast node and Redis, and make the link bad on purpose.

``FaultProxy(target_port)`` listens on 127.0.0.1 (a free port) and opens one connection to
the target for each connection it accepts. Faults, changed at any time:

- ``delay``: seconds added to every chunk, in each direction (a round trip gets twice
  that); the order of the bytes is kept.
- ``cut()``: reset every connection now (``SO_LINGER`` 0, then abort: both ends see
  ``ECONNRESET``, as after a network failure or a killed peer).
- ``refusing``: new connections are reset as soon as they are accepted (the far end is
  unreachable until it is set back to False).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct

_LINGER_0 = struct.pack("ii", 1, 0)


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_0)
    writer.transport.abort()


class FaultProxy:
    """See the module docstring; ``await proxy.start()``, ``await proxy.aclose()``."""

    def __init__(self, target: int, *, delay: float = 0.0) -> None:
        self.target = target
        self.delay = delay
        self.refusing = False
        self.port = 0
        self.accepted = 0
        self.cuts = 0
        self._server: asyncio.Server | None = None
        self._links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        """As a Redis URL."""
        return f"redis://127.0.0.1:{self.port}"

    async def start(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def cut(self) -> int:
        """Reset every connection; how many there were."""
        links = list(self._links)
        for down, up in links:
            _reset(down)
            _reset(up)
        self.cuts += len(links)
        return len(links)

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks))

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.ensure_future(self._serve(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.refusing:
            _reset(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            _reset(writer)
            return
        link = (writer, up_writer)
        self._links.add(link)
        pipes = [
            asyncio.ensure_future(self._pipe(reader, up_writer)),
            asyncio.ensure_future(self._pipe(up_reader, writer)),
        ]
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._links.discard(link)
            for end in link:
                end.transport.abort()
            for pipe in pipes:
                pipe.cancel()
            for pipe in pipes:
                with contextlib.suppress(asyncio.CancelledError, OSError):
                    await pipe

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy ``reader`` to ``writer``, each chunk ``delay`` seconds after it was read."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def forward() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    break
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)  # the delay this proxy adds
                writer.write(data)
                await writer.drain()
            with contextlib.suppress(OSError):
                writer.write_eof()

        forwarding = asyncio.ensure_future(forward())
        try:
            while data := await reader.read(65536):
                queue.put_nowait((loop.time() + self.delay, data))
            queue.put_nowait((0.0, b""))
            await forwarding
        finally:
            forwarding.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await forwarding
