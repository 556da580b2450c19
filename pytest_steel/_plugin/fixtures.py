"""The fixtures: a session per test or per module, a Playwright browser connected to it, its context and a page.

Every session fixture is function-scoped and small. With ``--steel-session-scope
module`` they hand each test the module's session, held by the module-scoped
``_steel_module`` (``ModuleSession``), which replaces a session that died before the
module's next test. Playwright is imported only when a test first asks for a browser.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from .._client.errors import SteelError
from .._config.markers import SteelMarks, timeout_ms
from .._config.settings import Settings
from .._config.stash import AFTER_TEST_KEY, DRIVER_KEY, SETTINGS_KEY

if TYPE_CHECKING:  # the rest loads when a test first needs Steel, so that start-up stays cheap
    from playwright.sync_api import Browser, BrowserContext, Page

    from .._browser.connection import Connection, PlaywrightDriver
    from .._client.client import SteelClient
    from .._client.models import Session, SessionContext
    from .._reporting.artifacts import TestRecorder
    from .._sessions.lifecycle import TrackedSession
    from .module_session import ModuleSession
    from .run import SteelRun

# Fixtures whose session follows --steel-session-scope, and every fixture that needs the backend.
SESSION_FIXTURES = ("steel_session", "steel_browser", "steel_context", "steel_page")
ASYNC_FIXTURES = ("steel_async_browser", "steel_async_context", "steel_async_page", "steel_async_new_session")
STEEL_FIXTURES = frozenset(
    ("steel_client", "steel_login", "steel_module_session", "steel_new_session", *SESSION_FIXTURES, *ASYNC_FIXTURES)
)


def run_of(config: pytest.Config) -> SteelRun:
    """The run's Steel state, made on first need: the run, and all it loads, is imported only then."""
    from .run import SteelRun

    return SteelRun.of(config)


def settings_of(config: pytest.Config) -> Settings:
    return config.stash[SETTINGS_KEY]


def _create_params(request: pytest.FixtureRequest, node: pytest.Item | pytest.Collector) -> dict[str, Any]:
    """``steel_session_params``, then the closest ``steel`` marker's fields, ``timeout`` in milliseconds.

    The marker's ``context="NAME"`` names a fixture whose value (a session context,
    or a Playwright storage state) the session starts from.
    """
    params = {**request.getfixturevalue("steel_session_params"), **SteelMarks.of(node).create_fields()}
    if isinstance(params.get("timeout"), str):  # an overridden steel_session_params may say "2m" too
        params["timeout"] = timeout_ms(params["timeout"], "steel_session_params['timeout']")
    if "context" in params:
        name = params.pop("context")
        if not isinstance(name, str):
            raise SteelError(
                "@pytest.mark.steel(context=...) takes the name of a fixture that returns a session context, "
                f"e.g. context='admin'; got {type(name).__name__}"
            )
        params["session_context"] = request.getfixturevalue(name)
    return params


@pytest.fixture(scope="session")
def steel_client(request: pytest.FixtureRequest) -> SteelClient:
    """The API client for the configured backend (starts the embedded server on first use)."""
    return run_of(request.config).backend.client()


