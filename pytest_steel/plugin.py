"""The pytest plugin (entry point ``steel``; disable with ``-p no:steel``).

Wiring only: options live in ``_settings``, the run's sessions in ``_run``, the
fixtures in ``_fixtures``, reporting in ``_report`` and ``_artifacts``, the hookspecs
in ``hookspecs``. Start-up loads only the settings and the fixture definitions; the
rest loads when a test first needs Steel, so a run that uses none pays nothing.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import pytest

from . import hookspecs
from ._errors import SteelError
from ._fixtures import (  # noqa: F401 - fixtures are found on the plugin module
    MODULE_SESSION_FIXTURES,
    _steel_module_tracked,
    _steel_playwright,
    _steel_tracked,
    describe_end,
    started_run,
    steel_browser,
    steel_client,
    steel_context,
    steel_module_session,
    steel_page,
    steel_run,
    steel_session,
    steel_session_params,
    steel_settings,
)
from ._redaction import redact, shows_secret
from ._settings import ARTIFACT_FIELDS, Backend, Settings, add_options, shown_path
from ._stash import (
    CURRENT_ITEM_KEY,
    FAILED_SO_FAR_KEY,
    ITEM_SESSIONS_KEY,
    PER_RUN_ITEM_KEYS,
    RECORDER_KEY,
    SETTINGS_KEY,
    WORKER_BROKER_KEY,
    WORKER_SLOTS_KEY,
)

if TYPE_CHECKING:
    from ._report import TestDetails
    from ._run import SteelRun


USED_STEEL_KEY = "steel_used"
SUMMARY_KEY = "steel_summary"
RECORDS_KEY = "steel_records"


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "steel(timeout=None, **create_fields): parameters for the Steel session of this test",
    )
    config.stash[SETTINGS_KEY] = Settings.resolve(config, dict(os.environ))
    if not hasattr(config, "workerinput"):  # workers send their reports to the controller, which shows them
        config.pluginmanager.register(_ReportShower(config), "steel-report")
        if config.pluginmanager.has_plugin("xdist"):
            config.pluginmanager.register(_XdistController(config), "steel-xdist")


def pytest_unconfigure(config: pytest.Config) -> None:
    run = started_run(config)
    if run is not None:
        run.finish()  # a no-op after pytest_sessionfinish; here for runs that never got that far


def pytest_report_header(config: pytest.Config) -> list[str]:
    return steel_settings(config).header_lines()


class _XdistController:
    """pytest-xdist hooks, registered only when xdist is present and this is the controller."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def steel_run(self) -> SteelRun:
        # A method, not a property: pytest 7 reads every attribute of a plugin object, looking for fixtures.
        return steel_run(self.config)

    def pytest_configure_node(self, node: Any) -> None:
        run = self.steel_run()
        if run.settings.backend.value is Backend.EMBEDDED:
            node.workerinput[WORKER_BROKER_KEY] = run.broker_address()
        node.workerinput[WORKER_SLOTS_KEY] = run.slots_dir()

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        from ._report import SessionRecord

        run = self.steel_run()
        output = getattr(node, "workeroutput", {})
        if output.get(USED_STEEL_KEY):
            run.workers_used_steel = True
        run.summary_lines.extend(output.get(SUMMARY_KEY, ()))
        for data in output.get(RECORDS_KEY, ()):
            record = SessionRecord.from_dict(data)
            run.records[record.id] = record


STEEL_FIXTURES = frozenset(
    ("steel_client", "steel_session", "steel_module_session", "steel_browser", "steel_context", "steel_page")
)


def pytest_collection_finish(session: pytest.Session) -> None:
    """When tests will need the embedded server, start it now, beside the first test's own set-up."""
    if session.config.option.collectonly or steel_settings(session.config).backend.value is not Backend.EMBEDDED:
        return
    if any(STEEL_FIXTURES.intersection(getattr(item, "fixturenames", ())) for item in session.items):
        steel_run(session.config).warm_up()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, None, None]:
    item.config.stash[CURRENT_ITEM_KEY] = item  # sessions a test makes through steel_client are its own
    yield
    item.config.stash[CURRENT_ITEM_KEY] = None


PER_TEST_FIXTURES = ("steel_session", "steel_browser", "steel_context", "steel_page")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    for key in PER_RUN_ITEM_KEYS:  # pytest-rerunfailures runs an item again
        if key in item.stash:
            del item.stash[key]
    run = started_run(item.config)  # None until a test first needs Steel: then no session can be dead
    if run is None:
        return
    names = item.fixturenames
    module_mode = run.settings.session_scope.value == "module"
    uses_module_session = "steel_module_session" in names or module_mode and any(n in names for n in PER_TEST_FIXTURES)
    if not uses_module_session:
        return
    if module_mode or not any(n in names for n in PER_TEST_FIXTURES):
        _reject_test_markers(item)  # its marker would change nothing
    module = item.getparent(pytest.Module)
    for tracked in list(run.live.values()):
        if tracked.node is module and tracked.created_by_fixture and (tracked.ended or tracked.disconnected):
            # ended, or its browser connection dropped (a Playwright Browser cannot reconnect): replace it
            _discard_module_session(item)
            return


