"""Fixtures shared by the whole suite: ``browser``, headless Chromium for the page tests.

The Chromium is Debian's (``.ci/ensure-chromium`` installs it at /usr/bin/chromium),
driven by Playwright for Python with ``executable_path``: Playwright never downloads a
browser here. Without either, the tests that ask for ``browser`` are skipped.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.async_api import Browser

CHROMIUM = Path("/usr/bin/chromium")
HAVE_CHROMIUM = CHROMIUM.is_file()
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAUNCH_TIMEOUT_MS = 10_000 * float(os.environ.get("ROOMCAST_TEST_TIMEOUT_FACTOR", "1"))


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """A headless Chromium of its own for the test, closed after it."""
    if not HAVE_CHROMIUM:
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (run .ci/ensure-chromium)")
    playwright_api = pytest.importorskip(
        "playwright.async_api", reason="needs Playwright for Python (no browser download)"
    )
    async with playwright_api.async_playwright() as playwright:
        launched: Browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            timeout=LAUNCH_TIMEOUT_MS,
        )
        try:
            yield launched
        finally:
            await launched.close()
