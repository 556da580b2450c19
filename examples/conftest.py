"""Fixtures for the example suite: a loopback shop, and a Steel page from the embedded server.

`steel_page` is written out here until the pytest-steel plugin provides it; the
tests use it exactly as they will use the plugin's fixture.
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, Playwright, sync_playwright

from pytest_steel.local import LocalServerProcess


@pytest.fixture(scope="session")
def shop_url() -> Iterator[str]:
    """The example shop, served on loopback."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=Path(__file__).with_name("site"))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def steel_api() -> Iterator[httpx.Client]:
    """The embedded Steel-compatible server, for the whole run."""
    with LocalServerProcess(["--port", "0", "--log-level", "warning"]) as server:
        with httpx.Client(base_url=server.url or "", timeout=30) as client:
            yield client


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture
def steel_page(steel_api: httpx.Client, playwright: Playwright) -> Iterator[Page]:
    """A page in a fresh, isolated browser session, released when the test ends."""
    session = steel_api.post("/v1/sessions", json={"timeout": 60_000}).raise_for_status().json()
    try:
        browser = playwright.chromium.connect_over_cdp(session["websocketUrl"])
        yield browser.contexts[0].pages[0]
        browser.close()
    finally:
        steel_api.post(f"/v1/sessions/{session['id']}/release").raise_for_status()
