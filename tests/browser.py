"""Debian's Chromium under Playwright, as every browser test starts it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

CHROMIUM = Path("/usr/bin/chromium")
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


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Headless Chromium (Debian's build, no `playwright install`); its absence fails the test,
    not a skip, so CI cannot pass silently."""
    if not CHROMIUM.exists():  # noqa: ASYNC240 - once per test, before anything runs
        pytest.fail(
            f"{CHROMIUM} is missing: browser tests need Debian's Chromium "
            "(apt-get install chromium)",
            pytrace=False,
        )
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, timeout=60_000
        )
        try:
            yield browser
        finally:
            await browser.close()
