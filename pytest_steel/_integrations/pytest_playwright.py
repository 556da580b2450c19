"""``--steel-playwright``: pytest-playwright's ``browser``, ``new_context``, ``context`` and ``page`` on Steel sessions.

Only ``browser`` is replaced: it becomes the Playwright browser connected over CDP
to the test's Steel session (or the module's, with ``--steel-session-scope
module``). pytest-playwright's own ``new_context``, ``context`` and ``page`` then do
what they always do on it: a new context per test made with the test's
``browser_context_args`` (and its marker), ``--base-url``, ``--device``, and its
``--output``, ``--screenshot``, ``--tracing`` and ``--video`` artifacts.

A new context rather than the session's default one, because that is the only way
every context option takes effect (viewport, locale, timezone, storage state,
permissions, geolocation, HTTP headers and credentials are fixed when a context is
made), and it is what a pytest-playwright suite already relies on. The price, on
Steel Cloud: the default context is the one Steel fits with its stealth, proxy and
recording features, which a new context does not get.

This module is registered as a plugin at configure time, after pytest-playwright,
so that its ``browser`` fixture is the one pytest finds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal

import pytest

from .._config.settings import settings_of

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

PLUGIN_NAME = "steel-playwright"


@pytest.fixture(scope="session")
def _steel_driver_tmpdir() -> Iterator[Callable[[], None]]:
    """A TMPDIR for pytest-playwright's driver, which pytest-steel removes after the driver stops."""
    from .._browser.connection import driver_tmpdir

    with driver_tmpdir() as started:
        yield started


@pytest.fixture(scope="session")
def playwright(_steel_driver_tmpdir: Callable[[], None], playwright: Playwright) -> Playwright:
    """pytest-playwright's own ``playwright``, its driver started in a temp folder that is removed with it."""
    _steel_driver_tmpdir()  # the driver has read TMPDIR: the tests get theirs back
    return playwright


def browser_scope(fixture_name: str, config: pytest.Config) -> Literal["session", "function"]:
    """pytest-playwright's own scope for ``browser`` under --steel-session-scope session, else per test."""
    return "session" if settings_of(config).session_scope.value == "session" else "function"


@pytest.fixture(scope=browser_scope)
def browser(request: pytest.FixtureRequest) -> Iterator[Browser]:
    """The Playwright ``Browser`` of this test's Steel session (the run's one with --steel-session-scope session)."""
    try:
        connect_options = request.getfixturevalue("connect_options")
    except pytest.FixtureLookupError:
        connect_options = None  # pytest-playwright before 0.7 has no such fixture
    refuse(connect_options)
    if request.scope != "session":
        yield request.getfixturevalue("steel_browser")
        return
    holder = request.getfixturevalue("_steel_run_session")
    holder.ensure()
    yield holder.connection(request.getfixturevalue("_steel_playwright")).browser


@pytest.fixture(autouse=True)
def _steel_run_session_in_report(request: pytest.FixtureRequest) -> Iterator[None]:
    """Under --steel-session-scope session, each test that used ``browser`` names the run's session in its report."""
    yield
    if "browser" in request.fixturenames and browser_scope("browser", request.config) == "session":
        from .._sessions.tracker import note_use

        tracked = request.getfixturevalue("_steel_run_session").tracked
        if tracked is not None:
            note_use(request.node, tracked)


def refuse(connect_options: Any) -> None:
    """A connect_options override speaks Playwright's own protocol: a Steel session cannot take it."""
    if connect_options:
        raise pytest.UsageError(
            "connect_options connects with Playwright's own protocol, which a Steel session does not speak "
            "(Steel sessions take CDP); remove the connect_options fixture override, or drop --steel-playwright"
        )
