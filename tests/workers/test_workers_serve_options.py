"""``roomcast serve`` as a newcomer uses it: a file path as the target, options from the
environment, ``--version``, ``--help``, the start-up line, JSON logs and ``make demo PORT=``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib.metadata import version
from pathlib import Path

import aiohttp
import pytest

from integration.support import WAIT
from roomcast.cli import SERVE_OPTIONS, _parser, main

from .workers_support import HERE, Served, closing

ROOT = HERE.parent.parent
CHAT = ROOT / "examples" / "chat"
Start = Callable[..., Awaitable[Served]]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    """``served = await start(*argv, env=..., cwd=...)``: the command (``python -m roomcast``
    unless argv starts with ``make``) in its own process group, once serving; stopped at
    teardown (the whole group)."""
    started: list[Served] = []

    async def run(*argv: str, env: dict[str, str] | None = None, cwd: Path = HERE) -> Served:
        command = list(argv) if argv[0] == "make" else [sys.executable, "-m", "roomcast", *argv]
        proc = await asyncio.create_subprocess_exec(
            *command,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        served = Served(proc, tempfile.mkdtemp(prefix="rc-w-"))  # removed by closing()
        started.append(served)
        record = await served.log.wait(text=lambda t: "serving http" in t)
        served.port = int(re.findall(r"serving https?://[^:]+:(\d+)", record["text"])[0])
        return served

    yield run
    for served in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(served.proc.pid, signal.SIGTERM)
        await closing(served)


async def fetch(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.text()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def assert_chat_page(port: int) -> None:
    base = f"http://127.0.0.1:{port}"
    status, page = await fetch(base + "/")
    assert status == 200
    assert "/static/chat.js" in page
    for path in ("/static/chat.js", "/static/chat.css", "/socket.io/socket.io.js", "/readyz"):
        assert (await fetch(base + path))[0] == 200, path
    assert (await fetch(base + "/static/%2e%2e/server.py"))[0] == 404


def relative(path: Path, start: Path) -> str:
    return os.path.relpath(path, start)


async def test_a_file_path_serves_the_chat_with_its_page(start: Start, tmp_path: Path) -> None:
    target = relative(CHAT / "server.py", tmp_path) + ":io"
    served = await start("serve", target, "--port", "0", "--workers", "2", cwd=tmp_path)
    await assert_chat_page(served.port)
    assert await served.stop() == 0


async def test_options_from_the_environment(start: Start) -> None:
    env = {
        "ROOMCAST_APP": "workers_app:build",
        "ROOMCAST_WORKERS": "2",
        "PORT": "0",
        "ROOMCAST_LOG_FORMAT": "json",
        "ROOMCAST_SHUTDOWN_TIMEOUT": "3",
        "ROOMCAST_STORE": "memory://",
    }
    served = await start("serve", env=env)
    line = json.loads(served.lines("serving http")[0])
    assert line["level"] == "INFO"
    assert line["logger"] == "roomcast.serve"
    assert line["message"].startswith("roomcast: 2 workers serving http://127.0.0.1:")
    assert "adapter: local hub; store: memory://; TLS: off" in line["message"]
    assert {"time", "pid"} <= line.keys()
    assert (await fetch(f"http://127.0.0.1:{served.port}/healthz"))[0] == 200
    assert await served.stop() == 0
    for record in served.log.records:  # every line is one JSON object
        json.loads(record["text"])


def parsed(argv: list[str], env: dict[str, str]) -> dict[str, object]:
    return vars(_parser(env).parse_args(argv))


def test_the_command_line_wins_and_roomcast_port_before_port() -> None:
    assert parsed(["serve", "a:io"], {})["port"] == 3000
    assert parsed(["serve", "a:io"], {"PORT": "8080"})["port"] == 8080
    both = {"PORT": "8080", "ROOMCAST_PORT": "9090", "ROOMCAST_HOST": "0.0.0.0"}
    assert parsed(["serve", "a:io"], both)["port"] == 9090
    assert parsed(["serve", "a:io"], both)["host"] == "0.0.0.0"
    assert parsed(["serve", "a:io", "--port", "7070"], both)["port"] == 7070
    env = {"ROOMCAST_REDIS": "redis://r:6379", "ROOMCAST_STORE": "sqlite:///x.db"}
    args = parsed(["serve", "a:io", "--store", "memory://"], env)
    assert (args["redis"], args["store"]) == ("redis://r:6379", "memory://")


def test_a_bad_value_from_the_environment_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", "a:io"], {"ROOMCAST_WORKERS": "many"})
    assert exited.value.code == 2
    assert "invalid int value: 'many'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["serve", "a:io"], {"ROOMCAST_LOG_FORMAT": "xml"})
    assert "--log-format: 'xml' is not one of text, json" in capsys.readouterr().err


def test_help_documents_every_environment_variable(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"], {})
    text = capsys.readouterr().out
    for option in SERVE_OPTIONS:
        for name in option.env:
            assert name in text
    assert "ROOMCAST_APP" in text
    assert "/readyz" in text


async def test_version_comes_from_the_package_metadata() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "roomcast", "--version", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(proc.communicate(), WAIT)
    assert proc.returncode == 0
    assert out.decode().strip() == f"roomcast {version('roomcast')}"


def test_a_missing_file_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["serve", str(tmp_path / "nope.py") + ":io", "--port", "0"], {}) == 2
    assert "no such file" in capsys.readouterr().err


async def test_make_demo_on_a_port(start: Start, tmp_path: Path) -> None:
    port = free_port()
    env = {"ROOMCAST_CHAT_DATA": str(tmp_path / "data")}  # not the checkout's ./roomcast-data
    served = await start("make", "-s", "demo", f"PORT={port}", cwd=ROOT, env=env)
    assert served.port == port
    base = f"http://127.0.0.1:{port}"  # the chat service (roomcast chat)
    status, page = await fetch(base + "/")
    assert status == 200
    assert "/chat.js" in page
    for path in ("/chat.js", "/chat.css", "/socket.io/socket.io.js", "/readyz"):
        assert (await fetch(base + path))[0] == 200, path
    assert (tmp_path / "data" / "chat.db").is_file()


def test_the_drain_must_end_before_the_graceful_timeout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["serve", "workers_app:io", "--port", "0", "--drain-seconds", "5"]
    assert main([*argv, "--graceful-timeout", "5"], {}) == 2
    assert "--drain-seconds must be at least 0 and under --graceful-timeout" in (
        capsys.readouterr().err
    )


async def test_a_request_head_that_takes_too_long_is_answered_408(start: Start) -> None:
    served = await start("serve", "workers_app:build", "--port", "0", "--header-timeout", "0.3")
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and no more
        answer = await asyncio.wait_for(reader.read(), WAIT)  # up to the server's close
        assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer
    finally:
        writer.close()
    assert (await fetch(f"http://127.0.0.1:{served.port}/healthz"))[0] == 200
    assert await served.stop() == 0
