"""--steel-session-scope session: one Steel session per process for the whole run."""

from __future__ import annotations

import pytest

from ._support import Backend

# A pytest-playwright suite's common conftest: one context and page for the whole run.
SHARED_PAGE_CONFTEST = """
import pytest

@pytest.fixture(scope="session")
def context(browser):
    context = browser.new_context()
    yield context
    context.close()

@pytest.fixture(scope="session")
def page(context):
    return context.new_page()
"""

FIRST_AND_SECOND = """
def test_first_leaves_something(page):
    page.set_content("<title>shared</title>")
    page.evaluate("window.left = 'by the first test'")

def test_second_reads_it(page):
    assert page.title() == "shared"
    assert page.evaluate("window.left") == "by the first test"
"""


def test_a_session_scoped_page_override_runs_on_one_steel_session(pytester: pytest.Pytester, backend: Backend) -> None:
    pytester.makeconftest(SHARED_PAGE_CONFTEST)
    pytester.makepyfile(test_flow=FIRST_AND_SECOND)
    args = ("--steel-playwright", "-p", "playwright", "-p", "no:randomly")
    result = backend.run(pytester, *args, "--steel-session-scope", "session", beside_pytest_playwright=True)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["steel: *scope session (--steel-session-scope)*", "*1 session created: 1 released*"])
    assert backend.live_sessions() == []


def test_under_xdist_each_worker_has_one_session_for_the_run(pytester: pytest.Pytester, backend: Backend) -> None:
    pytester.makeconftest(SHARED_PAGE_CONFTEST)
    pytester.makepyfile(test_flow_a=FIRST_AND_SECOND, test_flow_b=FIRST_AND_SECOND)
    result = backend.run(
        pytester,
        "--steel-playwright",
        "-p",
        "playwright",
        "--steel-session-scope",
        "session",
        "-n",
        "2",
        "--dist",
        "loadfile",
        beside_pytest_playwright=True,
    )
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*2 sessions created: 2 released*"])


def test_without_the_option_a_clear_error_names_the_fixture_and_the_option(
    pytester: pytest.Pytester, embedded_backend: Backend
) -> None:
    pytester.makeconftest(SHARED_PAGE_CONFTEST)
    pytester.makepyfile(test_flow=FIRST_AND_SECOND)
    result = embedded_backend.run(pytester, "--steel-playwright", "-p", "playwright", beside_pytest_playwright=True)
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "SteelScopeError: fixture 'context' (conftest.py:*) has scope 'session' and asks for 'browser', which "
            "pytest-steel gives per test: run with --steel-session-scope session*"
        ]
    )
    result.stdout.no_fnmatch_line("*You tried to access the function scoped fixture*")


def test_the_steel_fixtures_and_the_async_ones_share_the_runs_session(
    pytester: pytest.Pytester, embedded_backend: Backend
) -> None:
    pytester.makepyfile(
        test_sync="""
        def test_one(steel_session, steel_page):
            steel_page.set_content("<title>one</title>")
            assert steel_page.title() == "one"

        def test_two(steel_session, steel_page):
            assert steel_page.title() == ""  # a new page per test, in the same session
        """,
        test_async="""
        import pytest

        @pytest.mark.asyncio
        async def test_three(steel_async_page):
            await steel_async_page.set_content("<title>three</title>")
            assert await steel_async_page.title() == "three"
        """,
    )
    result = embedded_backend.run(pytester, "--steel-session-scope", "session", "-p", "no:randomly", "-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*1 session created: 1 released*", "*the run (--steel-session-scope session)*"])


def test_a_run_session_whose_timeout_passes_is_replaced_and_the_test_says_why(
    pytester: pytest.Pytester, embedded_backend: Backend
) -> None:
    pytester.makepyfile(
        """
        import time

        def test_one(steel_page):
            steel_page.set_content("<title>one</title>")

        def test_two(steel_page, steel_session, steel_client):
            deadline = time.monotonic() + 30
            while steel_client.retrieve(steel_session.id).is_live and time.monotonic() < deadline:
                time.sleep(0.1)  # polls the backend: the session's end is the event waited for, bounded
            steel_page.set_content("<title>two</title>")

        def test_three(steel_page, steel_session):
            steel_page.set_content("<title>three</title>")
            assert steel_page.title() == "three"
        """
    )
    # 8 s: test_one's driver start and connect, and test_three's replacement until the run's end, fit in it
    result = embedded_backend.run(pytester, "--steel-session-scope", "session", "--steel-timeout", "8s")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*SteelSessionError: Steel session * is released (timeout) during the test*"])
    result.stdout.fnmatch_lines(["*2 sessions created*"])
