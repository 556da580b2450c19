"""Async tests: the async fixtures under pytest-asyncio, and AsyncSteelClient against a real server.

Inline suites use pytest-asyncio's strict mode (its default): the fixtures work there,
and so in auto mode too.
"""

from __future__ import annotations

import asyncio
import signal
import xml.etree.ElementTree as ET

import pytest

from pytest_steel import AsyncSteelClient, SessionStatus

from ._support import Backend, Server, run_until_ready_then_signal

ASYNC_SUITE = """
import pytest

pytestmark = pytest.mark.asyncio


async def test_page(steel_async_page, steel_session):
    await steel_async_page.goto("data:text/html,<title>async</title>")
    assert await steel_async_page.title() == "async"
    assert steel_async_page.context.browser.contexts[0] is steel_async_page.context


async def test_context_and_browser(steel_async_context, steel_async_browser):
    assert steel_async_browser.contexts[0] is steel_async_context
    page = await steel_async_context.new_page()
    await page.goto("data:text/html,<title>second</title>")
    assert [await p.title() for p in steel_async_context.pages][-1] == "second"


async def test_fails(steel_async_page):
    await steel_async_page.set_content("<h1>the async page</h1>")
    assert await steel_async_page.inner_text("h1") == "something else"
"""


def sessions_created(result: pytest.RunResult) -> int:
    for line in result.stdout.lines:
        if " sessions created: " in line or " session created: " in line:
            return int(line.split()[0])
    return 0


@pytest.mark.parametrize("scope", ["function", "module"])
def test_async_tests_get_sessions_reports_and_artifacts(
    pytester: pytest.Pytester, backend: Backend, scope: str
) -> None:
    pytester.makepyfile(test_async_suite=ASYNC_SUITE)
    junit = pytester.path / "junit.xml"
    args = ["--steel-session-scope", scope, "--steel-tracing", "retain-on-failure", f"--junitxml={junit}"]
    result = backend.run(pytester, "-p", "no:randomly", *args)
    result.assert_outcomes(passed=2, failed=1)
    assert sessions_created(result) == (3 if scope == "function" else 1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_fails _*",
            "*AssertionError*",
            "*- Steel session -*",
            "session id: *",
            "screenshot: test-results/test_async_suite.py-test_fails/test-failed-1.png",
            "trace: test-results/test_async_suite.py-test_fails/trace.zip",
        ]
    )
    folder = pytester.path / "test-results" / "test_async_suite.py-test_fails"
    assert (folder / "test-failed-1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in (pytester.path / "test-results").iterdir()) == ["test_async_suite.py-test_fails"]
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    props = {p.get("name"): p.get("value") for p in cases["test_page"].iter("property")}
    assert props["steel_session_state"].startswith("released" if scope == "function" else "live")


def test_async_tests_under_xdist(pytester: pytest.Pytester, embedded_backend: Backend) -> None:
    pytester.makepyfile(test_async_suite=ASYNC_SUITE)
    result = embedded_backend.run(pytester, "-n", "2")
    result.assert_outcomes(passed=2, failed=1)
    assert sessions_created(result) == 3
    result.stdout.fnmatch_lines(["screenshot: test-results/test_async_suite.py-test_fails/test-failed-1.png"])


def test_a_session_that_times_out_under_an_async_test_is_a_clear_error(
    pytester: pytest.Pytester, backend: Backend
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio
        @pytest.mark.steel(timeout="8s")  # the async driver's start and the connect fit in it on a loaded machine
        async def test_outlives_its_session(steel_async_page):
            if not steel_async_page.is_closed():
                await steel_async_page.wait_for_event("close", timeout=30_000)
            await steel_async_page.goto("data:text/html,<title>too late</title>")
        """
    )
    result = backend.run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["SteelSessionError: Steel session * is released (timeout) during the test: its timeout (8000 ms) passed*"]
    )


def test_sync_and_async_tests_share_a_run(pytester: pytest.Pytester, embedded_backend: Backend) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        def test_sync(steel_page):
            steel_page.goto("data:text/html,<title>sync</title>")
            assert steel_page.title() == "sync"

        @pytest.mark.asyncio
        async def test_async(steel_async_page):
            await steel_async_page.goto("data:text/html,<title>async</title>")

        def test_sync_again(steel_page):
            assert steel_page.url == "about:blank"

        @pytest.mark.asyncio
        async def test_other_coroutines_too():
            await asyncio.sleep(0)

        @pytest.mark.asyncio
        async def test_both_in_one_test(steel_async_page, steel_page):
            pass
        """
    )
    result = embedded_backend.run(pytester, "-p", "no:randomly")
    result.assert_outcomes(passed=4, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*test_both_in_one_test asks for steel_page (Playwright's sync API) and an async Steel fixture: "
            "Playwright's sync API cannot run inside the test's event loop*"
        ]
    )


def test_ctrl_c_during_an_async_test_leaves_nothing(pytester: pytest.Pytester, backend: Backend) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio
        async def test_waits(steel_async_page, steel_session):
            await steel_async_page.goto("data:text/html,<title>busy</title>")
            print("READY", steel_session.id, flush=True)
            await asyncio.sleep(120)
        """
    )
    code, session_id, output = run_until_ready_then_signal(pytester, backend, signal.SIGINT)
    assert code == pytest.ExitCode.INTERRUPTED, output
    if backend.server is not None:
        assert backend.server.get(session_id)["status"] == "released"
    # the backend fixture checks that no browser process, temp directory or live session is left


def test_the_async_client_against_a_real_server(fresh: Server) -> None:
    async def lifecycle() -> list[object]:
        async with AsyncSteelClient(fresh.url) as client:
            session = await client.create(timeout=60_000, block_ads=True)
            seen = [session.status, (await client.retrieve(session.id)).status]
            seen.append(set(await client.context(session.id)))
            seen.append([s.id for s in await client.list(status="live")] == [session.id])
            await client.release(session.id)
            seen.append((await client.retrieve(session.id)).status)
            return seen

    assert asyncio.run(lifecycle()) == [
        SessionStatus.LIVE,
        SessionStatus.LIVE,
        {"cookies", "localStorage", "sessionStorage", "indexedDB"},
        True,
        SessionStatus.RELEASED,
    ]
