"""``--steel-playwright`` with pytest-playwright-asyncio: its async ``browser`` on the test's Steel session.

The twin of ``pytest_playwright`` for the async package, registered instead of it
when pytest-playwright-asyncio is the active one. pytest-playwright-asyncio runs its
fixtures in the session's event loop (``loop_scope="session"``), so this ``browser``
connects in that loop, with its ``playwright``. As in the sync mode, the disconnect and
the release wait until every fixture of the test is torn down (pytest-playwright-
asyncio's artifacts recorder may be set up first and needs the browser to save a
video); the disconnect then runs on the loop the browser was made in.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio

from .._fixtures.connect import connect_async
from .._fixtures.deferred_teardown import deferred_until_torn_down
from .pytest_playwright import (  # noqa: F401 - its driver's temp folder; the run's session in each report
    _steel_driver_tmpdir,
    _steel_run_session_in_report,
    browser_scope,
    playwright,
    refuse,
)

if TYPE_CHECKING:
    from playwright.async_api import Browser, Playwright


PLUGIN_NAME = "steel-playwright-asyncio"


@pytest_asyncio.fixture(scope=browser_scope, loop_scope="session")
async def browser(
    request: pytest.FixtureRequest,
    playwright: Playwright,  # noqa: F811 - the fixture of that name, as overridden above
    connect_options: Any,
) -> AsyncIterator[Browser]:
    """The async ``Browser`` of this test's Steel session (the run's one with --steel-session-scope session)."""
    refuse(connect_options)
    run = request.getfixturevalue("_steel_run")
    run_wide = request.scope == "session"
    if run_wide:
        _steel_tracked = request.getfixturevalue("_steel_run_session").ensure()
    else:
        _steel_tracked = request.getfixturevalue("_steel_tracked")
    connection = await connect_async(run, _steel_tracked, request.node, playwright=playwright)
    yield connection.browser
    if run_wide:  # the run's session is released by its holder, after this
        await connection.close()
        return
    loop = asyncio.get_running_loop()

    def disconnect() -> None:
        if loop.is_closed():  # after the last test, the loop and its driver are gone, and so is the connection
            _steel_tracked.close_connection()
        else:
            loop.run_until_complete(connection.close())

    deferred = deferred_until_torn_down(request, disconnect)
    assert deferred, "registered only under --steel-playwright, which defers the disconnect"
