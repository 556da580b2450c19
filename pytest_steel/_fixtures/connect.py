"""The one way a session is connected to Playwright: ``connect`` (sync) and ``connect_async``.

Every fixture that hands out a browser or a page goes through here, and so do the
``steel_new_session`` factories, the shared session's holder (module and run scopes),
``steel_login`` and both ``--steel-playwright`` integrations. Each connection gets the
same three things: the run's client, where to connect (``CDPEndpoints.connect_args``:
the URL, possibly the download relay's, the exposure and ``is_local``) and the slow-motion
delay (``slow_mo_of``). It lives here, in ``_fixtures``, because it needs the run
(``SteelRun``), which holds the client and the endpoints together: ``_browser`` below
makes the connection but knows neither the backend nor the options.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from .._config.settings import settings_of

if TYPE_CHECKING:
    from playwright import async_api

    from .._browser.connection import AsyncConnection, Connection, PlaywrightDriver
    from .._sessions.lifecycle import TrackedSession
    from .run import SteelRun


def connect(
    run: SteelRun, driver: PlaywrightDriver, tracked: TrackedSession, node: pytest.Item | pytest.Collector
) -> Connection:
    """Playwright's sync API connected over CDP to ``tracked``, for ``node`` (whose marker may expose this machine)."""
    from .._browser.connection import Connection

    client = run.backend.client()
    where = run.endpoints.connect_args(client, tracked, node)
    return Connection(driver, client, tracked, slow_mo=slow_mo_of(run.config), **where)


async def connect_async(
    run: SteelRun,
    tracked: TrackedSession,
    node: pytest.Item | pytest.Collector,
    playwright: async_api.Playwright | None = None,
) -> AsyncConnection:
    """``connect``'s async twin, in the running loop: on ``playwright`` when given, else on a driver of its own."""
    from .._browser.connection import AsyncConnection

    client = run.backend.client()
    where = run.endpoints.connect_args(client, tracked, node)
    return await AsyncConnection.open(client, tracked, slow_mo_of(run.config), playwright=playwright, **where)


def slow_mo_of(config: pytest.Config) -> float:
    """--steel-slowmo (250 ms under --steel-debug), or pytest-playwright's --slowmo under --steel-playwright."""
    settings = settings_of(config)
    if settings.slowmo.value is not None:
        return float(settings.slowmo.value)
    if settings.playwright.value and config.getoption("slowmo", 0):
        return float(config.getoption("slowmo"))
    if settings.debug.value:
        from .debug import DEBUG_SLOWMO

        return DEBUG_SLOWMO
    return 0.0
