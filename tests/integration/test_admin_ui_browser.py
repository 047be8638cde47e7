"""The official admin UI's page (``@socket.io/admin-ui`` from npm, served by
``instrument(io, ui_path=...)``) in headless Chromium (Debian's, driven by Playwright):
it logs in, lists a connected official client, and disconnects it with its button."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import bcrypt
import pytest

import roomcast
from roomcast.observe.admin import UI_FOLDER, BasicAuth, instrument
from roomcast.server.static import find_npm_folder

from .support import WAIT, Listener, NodeClient, base_url

try:
    from playwright.async_api import Browser, expect
except ImportError:
    pytest.skip("needs Playwright for Python (no browser download)", allow_module_level=True)
if find_npm_folder(UI_FOLDER, "index.html", "ROOMCAST_ADMIN_UI_DIR") is None:
    pytest.skip("needs npm's @socket.io/admin-ui (npm install)", allow_module_level=True)

pytestmark = pytest.mark.node

Serve = Callable[[roomcast.Server], Awaitable[Listener]]
SpawnNode = Callable[[Listener], Awaitable[NodeClient]]
WAIT_MS = WAIT * 1000
HASH = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()


async def test_the_ui_page_lists_a_client_and_disconnects_it(
    serve: Serve, spawn_node: SpawnNode, browser: Browser
) -> None:
    io = roomcast.Server(serve_client=False)
    instrument(io, auth=BasicAuth("admin", HASH), ui_path="/admin-ui/")
    listener = await serve(io)
    url = base_url(listener)
    node = await spawn_node(listener)
    user = (await node.connect("user", transports=["websocket"]))["sid"]

    page = await browser.new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    response = await page.goto(f"{url}/admin-ui")  # redirected to the folder
    assert response is not None
    assert response.status == 200
    assert page.url.startswith(f"{url}/admin-ui/")

    await page.get_by_label("Server URL").fill(url)
    await page.get_by_label("Username").fill("admin")
    await page.get_by_label("Password").fill("s3cret")
    await page.get_by_role("button", name="Connect").click()
    await expect(page.get_by_text(re.compile("^connected$", re.I)).first).to_be_visible()

    await page.get_by_role("link", name="Sockets").click()
    row = page.locator("tr", has_text=user)
    await expect(row).to_be_visible(timeout=WAIT_MS)
    await expect(row).to_contain_text("WebSocket")

    await row.locator("button").click()  # its "disconnect" button (the row opens its details)
    gone = await node.wait(id="user", type="disconnect")
    assert gone["reason"] == "io server disconnect"
    await expect(page.get_by_text("Socket details")).to_be_visible()
    await expect(page.get_by_text(re.compile("^disconnected$", re.I)).first).to_be_visible()
    await page.get_by_role("link", name="Sockets").first.click()
    await expect(page.get_by_text("Select namespace")).to_be_visible()
    await expect(page.locator("tr", has_text=user)).to_have_count(0)
    assert errors == []
