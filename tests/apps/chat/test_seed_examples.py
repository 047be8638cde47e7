"""The seed examples of docs/chat-protocol.md (examples/seed/), as the docs show them and
working, with the official client."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import jwt
import pytest

from integration.support import ROOT, NodeClient

from .support import Tabs, needs_node

pytestmark = needs_node
SEED = ROOT / "examples" / "seed"
DOCS = ROOT / "docs" / "chat-protocol.md"
SECRET = "seed-secret-of-at-least-32-bytes!!"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"seed_{name}", SEED / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["notifications", "chat"])
def test_the_docs_show_the_files_as_they_are(name: str) -> None:
    text = (SEED / f"{name}.py").read_text()
    code = text[text.index('"""', 3) + 3 :].strip()
    assert f"```python\n{code}\n```" in DOCS.read_text()


Served = Callable[[ModuleType], Any]


@pytest.fixture
async def served() -> AsyncIterator[Callable[[ModuleType], Any]]:
    """``url, tabs = await served(module)``: its ``io`` listening, a node driver on it."""
    closing: list[Any] = []

    async def serve(module: ModuleType) -> tuple[str, Tabs]:
        listener = await module.io.listen()
        url = f"http://127.0.0.1:{listener.port}"
        node = await NodeClient.start(url)
        closing.extend([node, listener])
        return url, Tabs(node)

    yield serve
    for item in reversed(closing):
        await item.aclose()


async def test_a_notification_reaches_the_users_room(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROOMCAST_JWT_SECRET", SECRET)
    monkeypatch.setenv("NOTIFY_TOKEN", "let-me-notify")
    url, tabs = await served(load("notifications"))
    for user, tab in (("42", "a1"), ("42", "a2"), ("7", "b")):
        token = jwt.encode({"sub": user, "exp": int(time.time()) + 60}, SECRET)
        await tabs.open(tab, token)
    note = {"user": 42, "title": "Build done"}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/api/notify", json=note) as response:
            assert response.status == 401
            assert (await response.json())["_rc_error"]["code"] == "unauthorized"
        headers = {"Authorization": "Bearer let-me-notify"}
        async with http.post(f"{url}/api/notify", json=note, headers=headers) as response:
            assert response.status == 201
        async with http.post(
            f"{url}/api/notify", json={"user": 7, "title": "for 7"}, headers=headers
        ) as response:
            assert response.status == 201
    for tab in ("a1", "a2"):
        await tabs.event(tab, "notification", title="Build done")
    await tabs.event("b", "notification", title="for 7")
    assert [n["title"] for n in tabs.events("b", "notification")] == ["for 7"]


async def test_join_send_and_type(
    served: Served, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # the example's store file goes there
    _, tabs = await served(load("chat"))
    for tab in ("ada", "bob"):
        await tabs.node.connect(tab, transports=["websocket"])
        assert await tabs.ok(tab, "join-room", "lobby") == []
    refused = await tabs.call("ada", "send-message", {"room": "kitchen", "text": "hi"})
    assert refused["_rc_error"]["code"] == "forbidden"
    sent = await tabs.ok("ada", "send-message", {"room": "lobby", "text": "hello"})
    for tab in ("ada", "bob"):
        _, offset = await tabs.event(tab, "message", text="hello")
        assert offset == sent["offset"]
    await tabs.node.emit("bob", "typing", "lobby")
    await tabs.event("ada", "typing", room="lobby")
    await tabs.node.connect("carol", transports=["websocket"])
    history = await tabs.ok("carol", "join-room", "lobby")
    assert [(m["text"], m["offset"]) for m in history] == [("hello", sent["offset"])]
    assert tabs.events("bob", "typing") == []
    assert (tmp_path / "chat-history.db").is_file()
