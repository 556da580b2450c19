"""What each test's reports say about Steel: its sessions and artifacts, a session that died under it, no key.

``TestReporting`` runs in ``pytest_runtest_makereport``, where the worker that ran the
test still holds its sessions; ``ReportShower`` runs where reports are shown (the
controller, under xdist), so everything it needs rides on the report as plain data.
Outcomes come from the reports themselves, as playwright-pytest's ``rep_*`` recipe
does: no private pytest state.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any, Protocol

import pytest

from .._client.errors import SteelError
from .._client.redaction import scrub_report
from .._config.settings import settings_of, shown_path
from .._config.stash import AFTER_TEST_KEY, FAILED_SO_FAR_KEY, LATER_FIXTURES_KEY, RECORDING_KEY
from .._sessions.lifecycle import ITEM_SESSIONS_KEY
from .artifacts import RECORDER_KEY
from .downloads import EXTRA_ARTIFACTS_KEY
from .report import TestDetails, describe_end, session_properties

if TYPE_CHECKING:
    from collections.abc import Callable

    from .._browser.expose import LocalExposure
    from .._client.client import SteelClient
    from .._client.profile import BackendProfile
    from .._sessions.lifecycle import TrackedSession
    from .._sessions.tracker import SessionTracker
    from .report import RunReport


class RunView(Protocol):
    """What a test's report reads of the run, and no more, each part typed from this layer or below it.

    ``_fixtures.run.SteelRun`` is one; reporting is handed it and never imports the layer above.
    """

    @property
    def report(self) -> RunReport: ...

    @property
    def sessions(self) -> SessionTracker: ...  # to ask how a session that died under a test ended

    @property
    def is_worker(self) -> bool: ...

    @property
    def profile(self) -> BackendProfile: ...  # the run's, detected from the backend's answers

    @property
    def secret(self) -> str | None: ...

    @property
    def backend_unavailable(self) -> bool: ...

    @property
    def files_api(self) -> bool | None: ...

    def client(self) -> SteelClient: ...

    def exposure_for(self, node: pytest.Item) -> LocalExposure | None: ...

    def redact(self, text: str) -> str: ...


REPORT_SECTION = "Steel session"
# A test's Steel state, cleared before each run of it (pytest-rerunfailures runs an item again)
PER_RUN_ITEM_KEYS: tuple[pytest.StashKey[Any], ...] = (
    ITEM_SESSIONS_KEY,
    RECORDER_KEY,
    FAILED_SO_FAR_KEY,
    LATER_FIXTURES_KEY,
    AFTER_TEST_KEY,
    RECORDING_KEY,
    EXTRA_ARTIFACTS_KEY,
)
PYTEST_HTML_WITH_TEARDOWN_EXTRAS = (4, 2)  # from 4.2 a test's row shows the extras of its teardown report too
_HTML_CHECKED_KEY = pytest.StashKey[bool]()


def _say_if_pytest_html_hides_them(run: RunView, config: pytest.Config) -> None:
    """Once a run: the Steel extras ride on the teardown report, which pytest-html before 4.2 does not show."""
    if config.stash.get(_HTML_CHECKED_KEY, False):
        return
    config.stash[_HTML_CHECKED_KEY] = True
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("pytest-html")
    except PackageNotFoundError:
        return
    numbers = tuple(int(part) for part in re.findall(r"\d+", installed)[:2])
    if numbers < PYTEST_HTML_WITH_TEARDOWN_EXTRAS:
        wanted = ".".join(map(str, PYTEST_HTML_WITH_TEARDOWN_EXTRAS))
        run.report.note(
            f"pytest-html {installed} shows none of the Steel links, screenshots, traces or recordings in its "
            f"report: they are added once a test's session ends, which pytest-html shows from {wanted} on"
        )


class TestReporting:
    """One test report being made: before pytest makes it (``details``), and after (``annotate``)."""

    __test__ = False

    def __init__(self, run: RunView, item: pytest.Item, call: pytest.CallInfo[None]) -> None:
        self.run = run
        self.item = item
        self.call = call
        self.details = self._details() if call.when == "teardown" else None
        if self.details is not None:
            item.user_properties.extend(self.details.properties)  # copied into the report: JUnit XML reads them

    def _details(self) -> TestDetails | None:
        """The sessions the test used and the artifacts it kept, known once its fixtures are torn down."""
        used: list[TrackedSession] = self.item.stash.get(ITEM_SESSIONS_KEY, [])
        sessions = list(used)
        recorder = self.item.stash.get(RECORDER_KEY, None)
        downloads = self.item.stash.get(EXTRA_ARTIFACTS_KEY, None)
        if not sessions and recorder is None:
            return None
        settings = settings_of(self.item.config)
        properties: list[tuple[str, str]] = []
        for tracked in sessions:
            properties += session_properties(tracked, tracked.node is not self.item, settings.report_debug_url.value)
        artifacts: list[tuple[str, Any]] = []
        problems: list[str] = []
        excinfo = self.call.excinfo
        teardown_failed = excinfo is not None and not excinfo.errisinstance(pytest.skip.Exception)
        failed = self.item.stash.get(FAILED_SO_FAR_KEY, False) or teardown_failed
        if recorder is not None:
            artifacts = recorder.settle(failed)
            problems += recorder.problems
        if downloads is not None:
            downloads.settle(failed)
            artifacts += downloads.files
            problems += downloads.problems
        problems += [failure for tracked in sessions for failure in tracked.download_failures]
        if RECORDING_KEY in self.item.stash:
            kept, missed = self._recordings([t for t in sessions if t.node is self.item], failed)
            artifacts, problems = artifacts + kept, problems + missed
        properties += [(f"steel_{kind}", shown_path(path)) for kind, path in artifacts]
        properties += [("steel_artifact_problem", problem) for problem in problems]
        self._to_allure(sessions, artifacts)
        return TestDetails([(name, self.run.redact(value)) for name, value in properties], artifacts)

    def _to_allure(self, sessions: list[TrackedSession], artifacts: list[tuple[str, Any]]) -> None:
        """The same sessions and artifacts on the test's Allure result, when allure-pytest writes one."""
        from . import allure as to_allure

        if not to_allure.active(self.item.config):
            return
        records = self.run.report.records
        billed = [(t, records[t.id].billed_minutes if t.id in records else 0) for t in sessions]
        backend = settings_of(self.item.config).backend.value.value
        to_allure.attach(billed, artifacts, backend, self.run.redact)

    def _recordings(self, own: list[TrackedSession], failed: bool) -> tuple[list[tuple[str, Any]], list[str]]:
        """The test's own sessions' recordings, fetched (or discarded) now that they have ended."""
        from .artifacts import folder_for
        from .recordings import save

        settings, kept, missed = settings_of(self.item.config), [], []
        unasked = self.run.profile.records_unasked
        folder = folder_for(settings.output.value, self.item)
        for tracked in own:
            if self.run.backend_unavailable:  # asking a backend known gone would only cost the run time
                missed.append(f"no recording of session {tracked.id}: the backend is unavailable")
                continue
            files, problems = save(self.run.client(), tracked, folder, failed=failed, records_unasked=unasked)
            kept += files
            missed += problems
        return kept, missed

    def annotate(self, report: pytest.TestReport) -> None:
        """Add the details and progress lines, scrub the key, and explain a session that died under the test."""
        run, call = self.run, self.call
        if self.details is not None:
            report.steel_details = self.details.section()  # type: ignore[attr-defined]  # shown beside a failure
            html_path = self.item.config.getoption("htmlpath", None)  # pytest-html, when it writes a report
            if html_path:
                html_dir = os.path.dirname(os.path.abspath(html_path))
                extras = self.details.html_extras(html_dir)
                report.extras = [*getattr(report, "extras", []), *extras]  # type: ignore[attr-defined]
                if extras:
                    _say_if_pytest_html_hides_them(run, self.item.config)
        events = run.report.take_events()
        if events:
            report.steel_events = [run.redact(e) for e in events]  # type: ignore[attr-defined]
        if run.is_worker and (changes := run.report.take_changes()):
            report.steel_records = changes  # type: ignore[attr-defined]  # the controller's copy, as it happens
        scrub_report(report, run.secret)
        if report.failed and call.when in ("setup", "call"):
            self.item.stash[FAILED_SO_FAR_KEY] = True
        if not report.failed or call.excinfo is None:
            return
        if call.when != "call":
            if call.excinfo.errisinstance(SteelError):  # our fixtures' internals would only bury the message
                report.longrepr = f"{type(call.excinfo.value).__name__}: {run.redact(str(call.excinfo.value))}"
            return
        self._explain_lost_session(report, call.excinfo)
        if not getattr(report, "steel_session_ended", False):
            self._explain_unreachable_loopback(report, call.excinfo)
            self._explain_large_upload(report, call.excinfo)

    def _explain_large_upload(self, report: pytest.TestReport, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        """Playwright's 50 MB refusal, on a backend whose browser no file can reach but through CDP: say why."""
        if _PLAYWRIGHT_UPLOAD_LIMIT not in excinfo.exconly() or self.run.files_api is not False:
            return
        from .._client.profile import FILES_API_SPEAKERS, NO_FILES_API_WHY, STEEL_CLOUD, STEEL_LOCAL
        from .._client.redaction import display_url

        where = display_url(self.run.client().base_url)
        report.sections.append(
            (
                "Steel: a large upload to a backend without a files API",
                f"the backend at {where} has no session files API as {FILES_API_SPEAKERS} speak it "
                f"({NO_FILES_API_WHY}), so pytest-steel cannot put files beside its browser: "
                "Playwright sends each file's bytes over CDP instead, up to 50 MB in all. Upload smaller files, or "
                f"run on a backend with the files API ({STEEL_CLOUD.name}, {STEEL_LOCAL.name}), where any size works "
                "unchanged",
            )
        )

    def _explain_unreachable_loopback(
        self, report: pytest.TestReport, excinfo: pytest.ExceptionInfo[BaseException]
    ) -> None:
        """A remote session's page that could not load a loopback URL: its 127.0.0.1 is not this machine's."""
        found = _LOOPBACK_FAILURE.search(excinfo.exconly())
        if found is None or self.run.profile.browsers_here:
            return
        exposed = self.run.exposure_for(self.item) is not None
        if exposed and found.group("error") == "ERR_BLOCKED_BY_CLIENT":
            why = (
                f"pytest-steel refused {found.group('url')}: the document that asked is, or is inside or opened by, "
                "a page from a public origin; --steel-expose-local answers only where a local browser would let "
                "the asking document read the answer (see docs/local-app.md)"
            )
        elif not exposed:
            why = (
                f"{found.group('url')} is on this machine, but the session's browser runs on another machine: its "
                f"127.0.0.1 is not yours. Let the session reach this machine's app with --steel-expose-local on (ini "
                "steel_expose_local = on, or @pytest.mark.steel(expose_local=True)); add other host names with "
                "--steel-expose-host"
            )
        else:
            return
        report.sections.append(("Steel: a local URL from a remote browser", why))

    def _explain_lost_session(self, report: pytest.TestReport, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        """A test that failed because its session ended under it: say so, instead of a bare Playwright error."""
        module = self.item.getparent(pytest.Module)
        playwright_error = _is_playwright_error(excinfo)
        for tracked in self.run.sessions.for_node(self.item, *([module] if module else []), self.item.session):
            if not (tracked.lost_connection or playwright_error):
                continue
            state = self.run.sessions.check(tracked)
            if state is None and self.run.sessions.lost_with_backend(tracked):
                state = tracked.final
            if state is None or (state.is_live and not tracked.lost_connection):
                continue
            tracked.mark_reported()
            said = " ".join(excinfo.exconly().split())[:500]
            report.longrepr = f"SteelSessionError: {describe_end(tracked)}\n\nPlaywright said: {self.run.redact(said)}"
            report.steel_session_ended = True  # type: ignore[attr-defined]  # travels with the report under xdist
            return


_PLAYWRIGHT_UPLOAD_LIMIT = "Cannot transfer files larger than 50Mb to a browser not co-located with the server"
_LOOPBACK_FAILURE = re.compile(
    r"net::(?P<error>ERR_[A-Z_]+) at (?P<url>(?:https?|wss?)://(?:localhost|127(?:\.\d+){3}|\[::1\])[^\s'\"]*)"
)


def _is_playwright_error(excinfo: pytest.ExceptionInfo[BaseException]) -> bool:
    from playwright.sync_api import Error as PlaywrightError

    return excinfo.errisinstance(PlaywrightError)


_SCOPE_MISMATCH = re.compile(
    r"ScopeMismatch: You tried to access the (?P<scope>\w+) scoped fixture (?P<fixture>\w+) with a "
    r"(?P<wider>\w+) scoped request object"
)
_REQUESTER = re.compile(r"^(?P<where>\S+:\d+):\s+def (?P<name>\w+)\(", re.MULTILINE)
PER_TEST_FIXTURES = frozenset(
    ("steel_session", "steel_browser", "steel_context", "steel_page", "steel_new_session")
    + ("steel_async_browser", "steel_async_context", "steel_async_page", "steel_async_new_session")
)
PLAYWRIGHT_MODE_FIXTURES = frozenset(("browser", "context", "page", "new_context"))


def explain_scope_mismatch(report: pytest.TestReport, playwright_mode: bool) -> None:
    """A fixture of a wider scope that asked for a per-test Steel fixture: say which, where, and what fixes it."""
    if not (report.when == "setup" and report.failed) or "ScopeMismatch" not in str(report.longrepr):
        return
    text = str(report.longrepr)
    found = _SCOPE_MISMATCH.search(text)
    if found is None:
        return
    fixture, wider = found.group("fixture"), found.group("wider")
    if fixture not in PER_TEST_FIXTURES and not (playwright_mode and fixture in PLAYWRIGHT_MODE_FIXTURES):
        return
    stack_end = text.find("Requested fixture", found.end())
    stack = list(_REQUESTER.finditer(text, found.end(), stack_end if stack_end != -1 else len(text)))
    stack = [entry for entry in stack if entry.group("name") != fixture]  # pytest 7 lists the asked-for one too
    requester = stack[-1] if stack else None  # the stack runs from the test's fixture to the one that asked
    who = f"fixture '{requester.group('name')}' ({requester.group('where')})" if requester else "a fixture"
    if fixture in PLAYWRIGHT_MODE_FIXTURES:
        fix = (
            "run with --steel-session-scope session (ini steel_session_scope = session): pytest-playwright's "
            "browser is then session-scoped on one Steel session per process, as under pytest-playwright alone"
        )
    else:
        fix = (
            f"{fixture} is per test whatever the session scope (with --steel-session-scope session every test "
            f"gets the run's one session through it); request it from a function-scoped fixture, or sign in once "
            "with steel_login"
        )
    report.longrepr = (
        f"SteelScopeError: {who} has scope '{wider}' and asks for '{fixture}', which pytest-steel gives per test: "
        f"{fix}; or give that fixture the function scope"
    )


def status_of(report: pytest.TestReport) -> tuple[str, str, str] | None:
    """A test whose session died under it did not fail on its own: count it as an error, like a broken fixture."""
    if report.when == "call" and report.failed and getattr(report, "steel_session_ended", False):
        return "error", "E", "ERROR"
    return None


class ReportShower:
    """Where reports are shown (the controller, under xdist): progress lines, and the session beside a failure."""

    def __init__(self, config: pytest.Config, run_report: Callable[[], RunReport]) -> None:
        self.config = config
        self.run_report = run_report  # the run's report, made on first need (by the plugin layer, which owns the run)
        self.awaiting_details: dict[str, pytest.TestReport] = {}  # a failed setup or call, until its teardown

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        records = getattr(report, "steel_records", None)
        if records:  # from an xdist worker
            self.run_report().merge_records(records)
        events = getattr(report, "steel_events", None)
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if events and reporter is not None and self.config.getoption("verbose") > 0:
            for line in events:
                reporter.write_line(line)
        if report.when in ("setup", "call") and report.failed:
            self.awaiting_details[report.nodeid] = report
        elif report.when == "teardown":
            failed = self.awaiting_details.pop(report.nodeid, None) or (report if report.failed else None)
            details = getattr(report, "steel_details", "")
            if failed is not None and details:
                failed.sections.append((REPORT_SECTION, details))
