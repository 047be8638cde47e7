"""Fixtures: the example servers, run as subprocesses, and raw wire access to them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO

import pytest
from conformance_wire import SCALE, Wire, client_session

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 20.0 * SCALE


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _output(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read().decode(errors="replace")


class _ExampleRunner:
    """Starts ``examples/<name>`` on a free port and stops it again."""

    def __init__(self) -> None:
        self._running: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []

    def start(self, name: str) -> str:
        script = ROOT / "examples" / name
        if not script.is_file():
            pytest.fail(f"{script} does not exist")
        port = _free_port()
        log = tempfile.TemporaryFile()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(
            [sys.executable, str(script), "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self._running.append((proc, log))
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not _accepts_connections(port):
            if proc.poll() is not None:
                pytest.fail(f"{name} exited with {proc.returncode}:\n{_output(log)}")
            if time.monotonic() > deadline:
                pytest.fail(f"{name} is not listening on {port} after {STARTUP_TIMEOUT:.0f} s")
            time.sleep(0.05)
        return f"http://127.0.0.1:{port}"

    def stop_all(self) -> None:
        crashed: list[str] = []
        for proc, log in self._running:
            if proc.poll() is not None:
                crashed.append(f"{proc.args!r} exited with {proc.returncode}:\n{_output(log)}")
            else:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            log.close()
        self._running.clear()
        if crashed:
            pytest.fail("\n".join(crashed))


@pytest.fixture(scope="module")
def run_example() -> Iterator[_ExampleRunner]:
    runner = _ExampleRunner()
    yield runner
    runner.stop_all()


@pytest.fixture(scope="module")
def engineio_url(run_example: _ExampleRunner) -> str:
    """Base URL of ``examples/engineio_echo.py`` (Engine.IO echo on ``/engine.io/``)."""
    return run_example.start("engineio_echo.py")


@pytest.fixture(scope="module")
def socketio_url(run_example: _ExampleRunner) -> str:
    """Base URL of ``examples/socketio_conformance.py`` (Socket.IO, ``/socket.io/``)."""
    return run_example.start("socketio_conformance.py")


@pytest.fixture
async def eio(engineio_url: str) -> AsyncIterator[Wire]:
    async with client_session() as session:
        wire = Wire(session, engineio_url, "/engine.io/")
        try:
            yield wire
        finally:
            await wire.aclose()


@pytest.fixture
async def sio(socketio_url: str) -> AsyncIterator[Wire]:
    async with client_session() as session:
        wire = Wire(session, socketio_url, "/socket.io/")
        try:
            yield wire
        finally:
            await wire.aclose()
