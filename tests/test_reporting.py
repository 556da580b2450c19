"""Reporting: each test's session in its report (terminal, JUnit XML, pytest-html), artifacts, and the run summary."""

from __future__ import annotations

import re
import textwrap
import xml.etree.ElementTree as ET
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest

from pytest_steel._reporting.test_reports import PYTEST_HTML_WITH_TEARDOWN_EXTRAS

from ._support import Backend, installed

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

PASS_AND_FAIL = textwrap.dedent(
    """
    def test_passes(steel_page):
        steel_page.goto("data:text/html,<title>fine</title><h1>all good</h1>")
        assert steel_page.title() == "fine"

    def test_fails(steel_page):
        steel_page.goto("data:text/html,<title>broken</title><h1>something broke</h1>")
        assert steel_page.title() == "fine"
    """
)


def junit_properties(path: Path) -> dict[str, list[tuple[str, str]]]:
    """Each test case's ``<property>`` elements, by test name."""
    found: dict[str, list[tuple[str, str]]] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        found[case.get("name", "")] = [(p.get("name", ""), p.get("value", "")) for p in case.iter("property")]
    return found


def folders(output: Path) -> list[str]:
    return sorted(p.name for p in output.iterdir()) if output.exists() else []


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_each_test_reports_its_session_in_junit_and_beside_its_failure(
    pytester: pytest.Pytester, embedded_backend: Backend, workers: list[str]
) -> None:
    pytester.makepyfile(test_report_demo=PASS_AND_FAIL)
    junit = pytester.path / "junit.xml"
    result = embedded_backend.run(pytester, f"--junitxml={junit}", *workers)
    result.assert_outcomes(passed=1, failed=1)

    properties = junit_properties(junit)
    for name in ("test_passes", "test_fails"):
        props = dict(properties[name])
        assert UUID.match(props["steel_session_id"])
        assert props["steel_session_state"] == "released (user_requested)"
        assert re.fullmatch(
            rf"http://127\.0\.0\.1:\d+/sessions/{props['steel_session_id']}", props["steel_session_viewer_url"]
        )
        assert "steel_session_debug_url" not in props  # unauthenticated and interactive on Steel Cloud: only on request
    assert properties["test_fails"][-1] == (
        "steel_screenshot",
        "test-results/test_report_demo.py-test_fails/test-failed-1.png",
    )
    assert "steel_screenshot" not in dict(properties["test_passes"])

    failing_id = dict(properties["test_fails"])["steel_session_id"]
    result.stdout.fnmatch_lines(
        [
            "*_ test_fails _*",
            "E       AssertionError: assert 'broken' == 'fine'",
            "*- Steel session -*",
            f"session id: {failing_id}",
            "session state: released (user_requested)",
            f"session viewer url: http://127.0.0.1:*/sessions/{failing_id}",
            "screenshot: test-results/test_report_demo.py-test_fails/test-failed-1.png",
        ]
    )
    assert result.stdout.str().count("- Steel session -") == 1  # shown with failures only


