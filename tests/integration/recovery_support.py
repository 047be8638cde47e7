"""Helpers for the recovery tests: store URLs of every kind (Redis ones with a stream and
session prefix of the test's own, deleted afterwards) and roomcast servers run as
processes that a test may ``kill -9`` and start again on the same port."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import sys
import tempfile
from pathlib import Path
from typing import IO

from .support import ROOT, WAIT, seconds

REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"
RECOVERY_APP = ROOT / "examples" / "recovery" / "app.py"
NODE_APP = Path(__file__).resolve().parent / "recovery_node_app.py"


def redis_answers() -> bool:
    """Whether a Redis answers PING on 127.0.0.1:6379 (checked once, at import)."""
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=1.0) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


HAVE_REDIS = redis_answers()


def unique_key() -> str:
    """A Redis stream name (and session prefix, and channel prefix) of one test's own."""
    return f"rc-recovery-{secrets.token_hex(4)}"


def redis_store_url(key: str, **options: str) -> str:
    """A Redis store URL on the test's own stream and session keys."""
    query = "&".join(
        f"{name}={value}"
        for name, value in {"stream": key, "session_prefix": f"{key}:session:", **options}.items()
    )
    return f"{REDIS_URL}?{query}"


async def delete_redis_keys(key: str) -> None:
    """Delete every key of the test (its stream, sessions and channels)."""
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in client.scan_iter(match=f"{key}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def accepts(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


class ServerProcess:
    """``python <script> PORT`` with its own working directory and environment: started,
    killed with SIGKILL and started again on the same port."""

    def __init__(self, script: Path, cwd: Path, env: dict[str, str], port: int = 0) -> None:
        self.script = script
        self.cwd = cwd
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **env}
        self.port = port or free_port()
        self.proc: asyncio.subprocess.Process | None = None
        self._log: IO[bytes] | None = None
        self.generations = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    async def start(self) -> None:
        """Start the server and wait until it accepts connections on its port."""
        assert self.proc is None or self.proc.returncode is not None
        if self._log is None:
            self._log = tempfile.TemporaryFile()
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(self.script),
            str(self.port),
            cwd=self.cwd,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self._log,
            stderr=asyncio.subprocess.STDOUT,
        )
        self.generations += 1
        try:
            async with asyncio.timeout(seconds(20.0)):
                while not await accepts(self.port):
                    if self.proc.returncode is not None:
                        break
                    await asyncio.sleep(0.05)  # polling for the port to open, not a verdict
        except TimeoutError:
            raise AssertionError(
                f"{self.script.name} not listening on {self.port}:\n{self.output()}"
            ) from None
        if self.proc.returncode is not None:
            raise AssertionError(
                f"{self.script.name} exited with {self.proc.returncode}:\n{self.output()}"
            )

    async def kill9(self) -> None:
        """SIGKILL: no shutdown, no goodbye to the clients, nothing flushed."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await asyncio.wait_for(self.proc.wait(), WAIT)

    async def terminate(self) -> int:
        """SIGTERM: the server tells its clients, writes its store and exits; its status."""
        assert self.proc is not None
        self.proc.terminate()
        return await asyncio.wait_for(self.proc.wait(), WAIT)

    async def stop(self) -> str:
        """SIGTERM (SIGKILL if it lingers); the output of every run so far."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), seconds(10.0))
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        out = self.output()
        if self._log is not None:
            self._log.close()
            self._log = None
        return out
