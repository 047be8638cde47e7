"""The service's page in headless Chromium (``browser``: Debian's, driven by Playwright),
against ``roomcast chat`` run as a user runs it: on each store, with one worker and with
``--workers 2`` (the two users' pages then on different workers).

The scenarios take screenshots on the way; with ROOMCAST_SCREENSHOTS=docs/screenshots they
are kept where the README shows them (docs/screenshots/chat-*.png), else in the test's
temporary folder.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import pytest

from integration.support import seconds

from .support import PASSWORD, Api, ChatServer

try:
    from playwright.async_api import Browser, Locator, Page, WebSocketRoute, expect
except ImportError:
    pytest.skip("needs Playwright for Python", allow_module_level=True)

WAIT_MS = seconds(10.0) * 1000
expect.set_options(timeout=WAIT_MS)
SEND_ACK = re.compile(r'^43\d+\[\{"id":\d+,"offset":')  # the answer to a send-message


@pytest.fixture(params=[1, 2], ids=["1-worker", "2-workers"])
def worker_args(request: pytest.FixtureRequest) -> list[str]:
    return [] if request.param == 1 else ["--workers", str(request.param)]


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    return Path(os.environ.get("ROOMCAST_SCREENSHOTS") or tmp_path)


async def open_page(
    browser: Browser, server: ChatServer, errors: list[str], width: int = 1000
) -> Page:
    """A fresh page (own storage) on the service; page errors and dialogs go to ``errors``
    (the page never opens a dialog on these paths)."""
    context = await browser.new_context(viewport={"width": width, "height": 700})
    page = await context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: errors.append(f"dialog: {dialog.message}"))
    response = await page.goto(server.url + "/")
    assert response is not None
    assert response.status == 200
    return page


async def sign_up(page: Page, name: str) -> None:
    await page.fill("#login-name", name)
    await page.fill("#login-password", PASSWORD)
    await page.click("#signup-button")
    await expect(page.locator("#state")).to_have_text("live")
    await expect(page.locator("#me")).to_have_text(name)


async def worker_of(page: Page) -> str:
    """The worker that holds the page's connection (its session id starts with its tag)."""
    sid = await page.evaluate("state.socket.io.engine.id")
    assert isinstance(sid, str)
    return sid.partition(".")[0]


async def apart(page: Page, other: Page, server: ChatServer) -> None:
    """With several workers, reload ``page`` until it is served by another worker than
    ``other`` (the kernel spreads connections at random)."""
    if "--workers" not in server.args:
        return
    for _ in range(40):
        if await worker_of(page) != await worker_of(other):
            return
        await page.reload()
        await expect(page.locator("#state")).to_have_text("live")
    raise AssertionError("the pages stayed on one worker")


async def open_lobby(ada: Page, bob: Page, *, phone: bool = False) -> None:
    """Ada makes the public room "lobby"; Bob joins it from the list."""
    await ada.fill("#new-room-name", "lobby")
    await ada.click("#new-room button")
    await expect(ada.locator("#title")).to_have_text("lobby")
    if phone:
        await bob.click("#menu")
    await bob.click("#public-rooms button")  # the room is listed once it exists
    await expect(bob.locator("#title")).to_have_text("lobby")


async def send(page: Page, text: str) -> None:
    await page.fill("#text", text)
    await page.press("#text", "Enter")


def shown_texts(page: Page) -> Locator:
    return page.locator("#messages li.message:not(.pending) .text")


