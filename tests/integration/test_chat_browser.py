"""The example chat (examples/chat) in real headless Chromium pages, driven by Playwright.

The server runs as a subprocess, exactly as a user starts it; ``browser`` (tests/conftest.py)
is Debian's Chromium.
Set ROOMCAST_CHAT_SCREENSHOT=/tmp/chat.png to keep a picture of Alice's page.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .support import ROOT, seconds

try:
    from playwright.async_api import Browser, Page, expect
except ImportError:
    pytest.skip(
        "needs Playwright for Python (.venv/bin/pip install playwright; no browser download)",
        allow_module_level=True,
    )

SERVER = ROOT / "examples" / "chat" / "server.py"
WAIT = seconds(10.0)
WAIT_MS = WAIT * 1000
expect.set_options(timeout=WAIT_MS)


# ------------------------------------------------------------------------------ fixtures


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    """Until the server accepts connections; fails if it exits or the deadline passes."""
    deadline = time.monotonic() + seconds(20.0)
    while True:
        if proc.poll() is not None:
            pytest.fail(f"chat server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"chat server not listening on {port}:\n{log.read_text()}")
            time.sleep(0.05)


@pytest.fixture(scope="module")
def chat_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python examples/chat/server.py --port N`` on a free port; its base URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("chat") / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(SERVER), "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(proc, port, log)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=seconds(10.0))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert "Traceback" not in log.read_text(), log.read_text()


# ------------------------------------------------------------------------------- helpers


async def open_chat(browser: Browser, url: str, errors: list[str]) -> Page:
    """A fresh page (own cookies and storage) on the chat; checks that the client loaded."""
    context = await browser.new_context(viewport={"width": 1000, "height": 720})
    page = await context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    async with page.expect_response(lambda r: r.url.endswith("/socket.io/socket.io.js")) as info:
        document = await page.goto(url)
    assert document is not None
    assert document.status == 200
    bundle = await info.value
    assert bundle.status == 200, f"{bundle.url}: {bundle.status}"
    assert await page.evaluate("typeof io") == "function"
    return page


async def join(page: Page, name: str, room: str = "lobby") -> None:
    await page.fill("#name", name)
    await page.fill("#room", room)
    await page.click("#join")
    await expect(page.locator("#status")).to_have_text(f"Connected as {name}")
    await expect(page.locator("#room-title")).to_have_text(f"# {room}")


async def switch_room(page: Page, room: str) -> None:
    await page.fill("#room", room)
    await page.click("#join")
    await expect(page.locator("#room-title")).to_have_text(f"# {room}")


async def send(page: Page, text: str) -> None:
    await page.fill("#message", text)
    await page.click("#send")


# --------------------------------------------------------------------------------- tests


async def test_room_and_private_messages(browser: Browser, chat_url: str) -> None:
    errors: list[str] = []
    alice = await open_chat(browser, chat_url, errors)
    bob = await open_chat(browser, chat_url, errors)

    await join(alice, "Alice")
    await join(bob, "Bob")
    for page in (alice, bob):
        await expect(page.locator("#users li")).to_have_text(["Alice", "Bob"])
    await expect(alice.locator("#messages li.notice").last).to_contain_text("Bob joined lobby")

    # A room message reaches everyone in the room, the sender included.
    await send(alice, "hello from alice")
    for page in (bob, alice):
        line = page.locator("#messages li.message", has_text="hello from alice")
        await expect(line).to_have_count(1)
        await expect(line.locator(".name")).to_have_text("Alice")
        await expect(line.locator("time")).to_have_text(re.compile(r"\d{1,2}:\d{2}"))

    # Bob clicks Alice in the user list and whispers.
    await bob.locator("#users li", has_text="Alice").click()
    await expect(bob.locator("#private-to")).to_be_visible()
    await expect(bob.locator("#private-to-label")).to_have_text("Private to Alice")
    await send(bob, "psst, alice")
    whisper = alice.locator("#messages li.private.incoming", has_text="psst, alice")
    await expect(whisper).to_have_count(1)
    await expect(whisper.locator(".name")).to_have_text("Bob (private)")
    await expect(bob.locator("#messages li.private.outgoing")).to_contain_text("to Alice")

    # Only Alice got it. Whatever the server sent Bob before Alice's next room message
    # arrives before that message on his connection, so once he shows it, he has it all.
    await send(alice, "after the whisper")
    await expect(bob.locator("#messages li.message", has_text="after the whisper")).to_have_count(1)
    await expect(bob.locator("#messages li.private.incoming")).to_have_count(0)
    await expect(bob.locator("#messages li.message", has_text="psst")).to_have_count(0)
    await expect(alice.locator("#messages li.message", has_text="psst")).to_have_count(0)

    screenshot = os.environ.get("ROOMCAST_CHAT_SCREENSHOT")
    if screenshot:
        await alice.screenshot(path=screenshot, full_page=True)

    # Bob moves to another room and back: both user lists follow.
    await switch_room(bob, "kitchen")
    await expect(bob.locator("#users li")).to_have_text(["Bob"])
    await expect(bob.locator("#private-to")).to_be_hidden()  # Alice is not in the kitchen
    await expect(alice.locator("#users li")).to_have_text(["Alice"])
    await expect(alice.locator("#messages li.notice").last).to_contain_text("Bob left lobby")
    await switch_room(bob, "lobby")
    for page in (alice, bob):
        await expect(page.locator("#users li")).to_have_text(["Alice", "Bob"])

    # Bob closes his page: Alice's user list follows.
    await bob.context.close()
    await expect(alice.locator("#users li")).to_have_text(["Alice"])
    await expect(alice.locator("#messages li.notice", has_text="Bob left lobby")).to_have_count(2)
    assert errors == []


async def test_empty_name_shows_connect_error(browser: Browser, chat_url: str) -> None:
    errors: list[str] = []
    page = await open_chat(browser, chat_url, errors)
    await page.fill("#name", "   ")
    await page.click("#join")
    await expect(page.locator("#error")).to_be_visible()
    await expect(page.locator("#error")).to_have_text("Could not connect: name required")
    await expect(page.locator("#name")).to_have_class("invalid")  # from err.data.field
    await expect(page.locator("#status")).to_have_text("Not connected")
    await expect(page.locator("#message")).to_be_disabled()

    # The same page can then connect with a name.
    await join(page, "Carol")
    await expect(page.locator("#error")).to_be_hidden()
    await expect(page.locator("#users li")).to_have_text(["Carol"])
    assert errors == []
