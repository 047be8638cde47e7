"""``examples/plain_ws.py`` as its contract says, run as a subprocess and checked with Node's
``ws`` and the official ``socket.io-client``: over plain TCP and over TLS (a certificate
from a throwaway CA made by ``trustme``)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme
from wire import WAIT

ROOT = Path(__file__).resolve().parents[2]
CHECK = Path(__file__).resolve().parent / "node" / "example_check.mjs"
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="needs node")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_listening(port: int, proc: asyncio.subprocess.Process) -> None:
    async with asyncio.timeout(WAIT * 2):
        while True:
            assert proc.returncode is None, "the example exited"
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)  # not listening yet: the process is starting
                continue
            writer.close()
            return


async def start_example(*args: str) -> AsyncIterator[tuple[int, asyncio.subprocess.Process]]:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "examples" / "plain_ws.py"), str(port), *args,
        "--host", "127.0.0.1",
    )  # fmt: skip
    try:
        await wait_listening(port, proc)
        yield port, proc
    finally:
        if proc.returncode is None:
            proc.terminate()
        await proc.wait()


async def check(base_url: str, env: dict[str, str] | None = None) -> dict[str, object]:
    assert NODE is not None
    proc = await asyncio.create_subprocess_exec(
        NODE, str(CHECK), base_url, stdout=asyncio.subprocess.PIPE, cwd=ROOT, env=env
    )
    out, _ = await asyncio.wait_for(proc.communicate(), WAIT * 2)
    result: dict[str, object] = json.loads(out)
    return result


EXPECTED = {
    "echo": [{"text": "héllo"}, {"bin": base64.b64encode(b"\x00\xff\x01").decode()}],
    "chat": [{"text": "from a"}, {"bin": base64.b64encode(b"\x07\x07").decode()}],
    "echoedToSender": 0,
    "sio": {"nested": [1, "two"]},
    "sioPolling": "over polling",
    # permessage-deflate is on: Node's ws and socket.io-client offer it and get it
    "big": {"echo": True, "plain": True, "chat": True, "sio": True},
    "extensions": {
        "echo": "permessage-deflate",
        "plain": "",  # a client that offers nothing is served without it
        "chat": ["permessage-deflate", "permessage-deflate"],
        "sio": "permessage-deflate",
    },
}


async def test_example_over_tcp() -> None:
    async for port, _ in start_example():
        assert await check(f"http://127.0.0.1:{port}") == EXPECTED


async def test_example_over_tls(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    certfile, keyfile, cafile = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.private_key_pem.write_to_path(str(keyfile))
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    ca.cert_pem.write_to_path(str(cafile))
    async for port, _ in start_example("--certfile", str(certfile), "--keyfile", str(keyfile)):
        env = dict(os.environ, NODE_EXTRA_CA_CERTS=str(cafile))
        assert await check(f"https://127.0.0.1:{port}", env) == EXPECTED


async def test_example_with_a_bad_key_says_so(tmp_path: Path) -> None:
    certfile = tmp_path / "cert.pem"
    trustme.CA().issue_cert("127.0.0.1").cert_chain_pems[0].write_to_path(str(certfile))
    (tmp_path / "key.pem").write_text("not a key")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "examples" / "plain_ws.py"), str(free_port()),
        "--certfile", str(certfile), "--keyfile", str(tmp_path / "key.pem"),
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), WAIT)
    assert proc.returncode == 2
    assert b"cannot load the TLS certificate" in err