def test_pytest_html_links_the_viewer_the_trace_and_the_screenshot(
    pytester: pytest.Pytester, embedded_backend: Backend
) -> None:
    pytester.makepyfile(test_report_demo=PASS_AND_FAIL)
    report = pytester.path / "report" / "index.html"
    result = embedded_backend.run(
        pytester, f"--html={report}", "--steel-tracing=retain-on-failure", "--steel-report-debug-url"
    )
    result.assert_outcomes(passed=1, failed=1)
    html = report.read_text().replace("&#34;", '"').replace("&quot;", '"')
    rows = dict(re.findall(r'"(test_report_demo\.py::test_\w+)": \[\{"extras": (\[.*?\]), "result"', html))
    assert set(rows) == {"test_report_demo.py::test_passes", "test_report_demo.py::test_fails"}
    if installed("pytest-html") < PYTEST_HTML_WITH_TEARDOWN_EXTRAS:  # CI's oldest: it shows none; we say so
        assert "Steel viewer" not in html
        result.stdout.fnmatch_lines(
            [f"pytest-html {version('pytest-html')} shows none of the Steel links, screenshots, traces or recordings*"]
        )
        return
    result.stdout.no_fnmatch_line("*shows none of the Steel links*")
    for row in rows.values():
        assert re.search(
            r'"name": "Steel viewer", "format_type": "url", "content": "http://127\.0\.0\.1:\d+/sessions/', row
        )
        assert '"name": "Steel debug view"' in row  # asked for with --steel-report-debug-url
    failing = rows["test_report_demo.py::test_fails"]
    trace = "../test-results/test_report_demo.py-test_fails/trace.zip"  # relative to the report
    assert f'"name": "Steel trace", "format_type": "url", "content": "{trace}"' in failing
    screenshot = re.search(
        r'"name": "test-failed-1.png", "format_type": "image", "content": "(assets/[^"]+\.png)"', failing
    )
    assert screenshot is not None
    assert (report.parent / screenshot.group(1)).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # embedded by pytest-html
    assert "Steel trace" not in rows["test_report_demo.py::test_passes"]


def test_default_modes_keep_a_screenshot_of_a_failing_test_and_nothing_of_a_passing_one(
    pytester: pytest.Pytester, embedded_backend: Backend
) -> None:
    pytester.makepyfile(test_report_demo=PASS_AND_FAIL)
    output = pytester.path / "test-results"
    result = embedded_backend.run(pytester)
    result.assert_outcomes(passed=1, failed=1)
    assert folders(output) == ["test_report_demo.py-test_fails"]
    assert folders(output / "test_report_demo.py-test_fails") == ["test-failed-1.png"]
    result.stdout.fnmatch_lines(
        [
            "steel: screenshot only-on-failure (default), tracing off (default), recording off (default), "
            "downloads retain-on-failure (default), output test-results (default)"
        ]
    )


def test_traces_are_retained_on_failure_including_setup_and_teardown_failures(
    pytester: pytest.Pytester, embedded_backend: Backend
) -> None:
    pytester.makepyfile(
        test_report_demo=PASS_AND_FAIL
        + """
import pytest

@pytest.fixture
def logged_in(steel_page):
    steel_page.goto("data:text/html,<title>logged in</title>")
    yield steel_page
    raise RuntimeError("logging out failed")

@pytest.fixture
def broken_setup(steel_page):
    steel_page.goto("data:text/html,<title>half set up</title>")
    raise RuntimeError("setting up failed")

def test_teardown_fails(logged_in):
    pass

def test_setup_fails(broken_setup):
    pass
"""
    )
    output = pytester.path / "test-results"
    (output / "unrelated-test").mkdir(parents=True)
    (output / "unrelated-test" / "keep.txt").write_text("from an earlier run")
    (output / "test_report_demo.py-test_passes").mkdir()
    (output / "test_report_demo.py-test_passes" / "test-failed-1.png").write_text("stale: the test ran again")

    result = embedded_backend.run(pytester, "--steel-tracing", "retain-on-failure", "-p", "no:randomly")
    result.assert_outcomes(passed=2, failed=1, errors=2)

    assert folders(output) == [
        "test_report_demo.py-test_fails",
        "test_report_demo.py-test_setup_fails",
        "test_report_demo.py-test_teardown_fails",
        "unrelated-test",  # not wiped: only the folders of tests that ran again are replaced
    ]
    assert (output / "unrelated-test" / "keep.txt").read_text() == "from an earlier run"
    for test in ("test_fails", "test_setup_fails", "test_teardown_fails"):
        folder = output / f"test_report_demo.py-{test}"
        assert folders(folder) == ["test-failed-1.png", "trace.zip"]
        with zipfile.ZipFile(folder / "trace.zip") as trace:
            assert "trace.trace" in trace.namelist()
            assert test.encode() in trace.read("trace.trace")  # the chunk is titled with the test's node id
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_teardown_fails _*",
            "*RuntimeError: logging out failed",
            "*- Steel session -*",
            "session id: *",
            "screenshot: test-results/test_report_demo.py-test_teardown_fails/test-failed-1.png",
            "trace: test-results/test_report_demo.py-test_teardown_fails/trace.zip",
            "  (open it with: playwright show-trace test-results/test_report_demo.py-test_teardown_fails/trace.zip)",
        ]
    )


