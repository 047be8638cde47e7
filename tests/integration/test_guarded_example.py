"""The contract of ``examples/guarded/app.py``, run as its users run it (a subprocess on a
free port) and driven by the official socket.io-client."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import jwt
import pytest

from .support import ROOT, WAIT, NodeClient

pytestmark = pytest.mark.node

SECRET = "guarded-example-test-secret-of-32-bytes"
ALLOWED = "https://chat.example"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def token(sub: str = "ada", *, secret: str = SECRET, expires_in: float = 600.0) -> str:
    claims = {"sub": sub, "exp": int(time.time() + expires_in)}
    return jwt.encode(claims, secret, algorithm="HS256")


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    """The example on a free port, with a secret and two allowed origins."""
    port = free_port()
    env = {**os.environ, "ROOMCAST_JWT_SECRET": SECRET, "ROOMCAST_ORIGINS": f"{ALLOWED},x"}
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "examples" / "guarded" / "app.py"), str(port)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + WAIT * 2
        while not listening(port):  # waiting for start-up, not for a race
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                log.seek(0)
                pytest.fail(f"the example did not start: {log.read().decode()}")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
        proc.terminate()
        proc.wait(WAIT)


@pytest.fixture
async def node(url: str) -> AsyncIterator[NodeClient]:
    client = await NodeClient.start(url)
    yield client
    await client.aclose()


def error(record: dict[str, Any]) -> dict[str, Any]:
    assert record["type"] == "ack", record
    (value,) = record["args"]
    assert list(value) == ["_rc_error"], value
    found: dict[str, Any] = value["_rc_error"]
    return found


@pytest.mark.parametrize("where", ["auth", "header", "cookie"])
async def test_a_valid_token_from_each_place_and_whoami(node: NodeClient, where: str) -> None:
    value = token(f"user-{where}")
    options: dict[str, Any] = {
        "auth": {"auth": {"token": value}},
        "header": {"headers": {"Authorization": f"Bearer {value}"}},
        "cookie": {"headers": {"Cookie": f"theme=dark; token={value}"}},
    }[where]
    await node.connect("a", transports=["websocket"], **options)
    assert (await node.emit_with_ack("a", "whoami"))["args"] == [f"user-{where}"]


@pytest.mark.parametrize(
    ("auth", "code"),
    [
        (None, "token_missing"),
        ({"token": token(secret="another secret of the same length!!")}, "token_invalid"),
        ({"token": token()[:-3] + "abc"}, "token_invalid"),
        ({"token": "not a jwt"}, "token_invalid"),
        ({"token": token(expires_in=-60)}, "token_expired"),
    ],
)
async def test_bad_tokens_are_refused_with_why(
    node: NodeClient, auth: dict[str, str] | None, code: str
) -> None:
    record = await node.connect("a", transports=["websocket"], auth=auth, expect="connect_error")
    assert record["data"]["code"] == code
    assert record["message"]  # a sentence for people


async def test_say_is_validated_and_acked_ok(node: NodeClient) -> None:
    await node.connect_all(["a", "b", "c"], transports=["websocket"], auth={"token": token()})
    assert (await node.emit_with_ack("b", "say", {"room": "r1", "text": "join"}))["args"] == [
        {"ok": True}
    ]
    await node.wait(type="event", id="b", event="message")
    ok = await node.emit_with_ack("a", "say", {"room": "r1", "text": "hello"})
    assert ok["args"] == [{"ok": True}]
    got = await node.wait(type="event", id="b", event="message", count=2)
    assert got["args"] == [{"room": "r1", "text": "hello", "from": "ada"}]
    for bad, loc in [
        ({"room": "", "text": "x"}, [0, "room"]),
        ({"room": "r" * 65, "text": "x"}, [0, "room"]),
        ({"room": "r", "text": ""}, [0, "text"]),
        ({"room": "r", "text": "t" * 501}, [0, "text"]),
        ({"text": "x"}, [0, "room"]),
    ]:
        refused = error(await node.emit_with_ack("c", "say", bad))  # 5: c's whole burst
        assert refused["code"] == "validation_failed"
        assert [d["loc"] for d in refused["details"]] == [loc]
    assert (await node.emit_with_ack("a", "say", {"room": "r" * 64, "text": "t" * 500}))[
        "args"
    ] == [{"ok": True}]


async def test_say_takes_five_at_once_then_says_when_to_retry(node: NodeClient) -> None:
    await node.connect("a", transports=["websocket"], auth={"token": token()})
    await node.send_many(
        {
            "cmd": "emit",
            "id": "a",
            "event": "say",
            "args": [{"room": "r", "text": f"m{i}"}],
            "ack": True,
            "req": f"burst{i}",
        }
        for i in range(10)
    )
    acks = [(await node.wait(type="ack", req=f"burst{i}"))["args"][0] for i in range(10)]
    assert acks[:5] == [{"ok": True}] * 5
    for refused in acks[5:]:
        assert refused["_rc_error"]["code"] == "rate_limited"
        assert 0 < refused["_rc_error"]["details"]["retry_after"] <= 0.2


async def test_boom_answers_a_handler_error(node: NodeClient) -> None:
    await node.connect("a", transports=["websocket"], auth={"token": token()})
    assert error(await node.emit_with_ack("a", "boom")) == {
        "code": "handler_error",
        "message": "the handler failed",
        "details": None,
    }
    assert (await node.emit_with_ack("a", "whoami"))["args"] == ["ada"]


async def test_origins_come_from_the_environment(url: str) -> None:
    async with aiohttp.ClientSession() as http:
        for origin, allowed in ((ALLOWED, True), ("https://evil.example", False)):
            async with http.get(
                f"{url}/socket.io/?EIO=4&transport=polling", headers={"Origin": origin}
            ) as response:
                assert (response.status == 200) is allowed
                assert (response.headers.get("Access-Control-Allow-Origin") == origin) is allowed
