"""Playwright helpers for tests that drive sessions over CDP (async API, so events can be awaited)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from playwright.async_api import Browser, Page, async_playwright

DISCONNECT_BOUND = 10.0  # seconds: how long any test waits for the server to drop a client


@asynccontextmanager
async def connected(*ws_urls: str) -> AsyncIterator[list[Browser]]:
    async with async_playwright() as playwright:
        yield [await playwright.chromium.connect_over_cdp(url, timeout=15_000) for url in ws_urls]


def first_page(browser: Browser) -> Page:
    """Steel hands over one default context with one page already open."""
    assert len(browser.contexts) == 1
    assert len(browser.contexts[0].pages) == 1
    return browser.contexts[0].pages[0]


async def browser_pid(browser: Browser) -> int:
    """Ask the browser itself which process it is."""
    cdp = await browser.new_browser_cdp_session()
    info = await cdp.send("SystemInfo.getProcessInfo")
    return next(p["id"] for p in info["processInfo"] if p["type"] == "browser")


async def wait_disconnected(browser: Browser, timeout: float = DISCONNECT_BOUND) -> float:
    """Await Playwright's 'disconnected' event; return when it happened (monotonic)."""
    event = asyncio.Event()
    browser.on("disconnected", lambda _: event.set())
    if browser.is_connected():
        await asyncio.wait_for(event.wait(), timeout)
    return time.monotonic()
