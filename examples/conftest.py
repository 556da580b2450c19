"""Fixtures for the example suite: the shop and an app with a login, served on loopback, and two signed-in roles.

`steel_page` comes from pytest-steel: with nothing configured, each test gets a
fresh browser session on the embedded local server. `steel_login` signs a role in
once per run (once per xdist worker) and returns the session's context, which
`@pytest.mark.steel(context="admin")` starts a test's fresh session from.
"""

from __future__ import annotations

import functools
import http.server
import inspect
import threading
from collections.abc import Iterator
from pathlib import Path

import login_app
import pytest
from playwright.sync_api import Page


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Async tests first, in whatever order pytest collects (pytest 8 puts async_api/ first, pytest 7 after this
    folder's own files): with pytest-playwright active, the first sync test starts its driver, which holds the
    thread's event loop until the run ends (docs/async.md)."""

    def runs_in_a_loop(item: pytest.Item) -> bool:
        return bool(item.get_closest_marker("asyncio")) or inspect.iscoroutinefunction(getattr(item, "obj", None))

    items.sort(key=lambda item: not runs_in_a_loop(item))  # a stable sort: each part keeps its order


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
def app_url() -> Iterator[str]:
    """An app with a real login (an httpOnly cookie and a localStorage token), served on loopback."""
    with login_app.serve() as (url, _):
        yield url


def sign_in_as(user: str, app_url: str):  # noqa: ANN201 - a Playwright step
    def sign_in(page: Page) -> None:
        page.goto(f"{app_url}/login?user={user}")
        page.wait_for_selector("#done")

    return sign_in


@pytest.fixture(scope="session")
def admin(steel_login, app_url: str):  # noqa: ANN001, ANN201
    """Signed in as the admin, once."""
    return steel_login(sign_in_as("admin", app_url))


@pytest.fixture(scope="session")
def viewer(steel_login, app_url: str):  # noqa: ANN001, ANN201
    """Signed in as a viewer, once."""
    return steel_login(sign_in_as("viewer", app_url))