@pytest.fixture(scope="session")
def steel_session_params(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Create parameters for every session: ``timeout`` (ms) and any Steel create field. Override to change them."""
    settings = settings_of(request.config)
    params: dict[str, Any] = {"timeout": settings.timeout_ms.value}
    if settings.is_embedded and (settings.headed.value or _pytest_playwright_headed(request.config, settings)):
        params["headless"] = False
    return params


def _pytest_playwright_headed(config: pytest.Config, settings: Settings) -> bool:
    return settings.playwright.value and bool(config.getoption("headed", False))


def slow_mo_of(config: pytest.Config, settings: Settings) -> float:
    """--steel-slowmo (250 ms under --steel-debug), or pytest-playwright's --slowmo under --steel-playwright."""
    if settings.slowmo.value is not None:
        return float(settings.slowmo.value)
    if settings.playwright.value and config.getoption("slowmo", 0):
        return float(config.getoption("slowmo"))
    if settings.debug.value:
        from .debug import DEBUG_SLOWMO

        return DEBUG_SLOWMO
    return 0.0


@pytest.fixture(scope="module")
def _steel_module(request: pytest.FixtureRequest) -> Iterator[ModuleSession]:
    """The module's shared session, made when a test first asks for it and released after the module."""
    from .module_session import ModuleSession

    module = request.node
    holder = ModuleSession(run_of(request.config), module, lambda: _create_params(request, module))
    yield holder
    holder.close()


@pytest.fixture(scope="session")
def _steel_run_session(request: pytest.FixtureRequest) -> Iterator[ModuleSession]:
    """The process's one session for the run (--steel-session-scope session), made on first need, released last."""
    from .module_session import ModuleSession

    holder = ModuleSession(run_of(request.config), request.session, lambda: _create_params(request, request.session))
    yield holder
    holder.close()


def shared_holder(request: pytest.FixtureRequest) -> ModuleSession:
    """The holder of the session tests share: the module's, or the run's under --steel-session-scope session."""
    scope = settings_of(request.config).session_scope.value
    return request.getfixturevalue("_steel_run_session" if scope == "session" else "_steel_module")


@pytest.fixture
def _steel_tracked(request: pytest.FixtureRequest) -> Iterator[TrackedSession]:
    """This test's session: its own, or the one it shares (the module's, or the run's)."""
    from .._sessions.tracker import note_use

    run = run_of(request.config)
    if run.settings.shared_scope:
        shared = shared_holder(request).for_test(request.node, own_session=False)
        note_use(request.node, shared)
        yield shared
        return
    from .._reporting.recordings import ask_at_create

    params = {**_create_params(request, request.node), **ask_at_create(request.node, run.settings)}
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
    if after_the_test(request, lambda: _finish(run, tracked)):
        yield tracked
        return
    try:
        yield tracked
    finally:
        release_own(run, tracked)
    from .module_session import raise_if_it_ended_under_the_test

    raise_if_it_ended_under_the_test(tracked)


def _finish(run: SteelRun, tracked: TrackedSession) -> None:
    """Release a test's own session; one that ended on its own under the test is the test's error."""
    from .module_session import raise_if_it_ended_under_the_test

    release_own(run, tracked)
    raise_if_it_ended_under_the_test(tracked)


def release_own(run: SteelRun, tracked: TrackedSession) -> None:
    """Release a session of the test's own, after keeping its downloads (its files go with it)."""
    if isinstance(tracked.node, pytest.Item) and tracked.final is None and not run.backend.health.unavailable:
        from .._reporting.downloads import keep_downloads

        keep_downloads(run.backend.client(), tracked.node, run.settings, tracked)
    run.sessions.release(tracked)


def after_the_test(request: pytest.FixtureRequest, finish: Callable[[], None]) -> bool:
    """Under --steel-playwright, put ``finish`` off until every fixture of the test is torn down.

    pytest-playwright's artifacts recorder may be set up before ``browser`` (its own
    autouse fixture asks for it when tracing) and so torn down after it: it still
    needs the browser connected to save a video. ``run_after_test`` runs these.
    """
    if not settings_of(request.config).playwright.value:
        return False
    request.node.stash.setdefault(AFTER_TEST_KEY, []).append(finish)
    return True


def run_after_test(item: pytest.Item) -> BaseException | None:
    """Run what the test's fixtures put off, last first; the first error, if any, is the teardown's."""
    error: BaseException | None = None
    for finish in reversed(item.stash.get(AFTER_TEST_KEY, [])):
        try:
            finish()
        except Exception as exc:  # noqa: BLE001 - each must run; the first error is reported
            error = error or exc
    item.stash[AFTER_TEST_KEY] = []
    return error


@pytest.fixture
def steel_module_session(request: pytest.FixtureRequest) -> Session:
    """A live session shared by this module's tests, released after the module."""
    from .._sessions.tracker import note_use

    own = not settings_of(request.config).shared_scope and any(n in request.fixturenames for n in SESSION_FIXTURES)
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
    request.config.stash[DRIVER_KEY] = driver  # for room_for_async, before an async test's fixtures
    yield driver
    driver.stop()


def room_for_async(item: pytest.Item) -> None:
    """Before a test that runs in an event loop: stop the sync Playwright driver, which would hold the loop."""
    driver = item.config.stash.get(DRIVER_KEY, None)
    if driver is None:
        return
    coroutine = inspect.iscoroutinefunction(getattr(item, "obj", None))
    if coroutine or item.get_closest_marker("asyncio") or any(n in ASYNC_FIXTURES for n in item.fixturenames):
        try:
            driver.make_room_for_async(item.nodeid)
        except SteelError as exc:
            pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def steel_login(request: pytest.FixtureRequest, _steel_playwright: PlaywrightDriver) -> Callable[..., SessionContext]:
    """``steel_login(sign_in, **create_fields)``: run ``sign_in(page)`` in a fresh session; its context, to reuse."""
    from .._browser.connection import Connection

    run = run_of(request.config)

    def login(sign_in: Callable[[Page], object], **create_fields: Any) -> SessionContext:
        params = {**request.getfixturevalue("steel_session_params"), **create_fields}
        tracked = run.sessions.create(params, request.node, owner="steel_login")
        try:
            client = run.backend.client()
            given = run.endpoints.connect_args(client, tracked, request.node)
            connection = Connection(_steel_playwright, client, tracked, **given)
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
    request: pytest.FixtureRequest, _steel_driver: PlaywrightDriver, _steel_tracked: TrackedSession
) -> Iterator[Connection]:
    """This test's CDP connection to its session (the module's, shared, with a per-module session).

    Playwright comes first: its driver starts while the embedded server, started in the
    background after collection, comes up and launches its first browsers.
    """
    run = run_of(request.config)
    if run.settings.shared_scope:
        slow_mo = slow_mo_of(request.config, run.settings)
        yield shared_holder(request).connection(_steel_driver, slow_mo=slow_mo)
        return
    from .._browser.connection import Connection

    client = run.backend.client()
    given = run.endpoints.connect_args(client, _steel_tracked, request.node)
    slow_mo = slow_mo_of(request.config, run.settings)
    connection = Connection(_steel_driver, client, _steel_tracked, slow_mo=slow_mo, **given)
    if after_the_test(request, connection.close):
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
    recorder = _start_recording(request, _steel_connection)
    yield context
    if recorder is not None:
        recorder.stop(context.pages)


@pytest.fixture
def steel_page(request: pytest.FixtureRequest, _steel_connection: Connection) -> Iterator[Page]:
    """A page for this test: the session's own page, or a new one closed at teardown when the session is shared."""
    context = _steel_connection.context
    shared = settings_of(request.config).shared_scope
    before = set(context.pages) if shared else set()
    recorder = _start_recording(request, _steel_connection)
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


def _start_recording(request: pytest.FixtureRequest, connection: Connection) -> TestRecorder | None:
    from .._reporting.artifacts import RECORDER_KEY, TestRecorder

    recorder = TestRecorder.for_test(request.node, settings_of(request.config), connection)
    if recorder is not None:
        recorder.start()
        request.node.stash[RECORDER_KEY] = recorder
    return recorder
