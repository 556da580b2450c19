"""Async fixtures: Playwright's async API on the same sessions as ``steel_session``, for ``async def`` tests.

``steel_async_browser``, ``steel_async_context`` and ``steel_async_page`` are
pytest-asyncio fixtures (registered when pytest-asyncio is active, so they work in
its strict and auto modes alike).

Event loops: each fixture is function-scoped and runs in the loop of the test that
asks for it (pytest-asyncio's default fixture loop scope, or
``asyncio_default_fixture_loop_scope`` when set), with its own async Playwright
driver started in that loop. The session itself is held outside any loop, by the sync
session fixtures: per test, or per module with ``--steel-session-scope module``, when
each test connects anew to the module's session. So a per-module session works
whatever loop scope the tests use. A test that takes a sync and an async Steel fixture
gets one session and two CDP connections to it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio

from .._config.settings import settings_of
from .connect import connect_async
from .event_loop import ASYNC_PLUGIN
from .release import release_own

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page

    from .._browser.connection import AsyncConnection
    from .._reporting.artifacts import AsyncTestRecorder
    from .._sessions.lifecycle import TrackedSession
    from .new_session import AsyncNewSession
    from .run import SteelRun

PLUGIN_NAME = ASYNC_PLUGIN
SYNC_PLAYWRIGHT_FIXTURES = ("steel_browser", "steel_context", "steel_page")


@pytest_asyncio.fixture
async def _steel_async_connection(
    request: pytest.FixtureRequest, _steel_tracked: TrackedSession, _steel_run: SteelRun
) -> AsyncIterator[AsyncConnection]:
    """This test's async CDP connection to its session (its own, or the module's)."""
    sync = [name for name in SYNC_PLAYWRIGHT_FIXTURES if name in request.fixturenames]
    if sync:
        pytest.fail(
            f"{request.node.nodeid} asks for {sync[0]} (Playwright's sync API) and an async Steel fixture: "
            "Playwright's sync API cannot run inside the test's event loop. Use steel_async_browser, "
            "steel_async_context and steel_async_page throughout (steel_session and steel_client are fine)",
            pytrace=False,
        )

    connection = await connect_async(_steel_run, _steel_tracked, request.node)
    yield connection
    await connection.close()


@pytest_asyncio.fixture
async def steel_async_browser(_steel_async_connection: AsyncConnection) -> Browser:
    """A Playwright async ``Browser`` connected over CDP to ``steel_session``, in the test's event loop."""
    return _steel_async_connection.browser


@pytest_asyncio.fixture
async def steel_async_context(
    request: pytest.FixtureRequest, _steel_async_connection: AsyncConnection
) -> AsyncIterator[BrowserContext]:
    """The session's default context (Steel opens one, with a page), on Playwright's async API."""
    context = _steel_async_connection.context
    if settings_of(request.config).shared_scope or "steel_async_page" in request.fixturenames:
        yield context
        return
    recorder = await _started_recorder(request, _steel_async_connection)  # artifacts cover the context's pages
    yield context
    if recorder is not None:
        await recorder.stop(context.pages)


@pytest_asyncio.fixture
async def steel_async_page(
    request: pytest.FixtureRequest, _steel_async_connection: AsyncConnection
) -> AsyncIterator[Page]:
    """A page on the async API: the session's own, or a new one closed at teardown when the session is shared."""
    context = _steel_async_connection.context
    shared = settings_of(request.config).shared_scope
    before = set(context.pages) if shared else set()
    recorder = await _started_recorder(request, _steel_async_connection)
    page = await context.new_page() if shared or not context.pages else context.pages[0]
    yield page
    if recorder is not None:
        await recorder.stop([p for p in context.pages if p not in before])
    if shared and not page.is_closed():
        try:
            await page.close()
        except Exception:  # noqa: BLE001 - a dead session cannot close pages; its replacement is set up
            pass


async def _started_recorder(request: pytest.FixtureRequest, connection: AsyncConnection) -> AsyncTestRecorder | None:
    """The test's screenshots and trace recorder, started, or None when its modes keep nothing."""
    from .._reporting.artifacts import RECORDER_KEY, AsyncTestRecorder

    recorder = AsyncTestRecorder.for_test(request.node, settings_of(request.config), connection)
    if recorder is not None:
        assert isinstance(recorder, AsyncTestRecorder)
        await recorder.start()
        request.node.stash[RECORDER_KEY] = recorder
    return recorder


@pytest_asyncio.fixture
async def steel_async_new_session(
    request: pytest.FixtureRequest, _steel_run: SteelRun
) -> AsyncIterator[Callable[..., Awaitable[AsyncNewSession]]]:
    """``await steel_async_new_session(**create_fields)``: another isolated session, as ``(page, session)``."""
    from playwright.async_api import Error as PlaywrightError

    from .new_session import TRACE_OPTIONS, AsyncNewSession, further_session, raise_for_any_ended, trace_target

    run = _steel_run
    made: list[tuple[AsyncConnection, TrackedSession]] = []

    async def new(**create_fields: Any) -> AsyncNewSession:
        tracked = further_session(run, request, create_fields)
        tracked.number = len(made) + 2
        try:
            connection = await connect_async(run, tracked, request.node)
        except BaseException:
            run.sessions.release(tracked)
            raise
        made.append((connection, tracked))  # from here on, the teardown disconnects and releases it
        context = connection.context
        if trace_target(request.node, tracked.number) is not None:
            await context.tracing.start(**TRACE_OPTIONS, title=request.node.nodeid)
        return AsyncNewSession(context.pages[0] if context.pages else await context.new_page(), tracked.session)

    yield new
    for connection, tracked in made:
        await _finish_async_new_session(request.node, connection, tracked, PlaywrightError)
        release_own(run, tracked)
    raise_for_any_ended([tracked for _, tracked in made])


async def _finish_async_new_session(
    item: pytest.Item, connection: AsyncConnection, tracked: TrackedSession, error: type[Exception]
) -> None:
    """A further async session's screenshots and trace, as the modes ask; then its disconnection."""
    from .._client.errors import first_line
    from .new_session import extra_artifacts_of, keep_trace, screenshot_targets, trace_target

    for page, path in screenshot_targets(item, tracked.number, connection.context.pages):
        try:
            await page.screenshot(path=path)
        except error as exc:
            extra_artifacts_of(item).problems.append(f"no screenshot of {page.url}: {exc}")
        else:
            extra_artifacts_of(item).files.append(("screenshot", path))
    trace = trace_target(item, tracked.number)
    if trace is not None:
        try:
            await connection.context.tracing.stop(path=trace)
        except error as exc:
            extra_artifacts_of(item).problems.append(f"no trace of session {tracked.id}: {first_line(exc)}")
        else:
            keep_trace(item, trace)
    await connection.close()


# Every Steel fixture here runs in the test's event loop: a test that asks for one needs the loop free (event_loop).
ASYNC_FIXTURES = frozenset(name for name in dir() if name.startswith("steel_"))
