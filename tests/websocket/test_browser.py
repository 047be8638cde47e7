"""The plain endpoints of ``examples/plain_ws.py`` in headless Chromium (``browser``, from
tests/conftest.py: Debian's, driven by Playwright): a page served by the app opens
``new WebSocket(...)`` to ``/echo`` and ``/chat``, exchanges text and binary (with
permessage-deflate, which Chromium offers and the example agrees to), and sees a broadcast
sent from a second page."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from wire import WAIT, Serve

import roomcast
from roomcast.transports.http import HandshakeRequest, HttpResponse
from roomcast.transports.routes import Route

try:
    from playwright.async_api import Browser, Page
except ImportError:
    pytest.skip("needs Playwright for Python (no browser download)", allow_module_level=True)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "plain_ws.py"
WAIT_MS = WAIT * 1000
PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>plain WebSocket</title></head>
<body><p id="status">loaded</p>
<script>
// open(path): a WebSocket on this page's host, its messages kept in order
window.open_ws = (path) => new Promise((resolve, reject) => {
  const ws = new WebSocket(`ws://${location.host}${path}`);
  ws.binaryType = "arraybuffer";
  ws.got = [];
  ws.waiters = [];
  ws.onmessage = (event) => {
    const m = typeof event.data === "string"
      ? { text: event.data } : { bin: Array.from(new Uint8Array(event.data)) };
    const waiter = ws.waiters.shift();
    if (waiter) waiter(m); else ws.got.push(m);
  };
  ws.next = () => ws.got.length
    ? Promise.resolve(ws.got.shift()) : new Promise((r) => ws.waiters.push(r));
  ws.onopen = () => resolve(ws);
  ws.onerror = () => reject(new Error(`WebSocket ${path} failed`));
});
</script></body></html>
"""


class PageRoute(Route):
    """The test page at ``/``, served by the app beside its endpoints."""

    def exact_paths(self) -> tuple[str, ...]:
        return ("/",)

    async def handle_http(self, request: HandshakeRequest, read_body: Any) -> HttpResponse:
        return HttpResponse(200, PAGE, {"Content-Type": "text/html; charset=utf-8"})


def example_app() -> roomcast.Server:
    spec = importlib.util.spec_from_file_location("plain_ws_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    io: roomcast.Server = module.build()
    io.mount(PageRoute())
    return io


async def open_page(browser: Browser, url: str, errors: list[str]) -> Page:
    page = await (await browser.new_context()).new_page()
    page.set_default_timeout(WAIT_MS)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    response = await page.goto(url)
    assert response is not None
    assert response.status == 200
    return page


ECHO = """async () => {
  const ws = await open_ws("/echo");
  const big = "compress me please; ".repeat(500);
  ws.send("héllo");
  ws.send(new Uint8Array([0, 255, 1]));
  ws.send(big);
  const got = [await ws.next(), await ws.next(), await ws.next()];
  ws.close(1000);
  return { got: [got[0], got[1], got[2].text === big], extensions: ws.extensions };
}"""


async def test_echo_from_a_browser(browser: Browser, serve: Serve) -> None:
    listener = await serve(example_app())
    errors: list[str] = []
    page = await open_page(browser, f"{listener.url}/", errors)
    result = await page.evaluate(ECHO)
    assert result["got"] == [{"text": "héllo"}, {"bin": [0, 255, 1]}, True]
    # Chromium offered permessage-deflate; the example agreed, keeping no context
    assert result["extensions"] == (
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
    )
    assert errors == []


async def test_chat_broadcast_reaches_the_other_page(browser: Browser, serve: Serve) -> None:
    io = example_app()
    listener = await serve(io)
    errors: list[str] = []
    alice = await open_page(browser, f"{listener.url}/", errors)
    bob = await open_page(browser, f"{listener.url}/", errors)
    await bob.evaluate("async () => { window.chat = await open_ws('/chat'); }")
    await alice.evaluate("async () => { window.chat = await open_ws('/chat'); }")
    big = "x" * 3000
    await alice.evaluate(
        """(big) => {
        chat.send("hi from alice");
        chat.send(new Uint8Array([7, 7]));
        chat.send(big);
    }""",
        big,
    )
    got = await bob.evaluate(
        "async () => [await chat.next(), await chat.next(), await chat.next()]"
    )
    assert got == [{"text": "hi from alice"}, {"bin": [7, 7]}, {"text": big}]
    # and back: Bob's message reaches Alice, who got none of her own
    await bob.evaluate("() => chat.send('hi from bob')")
    assert await alice.evaluate("async () => await chat.next()") == {"text": "hi from bob"}
    assert await alice.evaluate("() => chat.got.length") == 0
    assert errors == []