async def test_two_users_chat_in_the_page(
    browser: Browser, server: ChatServer, api: Api, screenshots: Path
) -> None:
    errors: list[str] = []
    ada = await open_page(browser, server, errors)
    bob = await open_page(browser, server, errors)
    await sign_up(ada, "ada")
    await sign_up(bob, "bob")
    await apart(bob, ada, server)
    await open_lobby(ada, bob)
    for page in (ada, bob):
        await expect(page.locator("#online")).to_have_text("online: ada, bob")

    await bob.fill("#text", "typing away")  # typing, not sending yet
    await expect(ada.locator("#typing")).to_have_text("bob is typing…")
    await bob.press("#text", "Enter")
    await expect(ada.locator("#typing")).to_have_text("")
    await ada.fill("#text", "hi")
    await expect(bob.locator("#typing")).to_have_text("ada is typing…")
    await ada.fill("#text", "")  # cleared: stopped typing
    await expect(bob.locator("#typing")).to_have_text("")
    await send(ada, "hi <b>bob</b> https://example.com/x")
    long_word = "w" * 300
    await send(ada, long_word)
    for page in (ada, bob):
        line = page.locator("#messages li.message", has_text="hi <b>bob</b>")
        await expect(line).to_have_count(1)  # the tags shown as text
        await expect(line.locator("b")).to_have_count(0)  # never as HTML
        await expect(line.locator("a")).to_have_attribute("href", "https://example.com/x")
        await expect(page.locator("#messages li.message", has_text="typing away")).to_have_count(1)
    wrapped = bob.locator("#messages li.message", has_text=long_word)
    box, list_box = await wrapped.bounding_box(), await bob.locator("#messages").bounding_box()
    assert box is not None
    assert list_box is not None
    assert box["width"] <= list_box["width"]  # long words wrap

    # ada edits a message in place: Enter saves, for everyone
    first = ada.locator("#messages li.message", has_text="hi <b>bob</b>")
    await first.get_by_role("button", name="edit this message").click()
    editor = ada.get_by_role("textbox", name="Edit the message")
    await expect(editor).to_be_focused()
    await expect(editor).to_have_value("hi <b>bob</b> https://example.com/x")
    await editor.fill("hi bob, see https://example.com/y")
    await shot(ada, screenshots, "edit")
    await editor.press("Enter")
    for page in (ada, bob):
        edited = page.locator("#messages li.message", has_text="hi bob, see")
        await expect(edited.locator(".meta")).to_contain_text("(edited)")
        await expect(edited.locator("a")).to_have_attribute("href", "https://example.com/y")
    await expect(ada.locator("#messages textarea")).to_have_count(0)
    edited = ada.locator("#messages li.message", has_text="hi bob, see")
    await expect(edited.get_by_role("button", name="edit this message")).to_be_focused()

    # Arrow up in the empty composer edits one's last message; Escape leaves it as it was
    await ada.focus("#text")
    await ada.press("#text", "ArrowUp")
    editor = ada.get_by_role("textbox", name="Edit the message")
    await expect(editor).to_be_focused()
    await expect(editor).to_have_value(long_word)
    await editor.fill("never saved")
    await editor.press("Escape")
    await expect(ada.locator("#messages textarea")).to_have_count(0)
    await expect(ada.locator("#text")).to_be_focused()
    texts = ["typing away", "hi bob, see https://example.com/y", long_word]
    for page in (ada, bob):
        await expect(shown_texts(page)).to_have_text(texts)

    # a reload shows the history, once, as edited
    await bob.reload()
    await expect(bob.locator("#state")).to_have_text("live")
    await expect(bob.locator("#title")).to_have_text("lobby")
    await expect(shown_texts(bob)).to_have_text(texts)

    # a notification reaches ada's page only
    status, _ = await api.notify({"user": "ada", "title": "Build done", "body": "all green"})
    assert status == 201
    await expect(ada.locator("#badge")).to_have_text("1")
    await ada.click("#bell")
    await expect(ada.locator("#notes li .title")).to_have_text(["Build done"])
    await shot(ada, screenshots, "notification")
    status, _ = await api.notify({"user": "bob", "title": "for bob"})
    assert status == 201
    await expect(bob.locator("#badge")).to_have_text("1")
    await bob.click("#bell")
    await expect(bob.locator("#notes li .title")).to_have_text(["for bob"])  # not ada's
    await expect(ada.locator("#notes li .title")).to_have_text(["Build done"])
    await expect(ada.locator("#badge")).to_have_text("1")
    assert errors == []


