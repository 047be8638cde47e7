"""The wheel: built from this tree, installed in a fresh virtual environment with no
node_modules around, it puts ``roomcast`` on the PATH and serves the official browser
client (the bundle of package-lock.json, copied from npm at build time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import urllib.request
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "node_modules" / "socket.io-client" / "dist" / "socket.io.js"
WAIT = 60.0 * float(os.environ.get("ROOMCAST_TEST_TIMEOUT_FACTOR", "1"))

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(not BUNDLE.is_file(), reason="node_modules/socket.io-client missing"),
]

SERVE = """
import asyncio, sys
import roomcast

async def main():
    listener = await roomcast.Server().listen("127.0.0.1", 0)
    print(listener.port, roomcast.__file__, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await listener.aclose()

asyncio.run(main())
"""


def run(*args: str | Path, **options: object) -> str:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=WAIT, **options
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_the_wheel_serves_the_client_bundle(tmp_path: Path) -> None:
    run(sys.executable, "-m", "pip", "wheel", ROOT, "--no-deps", "-q", "-w", tmp_path / "dist")
    (wheel,) = (tmp_path / "dist").glob("roomcast-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", wheel)
    # the dependencies are this environment's (not roomcast: an editable install is only
    # found through its .pth, which PYTHONPATH does not read)
    env = {"PATH": f"{env_dir / 'bin'}:{os.environ['PATH']}"}
    env["PYTHONPATH"] = sysconfig.get_paths()["purelib"]
    app = tmp_path / "app"
    app.mkdir()
    assert run("roomcast", "--version", env=env, cwd=app).strip()

    server = subprocess.Popen(
        [python, "-c", SERVE],
        cwd=app,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port, module = server.stdout.readline().split()
        assert Path(module).is_relative_to(env_dir), module  # the wheel's, not this tree's
        url = f"http://127.0.0.1:{port}/socket.io/socket.io.js"
        with urllib.request.urlopen(url, timeout=WAIT) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("application/javascript")
            body = response.read()
    finally:
        server.communicate("", timeout=WAIT)
    assert body == BUNDLE.read_bytes()
    lock = json.loads((ROOT / "package-lock.json").read_text())
    version = lock["packages"]["node_modules/socket.io-client"]["version"]
    assert f"Socket.IO v{version}".encode() in body[:200]
