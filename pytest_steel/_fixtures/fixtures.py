"""The fixtures: a session per test or per module, a Playwright browser connected to it, its context and a page.

Every session fixture is function-scoped and small. With ``--steel-session-scope
module`` they hand each test the module's session, held by the module-scoped
``_steel_module`` (``ModuleSession``), which replaces a session that died before the
module's next test. Playwright is imported only when a test first asks for a browser.

Every fixture that needs the backend asks for ``_steel_run``: so pytest's own fixture
closure tells which tests need Steel, and the backend warms up for them (``demand``).
Every fixture that hands out a browser or a page connects through ``connect``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from .._config.settings import Settings, settings_of
from .._config.stash import DRIVER_KEY
from .connect import connect
from .create_params import create_params
from .deferred_teardown import deferred_until_torn_down
from .demand import wants_own_session
from .release import raise_if_it_ended_under_the_test, release_and_raise_if_ended, release_own

if TYPE_CHECKING:  # the rest loads when a test first needs Steel, so that start-up stays cheap
    from playwright.sync_api import Browser, BrowserContext, Page

    from .._browser.connection import Connection, PlaywrightDriver
    from .._client.client import SteelClient
    from .._client.models import Session, SessionContext
    from .._reporting.artifacts import TestRecorder
    from .._sessions.lifecycle import TrackedSession
    from .module_session import ModuleSession
    from .run import SteelRun


@pytest.fixture(scope="session")
def _steel_run(request: pytest.FixtureRequest) -> SteelRun:
    """The run's Steel state; every fixture that needs the backend asks for it, and so warms it up."""
    from .run import run_of

    return run_of(request.config)


@pytest.fixture(scope="session")
def steel_client(_steel_run: SteelRun) -> SteelClient:
    """The API client for the configured backend (starts the embedded server on first use)."""
    return _steel_run.backend.client()


