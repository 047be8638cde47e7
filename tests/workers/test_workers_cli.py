"""The ``roomcast serve`` command and ``roomcast.serve()``: loading the app, refusing what
cannot work, restarting a worker that dies, stopping on a signal."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

import roomcast
from integration.support import WAIT
from roomcast.cli import main

from .workers_support import HERE, PollingClient, Served

ServeApp = Callable[..., Awaitable[Served]]


async def whoami(via: str) -> dict[str, object]:
    """Open a session at ``via`` and ask which process holds it."""
    client = PollingClient()
    try:
        await client.handshake(via)
        await client.request(via, "POST", "40")
        await client.request(via)
        await client.request(via, "POST", '421["whoami"]')
        answer = await client.request(via)
        assert answer.startswith("431"), answer
        who: dict[str, object] = json.loads(answer[3:])[0]
        return who
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("workers_app", "expected module:attribute"),
        ("no_such_module_here:io", "cannot import 'no_such_module_here'"),
        ("workers_app:missing", "has no attribute 'missing'"),
        ("workers_app:not_a_server", "is a int, not a roomcast.Server"),
    ],
)
def test_an_app_that_cannot_be_served_is_refused(
    spec: str, message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(HERE)
    assert main(["serve", spec, "--workers", "2", "--port", "0"]) == 2
    assert message in capsys.readouterr().err


def test_a_port_in_use_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "workers_app:io", "--port", str(port), "--workers", "2"]) == 1
    assert f"127.0.0.1:{port} is already in use" in capsys.readouterr().err


async def test_a_worker_failing_at_start_stops_everything() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "roomcast",
        "serve",
        "workers_app:broken",
        "--workers",
        "2",
        "--port",
        "0",
        cwd=HERE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), WAIT)
    assert proc.returncode == 1
    assert b"RuntimeError: broken on purpose" in err
    assert b"exited with status 1 while starting" in err


async def test_a_dead_worker_is_started_again(serve_app: ServeApp) -> None:
    served = await serve_app(workers=2)
    before = await whoami(served.worker_socket(0))
    pid = before["pid"]
    assert isinstance(pid, int)
    os.kill(pid, signal.SIGKILL)
    await served.log.wait(text=lambda t: f"worker 0 (pid {pid}) exited with status -9" in t)
    await served.log.wait(text=lambda t: "worker 0 is serving again" in t)
    after = await whoami(served.worker_socket(0))
    assert after["tag"] == before["tag"]
    assert after["pid"] != pid
    assert (await whoami(served.url))["tag"] in {before["tag"], f"{served.node}-1"}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_a_signal_stops_every_process(serve_app: ServeApp, signum: int) -> None:
    served = await serve_app(workers=2)
    pids = {(await whoami(served.worker_socket(i)))["pid"] for i in range(2)}
    assert await served.stop(signum) == 0
    for pid in pids:
        assert isinstance(pid, int)
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # reaped by the supervisor
    assert not os.listdir(served.runtime_dir)  # the sockets are gone


async def test_the_serve_function(serve_app: ServeApp, tmp_path: Path) -> None:
    script = tmp_path / "serve_it.py"
    script.write_text(
        "import logging, sys\n"
        f"sys.path.insert(0, {str(HERE)!r})\n"
        "import roomcast, workers_app\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "if __name__ == '__main__':\n"
        "    roomcast.serve(workers_app.build, workers=2, port=0, shutdown_timeout=3)\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(script), stderr=asyncio.subprocess.PIPE
    )
    served = Served(proc, str(tmp_path))
    try:
        record = await served.log.wait(text=lambda t: "serving http://" in t)
        port = int(record["text"].split("http://127.0.0.1:")[1].split(" ")[0])
        tags = set()
        for _ in range(40):
            tags.add((await whoami(f"http://127.0.0.1:{port}"))["tag"])
            if len(tags) == 2:
                break
        assert len(tags) == 2
    finally:
        assert await served.stop() == 0
    assert roomcast.serve.__module__ == "roomcast.cluster.supervisor"


async def test_workers_end_with_a_supervisor_killed_by_sigkill() -> None:
    served = await Served.start(workers=2)
    pids = {int(str((await whoami(served.url))["pid"])) for _ in range(8)}
    pids |= _children_of(served.proc.pid)
    ended = {pid: await _exit_of(pid) for pid in pids}
    served.proc.kill()  # SIGKILL: the supervisor cannot tell its workers anything
    await served.stop()
    try:
        await asyncio.wait_for(asyncio.gather(*ended.values()), WAIT)
    finally:  # never leave a worker serving behind (one still running keeps its pid)
        for pid, done in ended.items():
            if not done.done():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
    with pytest.raises(ConnectionRefusedError):  # nothing serves on the port any more
        await asyncio.open_connection("127.0.0.1", served.port)


def _children_of(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(child) for child in (task / "children").read_text().split())
    return found


async def _exit_of(pid: int) -> asyncio.Future[None]:
    """A future set when process ``pid`` ends (a pidfd turns readable then)."""
    loop = asyncio.get_running_loop()
    ended: asyncio.Future[None] = loop.create_future()
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        ended.set_result(None)
        return ended

    def readable() -> None:
        loop.remove_reader(fd)
        os.close(fd)
        if not ended.done():
            ended.set_result(None)

    loop.add_reader(fd, readable)
    return ended
