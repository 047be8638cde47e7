"""``roomcast serve --reload``: a change to the app's file restarts the server with the new
code, on the same port; SIGTERM stops the reloader and its server."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import roomcast

from .workers_support import Served

ServeApp = Callable[..., Awaitable[Served]]
APP = """
import roomcast

io = roomcast.Server()


@io.on("version")
def version(socket: roomcast.Socket) -> int:
    return {version}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def ask_version(url: str) -> int:
    client = roomcast.Client(reconnection=False)
    await client.connect(url, transports=["websocket"])
    try:
        return int(await client.emit_with_ack("version", timeout=5.0))
    finally:
        await client.disconnect()


async def test_a_changed_file_restarts_the_server_with_the_new_code(
    serve_app: ServeApp, tmp_path: Path
) -> None:
    app = tmp_path / "app.py"
    app.write_text(APP.format(version=1))
    port = free_port()
    served = await serve_app(f"{app}:io", workers=1, extra=("--reload", "--port", str(port)))
    assert served.port == port
    assert await ask_version(served.url) == 1
    app.write_text(APP.format(version=2))
    await served.log.wait(text=lambda t: "app.py changed, restarting" in t)
    await served.log.wait(text=lambda t: f":{port} (node" in t, count=2)  # serving again
    assert await ask_version(served.url) == 2
    assert await served.stop() == 0
    assert not served.lines(r"Traceback| (WARNING|ERROR|CRITICAL) ")