@pytest.fixture(scope="session")
def steel_session_params(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Create parameters for every session: ``timeout`` (ms) and any Steel create field. Override to change them."""
    settings = settings_of(request.config)
    params: dict[str, Any] = {"timeout": settings.timeout_ms.value}
    if settings.is_embedded and (settings.headed.value or _headed_by_pytest_playwright(request.config, settings)):
        params["headless"] = False
    return params


def _headed_by_pytest_playwright(config: pytest.Config, settings: Settings) -> bool:
    return settings.playwright.value and bool(config.getoption("headed", False))


@pytest.fixture(scope="module")
def _steel_module(request: pytest.FixtureRequest, _steel_run: SteelRun) -> Iterator[ModuleSession]:
    """The module's shared session, made when a test first asks for it and released after the module."""
    from .module_session import ModuleSession

    module = request.node
    holder = ModuleSession(_steel_run, module, lambda: create_params(request, module))
    yield holder
    holder.close()


@pytest.fixture(scope="session")
def _steel_run_session(request: pytest.FixtureRequest, _steel_run: SteelRun) -> Iterator[ModuleSession]:
    """The process's one session for the run (--steel-session-scope session), made on first need, released last."""
    from .module_session import ModuleSession

    holder = ModuleSession(_steel_run, request.session, lambda: create_params(request, request.session))
    yield holder
    holder.close()


@pytest.fixture
def _steel_tracked(request: pytest.FixtureRequest, _steel_run: SteelRun) -> Iterator[TrackedSession]:
    """This test's session: its own, or the one it shares (the module's, or the run's)."""
    from .._sessions.tracker import note_use

    run = _steel_run
    settings = settings_of(request.config)
    if settings.shared_scope:
        from .module_session import shared_holder

        shared = shared_holder(request).for_test(request.node, own_session=False)
        note_use(request.node, shared)
        yield shared
        return
    from .._reporting.recordings import ask_at_create

    params = {**create_params(request, request.node), **ask_at_create(request.node, settings)}
    prefetcher = run.prefetcher
    if prefetcher is None:
        tracked = run.sessions.create(params, request.node)
    else:
        from .prefetch import upcoming

        prefetcher.base_params = request.getfixturevalue("steel_session_params")
        resolved = run.sessions.resolve(params, request.node)
        tracked = prefetcher.take(request.node, resolved) or run.sessions.create(resolved, request.node, resolved=True)
        prefetcher.look_ahead(upcoming(request.node))
    note_use(request.node, tracked)
    if deferred_until_torn_down(request, lambda: release_and_raise_if_ended(run, tracked)):
        yield tracked
        return
    try:
        yield tracked
    finally:
        release_own(run, tracked)
    raise_if_it_ended_under_the_test(tracked)


@pytest.fixture
def steel_module_session(request: pytest.FixtureRequest, _steel_run: SteelRun) -> Session:
    """A live session shared by this module's tests, released after the module."""
    from .._sessions.tracker import note_use

    own = not settings_of(request.config).shared_scope and wants_own_session(request.node)
    tracked = request.getfixturevalue("_steel_module").for_test(request.node, own_session=own)
    note_use(request.node, tracked)
    return tracked.session


@pytest.fixture
def steel_session(_steel_tracked: TrackedSession) -> Session:
    """A live session for this test (or module, with --steel-session-scope module), released at teardown."""
    return _steel_tracked.session


@pytest.fixture(scope="session")
def _steel_playwright(request: pytest.FixtureRequest) -> Iterator[PlaywrightDriver]:
    """The process's Playwright sync driver, not started yet: pytest-playwright's when it is active, else our own."""
    from .._browser.connection import PlaywrightDriver

    # Two sync drivers cannot share a thread. Either starts at a test's first connection (see
    # _steel_driver), not here: pytest may set this up before the test's own session fixtures.
    # Ours stops, as pytest-playwright's does, before the session fixtures set up until it started.
    if request.config.pluginmanager.has_plugin("playwright"):
        driver = PlaywrightDriver(borrow=functools.partial(request.getfixturevalue, "playwright"))
    else:
        driver = PlaywrightDriver(on_start=lambda: request.session.addfinalizer(driver.stop))
    request.config.stash[DRIVER_KEY] = driver  # for event_loop.free_event_loop_for, before an async test's fixtures
    yield driver
    driver.stop()


@pytest.fixture(scope="session")
def steel_login(
    request: pytest.FixtureRequest, _steel_playwright: PlaywrightDriver, _steel_run: SteelRun
) -> Callable[..., SessionContext]:
    """``steel_login(sign_in, **create_fields)``: run ``sign_in(page)`` in a fresh session; its context, to reuse."""
    run = _steel_run

    def login(sign_in: Callable[[Page], object], **create_fields: Any) -> SessionContext:
        params = {**request.getfixturevalue("steel_session_params"), **create_fields}
        tracked = run.sessions.create(params, request.node, owner="steel_login")
        try:
            connection = connect(run, _steel_playwright, tracked, request.node)
            try:
                context = connection.context
                sign_in(context.pages[0] if context.pages else context.new_page())
                return run.backend.client().context(tracked.id)
            finally:
                connection.close()
        finally:
            run.sessions.release(tracked)

    return login


@pytest.fixture
def _steel_driver(request: pytest.FixtureRequest, _steel_playwright: PlaywrightDriver) -> PlaywrightDriver:
    """The sync driver, started for this test: after its session fixtures, which may run a loop of their own."""
    if request.config.pluginmanager.has_plugin("playwright"):
        # Asked for by the test, so that pytest 7 too tears it down before the session fixtures set up first.
        request.getfixturevalue("playwright")
    _steel_playwright.get()
    return _steel_playwright


@pytest.fixture
def _steel_connection(
    request: pytest.FixtureRequest,
    _steel_driver: PlaywrightDriver,
    _steel_tracked: TrackedSession,
    _steel_run: SteelRun,
) -> Iterator[Connection]:
    """This test's CDP connection to its session (the module's, shared, with a per-module session).

    Playwright comes first: its driver starts while the embedded server, started in the
    background after collection, comes up and launches its first browsers.
    """
    if settings_of(request.config).shared_scope:
        from .module_session import shared_holder

        yield shared_holder(request).connection(_steel_driver)
        return
    connection = connect(_steel_run, _steel_driver, _steel_tracked, request.node)
    if deferred_until_torn_down(request, connection.close):
        yield connection
        return
    yield connection
    connection.close()


@pytest.fixture
def steel_browser(_steel_connection: Connection) -> Browser:
    """A Playwright ``Browser`` connected over CDP to ``steel_session``."""
    return _steel_connection.browser


@pytest.fixture
def steel_context(request: pytest.FixtureRequest, _steel_connection: Connection) -> Iterator[BrowserContext]:
    """The session's default context: Steel opens one, with a page, for every session."""
    context = _steel_connection.context
    if settings_of(request.config).shared_scope or "steel_page" in request.fixturenames:
        yield context
        return
    # A test that drives its own session's context: its artifacts cover every page of the context.
    recorder = _started_recorder(request, _steel_connection)
    yield context
    if recorder is not None:
        recorder.stop(context.pages)


@pytest.fixture
def steel_page(request: pytest.FixtureRequest, _steel_connection: Connection) -> Iterator[Page]:
    """A page for this test: the session's own page, or a new one closed at teardown when the session is shared."""
    context = _steel_connection.context
    shared = settings_of(request.config).shared_scope
    before = set(context.pages) if shared else set()
    recorder = _started_recorder(request, _steel_connection)
    if shared or not context.pages:
        page = context.new_page()
    else:
        page = context.pages[0]
    yield page
    if recorder is not None:  # the test's own pages: with a shared session, those opened since it began
        recorder.stop([p for p in context.pages if p not in before])
    if shared and not page.is_closed():
        try:
            page.close()
        except Exception:  # noqa: BLE001 - a dead session cannot close pages; its replacement is set up
            pass


def _started_recorder(request: pytest.FixtureRequest, connection: Connection) -> TestRecorder | None:
    """The test's screenshots and trace recorder, started, or None when its modes keep nothing."""
    from .._reporting.artifacts import RECORDER_KEY, TestRecorder

    recorder = TestRecorder.for_test(request.node, settings_of(request.config), connection)
    if recorder is not None:
        recorder.start()
        request.node.stash[RECORDER_KEY] = recorder
    return recorder
