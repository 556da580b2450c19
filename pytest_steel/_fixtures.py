"""The fixtures: a session per test or per module, a Playwright browser connected to it, its context and a page.

``steel_session``, ``steel_browser`` and ``steel_context`` take their scope from
``--steel-session-scope``; ``steel_page`` is always per test. Playwright is
imported only when a test first asks for a browser.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from ._errors import SteelError, SteelSessionError, first_line
from ._settings import ARTIFACT_FIELDS, Backend, Settings, parse_timeout_ms, timeout_error
from ._stash import FAILED_SO_FAR_KEY, RECORDER_KEY, RUN_KEY, SETTINGS_KEY

if TYPE_CHECKING:  # the rest loads when a test first needs Steel, so that start-up stays cheap
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright

    from ._artifacts import TestRecorder
    from ._client import SteelClient
    from ._models import Session
    from ._run import SteelRun, TrackedSession

CONNECT_TIMEOUT_MS = 30_000
# Fixtures holding a per-module session, in teardown order (dependents first).
MODULE_SESSION_FIXTURES = (
    "steel_context",
    "steel_browser",
    "steel_session",
    "_steel_tracked",
    "steel_module_session",
    "_steel_module_tracked",
)


def steel_settings(config: pytest.Config) -> Settings:
    return config.stash[SETTINGS_KEY]


def steel_run(config: pytest.Config) -> SteelRun:
    """The run's sessions and client, made when something first needs them."""
    run = config.stash.get(RUN_KEY, None)
    if run is None:
        from ._run import SteelRun

        run = config.stash[RUN_KEY] = SteelRun(config, steel_settings(config))
    return run


def started_run(config: pytest.Config) -> SteelRun | None:
    """The run, if anything has needed Steel so far."""
    return config.stash.get(RUN_KEY, None)


def _session_scope(fixture_name: str, config: pytest.Config) -> str:
    return steel_settings(config).session_scope.value


def marker_params(node: pytest.Item | pytest.Collector) -> dict[str, Any]:
    """Fields of every ``steel`` marker on the node and its parents; the closest marker wins each field."""
    merged: dict[str, Any] = {}
    for owner, mark in reversed(list(node.iter_markers_with_node("steel"))):
        if mark.args:
            raise SteelError(
                f"@pytest.mark.steel on {owner.nodeid} takes keyword arguments only, "
                "e.g. @pytest.mark.steel(timeout='2m', blockAds=True)"
            )
        merged.update((k, v) for k, v in mark.kwargs.items() if k not in ARTIFACT_FIELDS)
    if "timeout" in merged:
        merged["timeout"] = _timeout_ms(merged["timeout"], "@pytest.mark.steel(timeout=...)")
    return merged


def _timeout_ms(value: object, where: str) -> int:
    try:
        return parse_timeout_ms(value)
    except ValueError:
        raise SteelError(timeout_error(where, value)) from None


def _open(request: pytest.FixtureRequest, node: pytest.Item | pytest.Collector) -> Iterator[TrackedSession]:
    run = steel_run(request.config)
    params = {**request.getfixturevalue("steel_session_params"), **marker_params(node)}
    if isinstance(params.get("timeout"), str):  # an overridden steel_session_params may say "2m" too
        params["timeout"] = _timeout_ms(params["timeout"], "steel_session_params['timeout']")
    tracked = run.create(params, node)
    try:
        yield tracked
    finally:
        run.release(tracked)
    if tracked.ended is not None and tracked.ended_on_its_own and not tracked.reported:
        tracked.reported = True
        raise SteelSessionError(
            describe_end(tracked),
            session_id=tracked.id,
            status=str(tracked.ended.status),
            release_reason=tracked.ended.release_reason,
        )


def describe_end(tracked: TrackedSession) -> str:
    """One line naming the session, its state and what that means."""
    final = tracked.ended
    if final is None or final.is_live:
        return f"Steel session {tracked.id} lost its CDP connection during the test (the session is still live)"
    reasons = {
        "browser_crashed": "its browser crashed",
        "browser_closed": "its browser closed",
        "timeout": f"its timeout ({tracked.session.timeout} ms) passed; raise it with --steel-timeout "
        "or @pytest.mark.steel(timeout=...)",
        "inactivity_timeout": "it was idle for longer than its inactivityTimeout",
        "user_requested": "something other than its fixture released it",
    }
    why = reasons.get(final.release_reason or "", "the backend ended it")
    return f"Steel session {tracked.id} is {final.describe_state()} during the test: {why}"


@pytest.fixture(scope="session")
def steel_client(request: pytest.FixtureRequest) -> SteelClient:
    """The API client for the configured backend (starts the embedded server on first use)."""
    return steel_run(request.config).client()


