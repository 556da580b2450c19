"""``--steel-playwright`` with pytest-playwright-asyncio: its async ``browser`` on the test's Steel session.

The twin of ``_on_pytest_playwright`` for the async package, registered instead of it
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

from ._on_pytest_playwright import _steel_driver_tmpdir, playwright  # noqa: F401 - its driver's temp folder too
from ._stash import SETTINGS_KEY, run_of

if TYPE_CHECKING:
    from playwright.async_api import Browser, Playwright

    from ._lifecycle import TrackedSession

PLUGIN_NAME = "steel-playwright-asyncio"


@pytest_asyncio.fixture(loop_scope="session")
async def browser(
    request: pytest.FixtureRequest,
    playwright: Playwright,  # noqa: F811 - the fixture of that name, as overridden above
    _steel_tracked: TrackedSession,
    connect_options: Any,
) -> AsyncIterator[Browser]:
    """The async ``Browser`` of this test's Steel session (--steel-playwright); contexts come from it."""
    from playwright.async_api import Error as PlaywrightError

    from ._connection import CONNECT_TIMEOUT_MS, connect_error
    from ._errors import first_line
    from ._fixtures import after_the_test, slow_mo_of

    if connect_options:
        raise pytest.UsageError(
            "connect_options connects with Playwright's own protocol, which a Steel session does not speak "
            "(Steel sessions take CDP); remove the connect_options fixture override, or drop --steel-playwright"
        )
    client = run_of(request.config).backend.client()
    slow_mo = slow_mo_of(request.config, request.config.stash[SETTINGS_KEY])
    failure: str | None = None
    try:
        connected = await playwright.chromium.connect_over_cdp(
            client.cdp_url(_steel_tracked.session), timeout=CONNECT_TIMEOUT_MS, slow_mo=slow_mo or None
        )
    except PlaywrightError as exc:
        failure = client.redact(first_line(exc))
    if failure is not None:
        raise connect_error(_steel_tracked, failure)
    connected.on("disconnected", lambda _: _steel_tracked.connection_lost())
    yield connected
    loop = asyncio.get_running_loop()

    def disconnect() -> None:
        _steel_tracked.close_connection()
        if connected.is_connected() and not loop.is_closed():  # after the last test, the loop and driver are gone
            loop.run_until_complete(connected.close())

    deferred = after_the_test(request, disconnect)
    assert deferred, "registered only under --steel-playwright, which defers the disconnect"
