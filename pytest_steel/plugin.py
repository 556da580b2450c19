"""The pytest plugin (entry point ``steel``; disable with ``-p no:steel``): hook wiring only.

Each hook hands its work to the module that owns the concept: ``_config.settings``
(options), ``_fixtures.fixtures`` and ``_fixtures.new_session`` (fixtures, re-exported below: a test checks
that none is missing), ``_fixtures.run`` (the backend, the run's
sessions and its report), ``_reporting.test_reports`` (what each test's report says),
``hookspecs`` (the hooks plugins implement). Start-up loads only the settings, the marker, the fixture
definitions and the light modules they name (the run's own module, not its parts; no httpx, no
Playwright); the rest loads when a test first needs Steel, so a run that uses none pays nothing.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Generator
from typing import Any

import pytest

from . import hookspecs
from ._client.redaction import RedactingFilter, hidden_comparison, scrub_report
from ._config.markers import MARKER_HELP
from ._config.settings import SETTINGS_KEY, Settings, add_options, settings_of
from ._config.stash import (
    AFTER_TEST_KEY,
    CONTROLLER_PID_KEY,
    CURRENT_ITEM_KEY,
    DEBUG_PLUGIN,
    DRIVER_KEY,
    LATER_FIXTURES_KEY,
    NEXT_ITEM_KEY,
    WORKER_SLOTS_KEY,
)
from ._fixtures.fixtures import (  # noqa: F401 - pytest finds fixtures on the plugin module
    _steel_connection,
    _steel_driver,
    _steel_module,
    _steel_playwright,
    _steel_run,
    _steel_run_session,
    _steel_tracked,
    steel_browser,
    steel_client,
    steel_context,
    steel_login,
    steel_module_session,
    steel_page,
    steel_session,
    steel_session_params,
)
from ._fixtures.new_session import steel_new_session  # noqa: F401 - pytest finds fixtures on the plugin module
from ._fixtures.run import started_run


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    settings = config.stash[SETTINGS_KEY] = Settings.resolve(config, dict(os.environ))
    if settings.debug.value:  # checked first: a usage error must leave nothing started
        from ._fixtures.debug import Debugger, terminal_to_wait_on

        config.pluginmanager.register(Debugger(config, terminal_to_wait_on(config)), DEBUG_PLUGIN)
    if settings.playwright.value:
        from ._integrations import playwright_mode

        playwright_mode.check(config, settings)
        # Registered now, after pytest-playwright: its browser fixture is then the one pytest finds.
        playwright_mode.register(config)
    if config.pluginmanager.has_plugin("asyncio"):  # pytest-asyncio: the async fixtures
        from ._fixtures import async_fixtures as _async_fixtures

        config.pluginmanager.register(_async_fixtures, _async_fixtures.PLUGIN_NAME)
    if getattr(config.option, "allure_report_dir", None):  # allure-pytest writes results: none may hold the key
        from ._reporting.allure import Scrubber

        Scrubber.register(config, lambda: _secret(config))
    if hasattr(config, "workerinput"):  # an xdist worker: it stops, releasing its sessions, if the controller dies
        from ._sessions.orphaned_worker import interrupt_when_orphaned

        config.stash[CONTROLLER_PID_KEY] = interrupt_when_orphaned()
    else:  # workers send their reports to the controller, which shows them
        from ._reporting.test_reports import ReportShower

        config.pluginmanager.register(ReportShower(config, lambda: _run_of(config).report), "steel-report")
        if config.pluginmanager.has_plugin("xdist"):
            config.pluginmanager.register(_XdistController(config), "steel-xdist")


def pytest_unconfigure(config: pytest.Config) -> None:
    debugger = config.pluginmanager.get_plugin(DEBUG_PLUGIN)
    if debugger is not None:
        debugger.close()
    run = started_run(config)
    if run is not None:
        run.finish()  # a no-op after pytest_sessionfinish; here for runs that never got that far
    _after_the_controller(config)


def _after_the_controller(config: pytest.Config) -> None:
    """On a worker whose controller died: remove what the controller would have (xdist's own hooks then fail)."""
    if config.stash.get(CONTROLLER_PID_KEY, None) is not None:
        from ._sessions.orphaned_worker import clean_up_after_controller, orphaned

        if orphaned(config.stash[CONTROLLER_PID_KEY]):
            clean_up_after_controller(config.workerinput, WORKER_SLOTS_KEY)  # type: ignore[attr-defined]


def _run_of(config: pytest.Config) -> Any:
    """The run's Steel state, made on first need; the run, and all it loads, is imported only then."""
    from ._fixtures.run import run_of

    return run_of(config)


def _secret(config: pytest.Config) -> str | None:
    """The key to keep out of sight: the run's (the embedded server's, once started), else the option's."""
    run = started_run(config)
    return run.backend.secret if run is not None else settings_of(config).api_key.value


def pytest_report_header(config: pytest.Config) -> list[str]:
    return settings_of(config).header_lines()


class _XdistController:
    """pytest-xdist hooks, registered only when xdist is present and this is the controller."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput.update(_run_of(self.config).backend.worker_input())

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        _run_of(self.config).report.merge_worker_output(getattr(node, "workeroutput", {}))


def pytest_sessionstart(session: pytest.Session) -> None:
    logging = session.config.pluginmanager.get_plugin("logging-plugin")  # pytest's, unless -p no:logging
    for handler in (getattr(logging, "log_file_handler", None), getattr(logging, "log_cli_handler", None)):
        if handler is not None:  # they write records straight out: no report scrubbing reaches them
            handler.addFilter(RedactingFilter(lambda: _secret(session.config)))


def pytest_collection_finish(session: pytest.Session) -> None:
    """When tests will need Steel, prepare now, beside the first test's own set-up (the embedded server too)."""
    config = session.config
    if config.getoption("collectonly"):
        return
    from ._fixtures.demand import needs_steel, sessions_needed

    if any(needs_steel(item) for item in session.items):
        run = _run_of(config)
        xdist = hasattr(config, "workerinput")
        run.backend.warm_up(sessions_needed(session.items, settings_of(config).session_scope.value, xdist))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, None]:
    item.config.stash[CURRENT_ITEM_KEY] = item  # sessions a test makes through steel_client are its own
    item.stash[NEXT_ITEM_KEY] = nextitem  # what --steel-prefetch looks ahead to
    run = started_run(item.config)
    prefetcher = run.prefetcher_if_decided if run is not None else None
    if prefetcher is not None:  # a test without a session of its own still lets the next ones be prepared
        from ._fixtures.prefetch import upcoming

        prefetcher.look_ahead(upcoming(item))
    yield
    item.config.stash[CURRENT_ITEM_KEY] = None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if started_run(item.config) is not None:  # only a run that used Steel can have left a test's state
        from ._reporting.test_reports import PER_RUN_ITEM_KEYS

        for key in PER_RUN_ITEM_KEYS:  # pytest-rerunfailures runs an item again
            if key in item.stash:
                del item.stash[key]
    if DRIVER_KEY in item.config.stash:  # a sync Playwright driver runs: an async test needs the loop it holds
        from ._fixtures.event_loop import free_event_loop_for

        free_event_loop_for(item)