def test_the_marker_overrides_the_artifact_options_for_one_test(
    pytester: pytest.Pytester, embedded_backend: Backend
) -> None:
    pytester.makepyfile(
        test_marked="""
        import pytest

        @pytest.mark.steel(screenshot="on", tracing="on")
        def test_passes_with_everything(steel_page):
            steel_page.goto("data:text/html,<title>kept anyway</title>")

        @pytest.mark.steel(screenshot="off")
        def test_fails_without_a_screenshot(steel_page):
            assert False

        @pytest.mark.steel(screenshot="sometimes")
        def test_bad_mode(steel_page):
            pass
        """
    )
    output = pytester.path / "test-results"
    result = embedded_backend.run(pytester, "--steel-session-scope", "module")  # per test, even on a shared session
    result.assert_outcomes(passed=1, failed=1, errors=1)
    assert folders(output) == ["test_marked.py-test_passes_with_everything"]
    assert folders(output / "test_marked.py-test_passes_with_everything") == ["test-finished-1.png", "trace.zip"]
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at setup of test_bad_mode _*",
            "SteelError: @pytest.mark.steel(screenshot='sometimes') on test_marked.py::test_bad_mode: "
            "use 'off', 'on', 'only-on-failure'",
        ]
    )


def test_each_attempt_of_a_rerun_test_keeps_its_own_folder(
    pytester: pytest.Pytester, embedded_backend: Backend
) -> None:
    pytester.makepyfile(
        test_flaky="""
        def test_flaky(steel_page):
            steel_page.goto("data:text/html,<title>flaky</title>")
            assert False
        """
    )
    output = pytester.path / "test-results"
    result = embedded_backend.run(pytester, "-p", "rerunfailures", "--reruns", "1")
    assert result.parseoutcomes() == {"failed": 1, "rerun": 1}
    assert folders(output) == ["test_flaky.py-test_flaky", "test_flaky.py-test_flaky-retry1"]
    assert folders(output / "test_flaky.py-test_flaky-retry1") == ["test-failed-1.png"]


