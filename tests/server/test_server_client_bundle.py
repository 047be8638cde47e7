"""The browser client served from npm's ``socket.io-client`` package: content types, ETag
caching, the other bundle files, ``serve_client=False``, and the hint when it is missing."""

from __future__ import annotations

from pathlib import Path

import pytest
from multidict import CIMultiDictProxy
from server_wire import SIO_PATH, SioHarness, StartSio, request_full

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "node_modules" / "socket.io-client" / "dist"

needs_bundle = pytest.mark.skipif(
    not (DIST / "socket.io.js").is_file(),
    reason="node_modules/socket.io-client is missing (npm install socket.io-client)",
)


async def fetch(
    harness: SioHarness, name: str, headers: dict[str, str] | None = None
) -> tuple[int, bytes, CIMultiDictProxy[str]]:
    status, body, response_headers = await request_full(
        harness.net.http, "GET", harness.url + SIO_PATH + name, headers=headers
    )
    return status, body, response_headers


@needs_bundle
async def test_bundle_is_served_with_etag_and_304(
    start_sio: StartSio, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ROOMCAST_CLIENT_DIR", raising=False)
    harness = await start_sio()
    bystander = await harness.bystander()

    status, body, headers = await fetch(harness, "socket.io.js")

    assert status == 200
    assert headers["Content-Type"].split(";")[0] == "application/javascript"
    assert body == (DIST / "socket.io.js").read_bytes()
    etag = headers["ETag"]
    assert etag.startswith('"')
    assert etag.endswith('"')

    status, body, headers = await fetch(harness, "socket.io.js", {"If-None-Match": etag})
    assert status == 304
    assert body == b""
    assert headers["ETag"] == etag

    status, body, _ = await fetch(harness, "socket.io.js", {"If-None-Match": '"stale"'})
    assert status == 200
    assert body == (DIST / "socket.io.js").read_bytes()
    await bystander.assert_echo()


@needs_bundle
@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("socket.io.min.js", "application/javascript"),
        ("socket.io.js.map", "application/json"),
        ("socket.io.min.js.map", "application/json"),
    ],
)
async def test_other_bundle_files_are_served(
    start_sio: StartSio, monkeypatch: pytest.MonkeyPatch, name: str, content_type: str
) -> None:
    monkeypatch.delenv("ROOMCAST_CLIENT_DIR", raising=False)
    harness = await start_sio()
    bystander = await harness.bystander()

    status, body, headers = await fetch(harness, name)

    assert status == 200
    assert headers["Content-Type"].split(";")[0] == content_type
    assert body == (DIST / name).read_bytes()
    assert headers["ETag"] != (await fetch(harness, "socket.io.js"))[2]["ETag"]
    await bystander.assert_echo()


async def test_serve_client_false_does_not_serve_the_bundle(start_sio: StartSio) -> None:
    harness = await start_sio(serve_client=False)
    bystander = await harness.bystander()

    status, body, headers = await fetch(harness, "socket.io.js")

    assert status in (400, 404)
    assert "javascript" not in headers.get("Content-Type", "")
    assert b"function" not in body
    await bystander.assert_echo()


async def test_missing_bundle_answers_404_with_the_npm_hint(
    start_sio: StartSio, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ROOMCAST_CLIENT_DIR", str(tmp_path))
    harness = await start_sio()
    bystander = await harness.bystander()

    for name in ("socket.io.js", "socket.io.min.js", "socket.io.js.map"):
        status, body, _ = await fetch(harness, name)
        assert status == 404
        assert b"npm install socket.io-client" in body

    await bystander.assert_echo()