def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest) -> None:
    """A function fixture set up after the test's recorder started is torn down before its page: note it.

    Only one with teardown code can fail there, and noting it costs a screenshot of every
    page at every test's end (held until the test's teardown report): so a parameter of
    ``parametrize`` and a plain function fixture do not count. A plain fixture that tears
    down through ``request.addfinalizer`` is missed: its failure still keeps the trace.
    """
    if fixturedef.scope != "function" or started_run(request.config) is None:
        return  # no recorder can have started yet
    from ._reporting.artifacts import RECORDER_KEY

    if RECORDER_KEY in request.node.stash and _tears_down(fixturedef.func):
        request.node.stash[LATER_FIXTURES_KEY] = True


def _tears_down(func: Any) -> bool:
    func = inspect.unwrap(func)  # pytest-asyncio wraps async fixtures in plain functions
    return inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, Any, None]:
    """What the test's fixtures put off until all of them are torn down (--steel-playwright), as its teardown."""
    outcome = yield
    if item.stash.get(AFTER_TEST_KEY, None):
        from ._fixtures.deferred_teardown import run_deferred

        error = run_deferred(item)
        if error is not None and outcome.excinfo is None:
            outcome.force_exception(error)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    run = started_run(item.config)
    if run is None:  # nothing has used Steel yet: only keep the key out of the report
        outcome = yield
        _explain_scope_mismatch(item, call, outcome.get_result())
        scrub_report(outcome.get_result(), settings_of(item.config).api_key.value)
        return
    from ._reporting.test_reports import TestReporting

    reporting = TestReporting(run, item, call)
    outcome = yield
    report = outcome.get_result()
    _explain_scope_mismatch(item, call, report)
    reporting.annotate(report)
    debugger = item.config.pluginmanager.get_plugin(DEBUG_PLUGIN) if report.failed and call.when == "call" else None
    if debugger is not None:
        from ._sessions.lifecycle import ITEM_SESSIONS_KEY

        debugger.pause(item, item.stash.get(ITEM_SESSIONS_KEY, []), report)


def _explain_scope_mismatch(item: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport) -> None:
    if call.when == "setup" and call.excinfo is not None:  # a wider fixture asking for a per-test one: say so
        from ._reporting.test_reports import explain_scope_mismatch

        explain_scope_mismatch(report, settings_of(item.config).playwright.value)


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, str] | None:
    if getattr(report, "steel_session_ended", False):
        from ._reporting.test_reports import status_of

        return status_of(report)
    return None


def pytest_assertrepr_compare(config: pytest.Config, op: str, left: object, right: object) -> list[str] | None:
    """Assertion diffs print strings whole, a CDP URL with its ``apiKey`` included; not ours."""
    run = started_run(config)
    if run is not None:
        return hidden_comparison(left, op, right, run.backend.secret)
    return hidden_comparison(left, op, right, settings_of(config).api_key.value)


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> Generator[None, Any, None]:
    """After every other plugin's session finish, even one that raised (a fixture's last teardown can)."""
    yield
    run = started_run(session.config)
    try:
        if run is not None:
            run.finish()
    finally:
        _after_the_controller(session.config)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    run = started_run(config)
    if run is None:
        return
    lines = run.report.summary(config.getoption("verbose"))
    if lines:
        terminalreporter.section("pytest-steel")
        for line in lines:
            terminalreporter.write_line(run.redact(line))