@pytest.fixture(scope="session")
def steel_session_params(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Create parameters for every session: ``timeout`` (ms) and any Steel create field. Override to change them."""
    settings = steel_settings(request.config)
    params: dict[str, Any] = {"timeout": settings.timeout_ms.value}
    if settings.backend.value is Backend.EMBEDDED and settings.headed.value:
        params["headless"] = False
    return params


@pytest.fixture(scope="module")
def _steel_module_tracked(request: pytest.FixtureRequest) -> Iterator[TrackedSession]:
    yield from _open(request, request.node)


@pytest.fixture(scope="module")
def steel_module_session(_steel_module_tracked: TrackedSession) -> Session:
    """A live session shared by this module's tests, released after the module."""
    return _steel_module_tracked.session


@pytest.fixture(scope=_session_scope)
def _steel_tracked(request: pytest.FixtureRequest) -> Iterator[TrackedSession]:
    if request.scope == "module":
        yield request.getfixturevalue("_steel_module_tracked")
    else:
        yield from _open(request, request.node)


@pytest.fixture(scope=_session_scope)
def steel_session(_steel_tracked: TrackedSession) -> Session:
    """A live session for this test (or module, with --steel-session-scope module), released at teardown."""
    return _steel_tracked.session


@pytest.fixture(scope="session")
def _steel_playwright(request: pytest.FixtureRequest) -> Iterator[Playwright]:
    """One Playwright per process: pytest-playwright's when it is installed, else our own."""
    if request.config.pluginmanager.has_plugin("playwright"):
        yield request.getfixturevalue("playwright")
        return
    from playwright.sync_api import sync_playwright

    # Playwright's driver makes a playwright-artifacts-* folder per connection in its TMPDIR, and may not
    # remove it when a session dies under it and the run ends soon after: give the driver a folder we remove.
    driver_tmp = tempfile.mkdtemp(prefix="pytest-steel-playwright-")
    previous = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = driver_tmp  # read once, by the driver process that start() spawns
    try:
        playwright = sync_playwright().start()
    finally:
        if previous is None:
            del os.environ["TMPDIR"]
        else:
            os.environ["TMPDIR"] = previous
    try:
        yield playwright
        playwright.stop()
    finally:
        shutil.rmtree(driver_tmp, ignore_errors=True)


@pytest.fixture(scope=_session_scope)
def steel_browser(
    request: pytest.FixtureRequest, _steel_playwright: Playwright, _steel_tracked: TrackedSession
) -> Iterator[Browser]:
    """A Playwright ``Browser`` connected over CDP to ``steel_session``.

    Playwright comes first: its driver starts while the embedded server, started in the
    background after collection, comes up and launches its first browsers.
    """
    from playwright.sync_api import Error as PlaywrightError

    run = steel_run(request.config)
    playwright = _steel_playwright
    client = run.client()
    url = client.cdp_url(_steel_tracked.session)
    failure: str | None = None
    try:
        browser = playwright.chromium.connect_over_cdp(url, timeout=CONNECT_TIMEOUT_MS)
    except PlaywrightError as exc:
        failure = client.redact(first_line(exc))
    if failure is not None:  # raised outside the except block, so no local holds the unredacted error
        raise SteelSessionError(
            f"could not connect Playwright to Steel session {_steel_tracked.id}: {failure}",
            session_id=_steel_tracked.id,
            status=str(_steel_tracked.session.status),
        )

    def on_disconnected(_: object) -> None:
        if not _steel_tracked.closing:
            _steel_tracked.disconnected = True

    browser.on("disconnected", on_disconnected)
    yield browser
    if not browser.is_connected() and not _steel_tracked.closing:
        _steel_tracked.disconnected = True  # the event may not have been dispatched yet
    _steel_tracked.closing = True
    if browser.is_connected():
        try:
            browser.close()
        except PlaywrightError:
            pass  # the connection went down under us: the session's release is what matters


@pytest.fixture(scope=_session_scope)
def steel_context(
    request: pytest.FixtureRequest, steel_browser: Browser, _steel_tracked: TrackedSession
) -> Iterator[BrowserContext]:
    """The session's default context: Steel opens one, with a page, for every session."""
    context = steel_browser.contexts[0] if steel_browser.contexts else steel_browser.new_context()
    if request.scope == "function" and "steel_page" not in request.fixturenames:
        # A test that drives the context itself: its artifacts cover every page of the context.
        recorder = _start_recording(request, context, _steel_tracked)
        yield context
        if recorder is not None:
            recorder.stop(_failed_so_far(request.node), context.pages)
        return
    yield context


@pytest.fixture
def steel_page(
    request: pytest.FixtureRequest, steel_context: BrowserContext, _steel_tracked: TrackedSession
) -> Iterator[Page]:
    """A page for this test: the session's own page, or a new one closed at teardown when the session is shared."""
    shared = steel_settings(request.config).session_scope.value == "module"
    from ._run import note_session

    note_session(request.node, _steel_tracked)
    before = set(steel_context.pages) if shared else set()
    recorder = _start_recording(request, steel_context, _steel_tracked)
    if shared:
        page = steel_context.new_page()
    else:
        page = steel_context.pages[0] if steel_context.pages else steel_context.new_page()
    yield page
    if recorder is not None:  # the test's own pages: with a shared session, those opened since it began
        recorder.stop(_failed_so_far(request.node), [p for p in steel_context.pages if p not in before])
    if shared and not page.is_closed():
        try:
            page.close()
        except Exception:  # noqa: BLE001 - a dead session cannot close pages; its replacement is set up
            pass


def _start_recording(
    request: pytest.FixtureRequest, context: BrowserContext, tracked: TrackedSession
) -> TestRecorder | None:
    from ._artifacts import TestRecorder, artifact_modes, folder_for

    item = request.node
    settings = steel_settings(request.config)
    modes = artifact_modes(item, settings)
    if not modes.records_anything:
        return None
    recorder = TestRecorder(folder_for(settings.output.value, item), modes, context, tracked, title=item.nodeid)
    recorder.start()
    item.stash[RECORDER_KEY] = recorder
    return recorder


def _failed_so_far(item: pytest.Item) -> bool:
    return item.stash.get(FAILED_SO_FAR_KEY, False)