async def test_the_page_survives_a_restart_without_losing_or_doubling(
    browser: Browser, server: ChatServer, screenshots: Path
) -> None:
    errors: list[str] = []
    ada = await open_page(browser, server, errors)
    bob = await open_page(browser, server, errors, width=390)  # a phone
    await sign_up(ada, "ada")
    await sign_up(bob, "bob")
    await apart(bob, ada, server)
    await open_lobby(ada, bob, phone=True)
    await send(ada, "before the restart")
    await expect(shown_texts(bob)).to_have_text(["before the restart"])

    await server.stop()
    await expect(bob.locator("#state")).to_have_text("reconnecting")
    await send(bob, "written while offline")  # kept in the outbox
    await expect(bob.locator("#messages li.pending")).to_have_count(1)
    await shot(bob, screenshots, "phone-offline")
    await server.start()
    for page in (ada, bob):
        await expect(page.locator("#state")).to_have_text("live", timeout=3 * WAIT_MS)
    await expect(bob.locator("#messages li.pending")).to_have_count(0)
    await send(ada, "after the restart")
    texts = ["before the restart", "written while offline", "after the restart"]
    for page in (ada, bob):
        await expect(shown_texts(page)).to_have_text(texts)
    await bob.reload()  # and the history has each once
    await expect(bob.locator("#title")).to_have_text("lobby")
    await expect(shown_texts(bob)).to_have_text(texts)
    assert errors == []


async def test_a_message_whose_answer_was_lost_is_sent_once(
    browser: Browser, server: ChatServer
) -> None:
    """The connection is cut after the server stored and broadcast a message, before its
    answer reached the page, and stays down: the message waits in the outbox. Bob closes
    the tab and opens the chat again: the new tab sends it (a new connection, nothing to
    recover), and the server, knowing its key, does not store it twice."""
    errors: list[str] = []
    ada = await open_page(browser, server, errors)
    bob = await open_page(browser, server, errors)
    cut, down, sent_again = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def cut_before_the_answer(page_side: WebSocketRoute) -> None:
        if down.is_set():  # the network is down: no connection gets through
            await page_side.close()
            return
        server_side = page_side.connect_to_server()

        def to_server(message: str | bytes) -> None:
            if cut.is_set() and isinstance(message, str) and '"send-message"' in message:
                sent_again.set()
            server_side.send(message)

        async def to_page(message: str | bytes) -> None:
            if not cut.is_set() and isinstance(message, str) and SEND_ACK.match(message):
                cut.set()
                down.set()
                await server_side.close()
                await page_side.close()
            else:
                page_side.send(message)

        page_side.on_message(to_server)
        server_side.on_message(to_page)

    await bob.context.route_web_socket(re.compile(r"/socket\.io/"), cut_before_the_answer)
    await bob.reload()  # (routes apply to the documents loaded after them)
    await sign_up(ada, "ada")
    await sign_up(bob, "bob")
    await apart(bob, ada, server)
    await open_lobby(ada, bob)
    await bob.wait_for_function("state.socket.io.engine.transport.name === 'websocket'")

    await send(bob, "only once")
    await asyncio.wait_for(cut.wait(), WAIT_MS / 1000)
    await expect(bob.locator("#messages li.pending")).to_have_count(1)  # no answer: kept
    await expect(shown_texts(bob)).to_have_text(["only once"])  # (its broadcast came)
    await bob.close()
    down.clear()
    bob = await bob.context.new_page()  # the same storage: the token and the outbox
    bob.on("pageerror", lambda exc: errors.append(str(exc)))
    await bob.goto(server.url + "/")
    await expect(bob.locator("#state")).to_have_text("live")
    await asyncio.wait_for(sent_again.wait(), WAIT_MS / 1000)
    await bob.get_by_role("button", name="# lobby").click()
    await expect(bob.locator("#messages li.pending")).to_have_count(0)  # sent, answered
    await send(ada, "and then")
    for name, page in (("ada", ada), ("bob", bob)):
        await expect(shown_texts(page), name).to_have_text(["only once", "and then"])
    assert errors == []


async def test_wrong_password_is_said(browser: Browser, server: ChatServer, api: Api) -> None:
    await api.signup("ada")
    page = await open_page(browser, server, [])
    await page.fill("#login-name", "ada")
    await page.fill("#login-password", "not the password")
    await page.click("#login-button")
    await expect(page.locator("#login-error")).to_have_text("wrong name or password")


async def shot(page: Page, folder: Path, name: str) -> None:
    await page.screenshot(path=str(folder / f"chat-{name}.png"))