def _reject_test_markers(item: pytest.Item) -> None:
    for owner, mark in item.iter_markers_with_node("steel"):
        if set(mark.kwargs) <= set(ARTIFACT_FIELDS):
            continue  # screenshot= and tracing= are per test, whoever shares the session
        if not isinstance(owner, (pytest.Module, pytest.Package, pytest.Session)):
            pytest.fail(
                f"@pytest.mark.steel on {owner.nodeid} cannot change a per-module session shared with other tests; "
                "mark the module instead (pytestmark = pytest.mark.steel(...)), or use a per-test session",
                pytrace=False,
            )


def _discard_module_session(item: pytest.Item) -> None:
    """Tear the module's fixtures down so the next request creates a fresh session (pytest has no public API)."""
    manager = item.session._fixturemanager  # type: ignore[attr-defined]
    where: Any = item if int(pytest.__version__.split(".")[0]) >= 8 else item.nodeid
    for name in MODULE_SESSION_FIXTURES:
        for fixturedef in manager.getfixturedefs(name, where) or ():
            if fixturedef.scope == "module" and fixturedef.cached_result is not None:
                try:
                    fixturedef.finish(item._request)  # type: ignore[attr-defined]
                except SteelError:
                    pass  # the dead session's own error was reported with the test that saw it


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    if RECORDER_KEY in item.stash:
        _watch_teardown(item)
    yield


def _watch_teardown(item: pytest.Item) -> None:
    """Note a failing teardown of a fixture that used the page, before the page's own teardown takes screenshots.

    pytest tells no one which finalizer failed until all have run, and its setup state
    is private: where it is not as expected, only setup and call failures count.
    """
    entry = getattr(getattr(item.session, "_setupstate", None), "stack", {}).get(item)
    if not entry or not isinstance(entry[0], list):
        return
    finalizers: list[Any] = entry[0]

    def noting_failure(finalizer: Any) -> Any:
        def run() -> object:
            try:
                return finalizer()
            except BaseException:
                item.stash[FAILED_SO_FAR_KEY] = True
                raise

        return run

    finalizers[:] = [noting_failure(f) for f in finalizers]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    run = started_run(item.config)
    if run is None:  # nothing has used Steel yet: only keep the key out of the report
        outcome = yield
        _scrub(steel_settings(item.config), outcome.get_result())
        return
    details = _test_details(run, item, call) if call.when == "teardown" else None
    if details is not None:
        item.user_properties.extend(details.properties)  # copied into the report: JUnit XML reads them there
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if details is not None:
        report.steel_details = details.section()  # type: ignore[attr-defined]  # shown beside a failure
        html_path = getattr(item.config.option, "htmlpath", None)  # pytest-html, when it writes a report
        if html_path:
            html_dir = os.path.dirname(os.path.abspath(html_path))
            report.extras = [*getattr(report, "extras", []), *details.html_extras(html_dir)]  # type: ignore[attr-defined]
    events = run.take_events()
    if events:
        report.steel_events = [run.redact(e) for e in events]  # type: ignore[attr-defined]
    _scrub(run.settings, report)
    if report.failed and call.when in ("setup", "call"):
        item.stash[FAILED_SO_FAR_KEY] = True
    if not report.failed or call.excinfo is None:
        return
    if call.when != "call":
        if call.excinfo.errisinstance(SteelError):  # our fixtures' internals would only bury the message
            report.longrepr = f"{type(call.excinfo.value).__name__}: {run.redact(str(call.excinfo.value))}"
        return
    module = item.getparent(pytest.Module)
    for tracked in list(run.live.values()):
        if tracked.node is not item and tracked.node is not module:
            continue
        if not (tracked.disconnected or _is_playwright_error(call.excinfo)):
            continue
        state = run.check(tracked)
        if state is None or (state.is_live and not tracked.disconnected):
            continue
        tracked.reported = True
        said = " ".join(call.excinfo.exconly().split())[:500]
        report.longrepr = f"SteelSessionError: {describe_end(tracked)}\n\nPlaywright said: {run.redact(said)}"
        report.steel_session_ended = True  # type: ignore[attr-defined]  # travels with the report under xdist
        return


