"""The service's page in headless Chromium (Debian's, driven by Playwright), against
``roomcast chat`` run as a user runs it.

Set ROOMCAST_SCREENSHOTS=docs to write the pictures the README shows
(docs/chat-*.png).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from integration.support import seconds

from .support import PASSWORD, Api, ChatServer

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.is_file():
    pytest.skip("needs Debian's chromium (run .ci/ensure-chromium)", allow_module_level=True)
try:
    from playwright.async_api import Browser, Page, async_playwright, expect
except ImportError:
    pytest.skip("needs Playwright for Python", allow_module_level=True)

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
WAIT_MS = seconds(10.0) * 1000
expect.set_options(timeout=WAIT_MS)
SCREENSHOTS = os.environ.get("ROOMCAST_SCREENSHOTS")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, timeout=WAIT_MS
        )
        try:
            yield browser
        finally:
            await browser.close()


async def open_page(
    browser: Browser, server: ChatServer, errors: list[str], width: int = 1000
) -> Page:
    context = await browser.new_context(viewport={"width": width, "height": 700})
    page = await context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
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


async def send(page: Page, text: str) -> None:
    await page.fill("#text", text)
    await page.press("#text", "Enter")


async def shot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        await page.screenshot(path=str(Path(SCREENSHOTS) / f"chat-{name}.png"))


async def test_two_users_chat_in_the_page(browser: Browser, server: ChatServer, api: Api) -> None:
    errors: list[str] = []
    ada = await open_page(browser, server, errors)
    bob = await open_page(browser, server, errors)
    await sign_up(ada, "ada")
    await sign_up(bob, "bob")

    await ada.fill("#new-room-name", "lobby")
    await ada.click("#new-room button")
    await expect(ada.locator("#title")).to_have_text("lobby")
    await bob.click("#public-rooms button")  # the room is listed once it exists
    await expect(bob.locator("#title")).to_have_text("lobby")
    for page in (ada, bob):
        await expect(page.locator("#online")).to_have_text("online: ada, bob")

    await bob.fill("#text", "typing away")  # typing, not sending yet
    await expect(ada.locator("#typing")).to_have_text("bob is typing…")
    await bob.press("#text", "Enter")
    await expect(ada.locator("#typing")).to_have_text("")
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

    # a reload shows the history, once
    await bob.reload()
    await expect(bob.locator("#state")).to_have_text("live")
    await expect(bob.locator("#title")).to_have_text("lobby")
    await expect(bob.locator("#messages li.message")).to_have_count(3)

    # a notification reaches ada's page only
    status, _ = await api.notify({"user": "ada", "title": "Build done", "body": "all green"})
    assert status == 201
    await expect(ada.locator("#badge")).to_have_text("1")
    await ada.click("#bell")
    await expect(ada.locator("#notes li .title")).to_have_text(["Build done"])
    await shot(ada, "notification")
    status, _ = await api.notify({"user": "bob", "title": "for bob"})
    await expect(bob.locator("#badge")).to_have_text("1")
    await bob.click("#bell")
    await expect(bob.locator("#notes li .title")).to_have_text(["for bob"])
    assert errors == []


async def test_the_page_survives_a_restart_without_losing_or_doubling(
    browser: Browser, server: ChatServer
) -> None:
    errors: list[str] = []
    ada = await open_page(browser, server, errors)
    bob = await open_page(browser, server, errors, width=390)  # a phone
    await sign_up(ada, "ada")
    await sign_up(bob, "bob")
    await ada.fill("#new-room-name", "lobby")
    await ada.click("#new-room button")
    await bob.click("#menu")
    await bob.click("#public-rooms button")
    await expect(bob.locator("#title")).to_have_text("lobby")
    await send(ada, "before the restart")
    await expect(bob.locator("#messages li.message")).to_have_count(1)

    await server.stop()
    await expect(bob.locator("#state")).to_have_text("reconnecting")
    await send(bob, "written while offline")  # kept in the outbox
    await expect(bob.locator("#messages li.pending")).to_have_count(1)
    await shot(bob, "phone-offline")
    await server.start()
    for page in (ada, bob):
        await expect(page.locator("#state")).to_have_text("live", timeout=3 * WAIT_MS)
    await expect(bob.locator("#messages li.pending")).to_have_count(0)
    await send(ada, "after the restart")
    for page in (ada, bob):
        texts = page.locator("#messages li.message:not(.pending) .text")
        await expect(texts).to_have_text(
            ["before the restart", "written while offline", "after the restart"]
        )
    assert errors == []


async def test_wrong_password_is_said(browser: Browser, server: ChatServer, api: Api) -> None:
    await api.signup("ada")
    page = await open_page(browser, server, [])
    await page.fill("#login-name", "ada")
    await page.fill("#login-password", "not the password")
    await page.click("#login-button")
    await expect(page.locator("#login-error")).to_have_text("wrong name or password")
