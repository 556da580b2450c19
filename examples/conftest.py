"""Fixtures for the example suite: the shop, served on loopback.

`steel_page` comes from pytest-steel: with nothing configured, each test gets a
fresh browser session on the embedded local server.
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest


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