SUMMARY_SUITE = """
    import pytest

    def test_passes(steel_page):
        steel_page.goto("data:text/html,<title>fine</title>")

    def test_fails(steel_session):
        assert False

    def test_leaks(steel_client):
        steel_client.create(timeout=60_000)

    # 8 s: on a loaded CI machine a worker's first driver start and connect have taken most of 3 s.
    @pytest.mark.steel(timeout="8s")
    def test_outlived_by_its_test(steel_page):
        if not steel_page.is_closed():
            steel_page.wait_for_event("close", timeout=30_000)  # the server ends the session after 8 s
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_the_summary_counts_sessions_by_how_they_ended_and_what_they_cost(
    pytester: pytest.Pytester, backend: Backend, workers: list[str]
) -> None:
    pytester.makepyfile(test_summary=SUMMARY_SUITE)
    result = backend.run(pytester, *workers)
    result.assert_outcomes(passed=3, failed=1, errors=1)  # the timed-out test passed, then errored at teardown
    result.stdout.fnmatch_lines(
        [
            "*= pytest-steel =*",
            "4 sessions created: 2 released, 1 released by timeout, 1 released by the safety net",
            "session time *; billed 4 min (each session's time rounded up to whole minutes)",
            "slowest creations: *s (test_summary.py::test_*), *s (test_summary.py::test_*), *s (*)",
            "released session *, which test_summary.py::test_leaks created and left live",
        ]
    )


def test_the_summary_is_one_line_with_q_and_lists_every_session_with_v(
    pytester: pytest.Pytester, embedded_backend: Backend
) -> None:
    pytester.makepyfile(
        test_summary="""
        def test_passes(steel_page):
            steel_page.goto("data:text/html,<title>fine</title>")

        def test_leaks(steel_client):
            steel_client.create(timeout=60_000)
        """
    )
    quiet = embedded_backend.run(pytester, "-q")
    quiet.assert_outcomes(passed=2)
    summary = quiet.outlines[
        quiet.outlines.index(next(line for line in quiet.outlines if "= pytest-steel =" in line)) + 1
    ]
    assert re.fullmatch(r"2 sessions \(1 released, 1 released by the safety net\), [\d.]+ m?s, billed 2 min", summary)
    assert "steel: created session" not in quiet.stdout.str()

    verbose = embedded_backend.run(pytester, "-v", "-p", "no:randomly")
    verbose.assert_outcomes(passed=2)
    verbose.stdout.fnmatch_lines(
        [
            "steel: created session * for test_summary.py::test_passes in *s",  # as it happens
            "test_summary.py::test_passes PASSED*",
            "steel: session * released after *s",
            "steel: created session * for test_summary.py::test_leaks in *s",
            "*= pytest-steel =*",
            "2 sessions created: 1 released, 1 released by the safety net",
            "session time *",
            "sessions, slowest creation first:",
            "  *  create *s, released* after *s  test_summary.py::test_*",
            "  *  create *s, released* after *s  test_summary.py::test_*",
        ]
    )


def test_beside_pytest_playwright_artifacts_go_where_it_does_not_wipe(
    pytester: pytest.Pytester, embedded_backend: Backend
) -> None:
    pytester.makepyfile(test_report_demo=PASS_AND_FAIL)
    result = embedded_backend.run(pytester, beside_pytest_playwright=True)  # it empties test-results at start
    result.assert_outcomes(passed=1, failed=1)
    assert folders(pytester.path / "test-results-steel") == ["test_report_demo.py-test_fails"]
    result.stdout.fnmatch_lines(
        ["steel: screenshot *, output test-results-steel (default; pytest-playwright empties test-results)"]
    )
    explicit = embedded_backend.run(pytester, "--steel-output", "test-results", beside_pytest_playwright=True)
    explicit.assert_outcomes(passed=1, failed=1)
    assert folders(pytester.path / "test-results") == ["test_report_demo.py-test_fails"]


def test_a_run_without_sessions_prints_no_summary(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain(): pass")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    assert "pytest-steel" not in result.stdout.str()


def test_a_passing_test_takes_no_screenshot_unless_a_later_fixture_could_still_fail_it(
    pytester: pytest.Pytester, embedded_backend: Backend
) -> None:
    """A screenshot costs ~90 ms: one is held only for a later fixture with teardown code, not for parametrize."""
    pytester.makeconftest(
        """
        import pytest
        from playwright.sync_api import Page

        taken = []
        original = Page.screenshot

        def counting(self, *args, **kwargs):
            taken.append(1)
            return original(self, *args, **kwargs)

        Page.screenshot = counting

        @pytest.fixture
        def tears_down():
            yield
            # may still fail after the page's teardown: the page's screenshot is held for it

        @pytest.fixture
        def plain():
            return 1

        def pytest_sessionfinish(session):
            print(f"\\nscreenshots taken: {len(taken)}")
        """
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("n", range(3))
        def test_parametrized(steel_page, n, plain):
            pass

        def test_with_a_later_fixture(steel_page, tears_down):
            pass
        """
    )
    result = embedded_backend.run(pytester, "-s")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["screenshots taken: 1"])
    assert not (pytester.path / "test-results").exists()