def _test_details(run: SteelRun, item: pytest.Item, call: pytest.CallInfo[None]) -> TestDetails | None:
    """The sessions a test used and the artifacts it kept, known once its fixtures are torn down."""
    from ._report import TestDetails
    from ._run import TrackedSession

    sessions: list[TrackedSession] = list(item.stash.get(ITEM_SESSIONS_KEY, []))
    sessions += [v for v in item.funcargs.values() if isinstance(v, TrackedSession) and v not in sessions]
    recorder = item.stash.get(RECORDER_KEY, None)
    if not sessions and recorder is None:
        return None
    properties: list[tuple[str, str]] = []
    for tracked in sessions:
        state = tracked.ended.describe_state() if tracked.ended is not None else "live"
        if tracked.ended is None:
            shared = tracked.node is not item
            state += " (shared with the module's other tests)" if shared else " (left live; released at the run's end)"
        properties += [("steel_session_id", tracked.id), ("steel_session_state", state)]
        if tracked.session.session_viewer_url:
            properties.append(("steel_session_viewer_url", tracked.session.session_viewer_url))
        if run.settings.report_debug_url.value and tracked.session.debug_url:
            properties.append(("steel_session_debug_url", tracked.session.debug_url))
    artifacts: list[tuple[str, Any]] = []
    if recorder is not None:
        teardown_failed = call.excinfo is not None and not call.excinfo.errisinstance(pytest.skip.Exception)
        artifacts = recorder.settle(item.stash.get(FAILED_SO_FAR_KEY, False) or teardown_failed)
        properties += [(f"steel_{kind}", shown_path(path)) for kind, path in artifacts]
        properties += [("steel_artifact_problem", problem) for problem in recorder.problems]
    return TestDetails([(name, run.redact(value)) for name, value in properties], artifacts)


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, str] | None:
    """A test whose session died under it did not fail on its own: count it as an error, like a broken fixture."""
    if report.when == "call" and report.failed and getattr(report, "steel_session_ended", False):
        return "error", "E", "ERROR"
    return None


def _scrub(settings: Settings, report: pytest.TestReport) -> None:
    """Last line of defence: no API key in a report (terminal, JUnit XML, HTML all read it from here)."""
    key = settings.api_key.value
    if not key:
        return
    if report.longrepr is not None and shows_secret(text := str(report.longrepr), key):
        report.longrepr = redact(text, key)
    report.sections = [(title, redact(content, key)) for title, content in report.sections]


def pytest_assertrepr_compare(config: pytest.Config, op: str, left: object, right: object) -> list[str] | None:
    """Assertion diffs print strings whole, a CDP URL with its ``apiKey`` included; not ours."""
    settings = config.stash.get(SETTINGS_KEY, None)
    key = settings.api_key.value if settings is not None else None
    if not (shows_secret(left, key) or shows_secret(right, key)):
        return None
    return [
        f"{redact(repr(left), key)} {op} {redact(repr(right), key)}",
        "(values that hold the Steel API key are not shown)",
    ]


def _is_playwright_error(excinfo: pytest.ExceptionInfo[BaseException]) -> bool:
    from playwright.sync_api import Error as PlaywrightError

    return excinfo.errisinstance(PlaywrightError)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    run = started_run(session.config)
    if run is None:
        return
    run.finish()
    if run.is_worker:  # the controller reports for the whole run
        output = session.config.workeroutput  # type: ignore[attr-defined]
        output[USED_STEEL_KEY] = run.used_steel
        output[SUMMARY_KEY] = list(run.summary_lines)
        output[RECORDS_KEY] = [record.to_dict() for record in run.records.values()]


class _ReportShower:
    """Where reports are shown (the controller, under xdist): progress lines, and the session beside a failure."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.awaiting_details: dict[str, pytest.TestReport] = {}  # a failed setup or call, until its teardown

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        events = getattr(report, "steel_events", None)
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if events and reporter is not None and self.config.option.verbose > 0:
            for line in events:
                reporter.write_line(line)
        if report.when in ("setup", "call") and report.failed:
            self.awaiting_details[report.nodeid] = report
        elif report.when == "teardown":
            failed = self.awaiting_details.pop(report.nodeid, None) or (report if report.failed else None)
            details = getattr(report, "steel_details", "")
            if failed is not None and details:
                failed.sections.append(("Steel session", details))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    run = started_run(config)
    if run is None:
        return
    from ._report import summary

    verbosity = config.option.verbose
    lines = summary(list(run.records.values()), run.caught_by_release_all, verbosity) if verbosity > -2 else []
    lines += dict.fromkeys(run.summary_lines)  # workers may each say the same; -qq still shows what went wrong
    if lines:
        terminalreporter.section("pytest-steel")
        for line in lines:
            terminalreporter.write_line(run.redact(line))
