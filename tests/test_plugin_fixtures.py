"""The plugin end to end: inline projects run by pytester in a subprocess, on real servers and real Chromium.

Every test here runs twice: on the embedded server the plugin starts itself, and
on a standalone steel-local given by --steel-base-url, which must list no live
session once the run is over.
"""

from __future__ import annotations

import json

import pytest

from ._support import Backend

PAGE = "data:text/html,<title>Hello Steel</title><h1>hi</h1>"


def test_steel_page_is_a_connected_page_in_a_live_session(pytester: pytest.Pytester, backend: Backend) -> None:
    pytester.makepyfile(
        f"""
        from pytest_steel import Session, SessionStatus, SteelClient

        def test_page(steel_page, steel_context, steel_browser, steel_session, steel_client):
            assert isinstance(steel_client, SteelClient)
            assert isinstance(steel_session, Session)
            assert steel_session.status is SessionStatus.LIVE
            assert steel_client.retrieve(steel_session.id).status is SessionStatus.LIVE
            assert steel_browser.is_connected()
            assert steel_context is steel_browser.contexts[0]
            assert steel_page is steel_context.pages[0]
            steel_page.goto({PAGE!r})
            assert steel_page.title() == "Hello Steel"

        def test_each_test_gets_its_own_session(steel_session, steel_client):
            others = [s.id for s in steel_client.list(status="live")]
            assert others == [steel_session.id]
        """
    )
    result = backend.run(pytester)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["steel: *(default)*" if backend.name == "embedded" else "steel: Steel-compatible*"])


def test_sessions_are_released_at_teardown_whatever_the_outcome(pytester: pytest.Pytester, backend: Backend) -> None:
    ids = pytester.path / "ids.txt"
    pytester.makepyfile(
        f"""
        import pytest

        def record(session):
            with open({str(ids)!r}, "a") as f:
                f.write(session.id + "\\n")

        def test_passes(steel_session):
            record(steel_session)

        def test_fails(steel_session):
            record(steel_session)
            assert False, "the test's own failure"

        @pytest.mark.xfail(strict=True)
        def test_xfails(steel_session):
            record(steel_session)
            raise RuntimeError("expected")

        def test_checks_the_others_are_released(steel_client):
            import time
            recorded = open({str(ids)!r}).read().split()
            assert len(recorded) == 3
            assert [steel_client.retrieve(i).status.value for i in recorded] == ["released"] * 3
        """
    )
    result = backend.run(pytester, "-p", "no:randomly")
    result.assert_outcomes(passed=2, failed=1, xfailed=1)
    result.stdout.fnmatch_lines(["*AssertionError: the test's own failure*"])


def test_module_scope_shares_one_session_per_module(pytester: pytest.Pytester, backend: Backend) -> None:
    ids = pytester.path / "ids.jsonl"
    recorder = f"""
        import json

        def record(test, session, page):
            with open({str(ids)!r}, "a") as f:
                f.write(json.dumps([__name__, test, session.id, id(page)]) + "\\n")

        def test_one(steel_session, steel_page):
            record("one", steel_session, steel_page)
            steel_page.goto("data:text/html,<title>one</title>")

        def test_two(steel_session, steel_page, steel_module_session):
            assert steel_module_session.id == steel_session.id
            record("two", steel_session, steel_page)
            assert steel_page.url == "about:blank"  # a new page per test
            assert len(steel_page.context.pages) == 2  # the session's own page, and this one
        """
    pytester.makepyfile(test_first=recorder, test_second=recorder)
    result = backend.run(pytester, "--steel-session-scope", "module")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["steel: *scope module (--steel-session-scope)*"])
    rows = [json.loads(line) for line in ids.read_text().splitlines()]
    by_module = {}
    for module, _, session_id, _ in rows:
        by_module.setdefault(module, set()).add(session_id)
    assert sorted(len(v) for v in by_module.values()) == [1, 1]
    assert by_module["test_first"] != by_module["test_second"]


def test_steel_module_session_is_per_module_in_function_scope(pytester: pytest.Pytester, backend: Backend) -> None:
    pytester.makepyfile(
        """
        seen = {}

        def test_one(steel_module_session, steel_session):
            seen["module"] = steel_module_session.id
            seen["first"] = steel_session.id
            assert steel_session.id != steel_module_session.id

        def test_two(steel_module_session, steel_session, steel_client):
            assert steel_module_session.id == seen["module"]
            assert steel_session.id != seen["first"]
            assert steel_client.retrieve(seen["first"]).status.value == "released"
        """
    )
    backend.run(pytester).assert_outcomes(passed=2)


def test_marker_params_and_hooks(pytester: pytest.Pytester, backend: Backend) -> None:
    events = pytester.path / "events.jsonl"
    pytester.makeconftest(
        f"""
        import json
        import pytest

        def write(*row):
            with open({str(events)!r}, "a") as f:
                f.write(json.dumps(row) + "\\n")

        @pytest.fixture(scope="session")
        def steel_session_params(steel_session_params):
            return {{**steel_session_params, "timeout": "90s", "dimensions": {{"width": 800, "height": 600}}}}

        def pytest_steel_session_params(params, node, config):
            write("params", node.name, params["timeout"], params["dimensions"]["width"])
            if node.name == "test_hook_adjusts":
                params["dimensions"] = {{"width": 640, "height": 480}}

        def pytest_steel_session_created(session, node, config):
            write("created", node.name, session.id, session.status.value)

        def pytest_steel_session_ended(session, node, config):
            write("ended", node.name, session.id, session.status.value)
        """
    )
    pytester.makepyfile(test_params_only="def test_params(steel_session): assert steel_session.timeout == 90_000")
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.steel(timeout="2m")

        def test_module_marker(steel_session):
            assert steel_session.timeout == 120_000
            assert steel_session.dimensions == {"width": 800, "height": 600}

        @pytest.mark.steel(timeout=45_000)
        def test_closest_marker_wins(steel_session):
            assert steel_session.timeout == 45_000

        def test_hook_adjusts(steel_session, steel_page):
            assert steel_session.dimensions == {"width": 640, "height": 480}
            assert steel_page.evaluate("innerWidth") == 640

        @pytest.mark.steel(timeout="forever")
        def test_bad_marker(steel_session):
            pass
        """
    )
    result = backend.run(pytester, "-p", "no:randomly", "test_marker_params_and_hooks.py", "test_params_only.py")
    result.assert_outcomes(passed=4, errors=1)
    result.stdout.fnmatch_lines(
        ["*SteelError: @pytest.mark.steel(timeout=...): 'forever' is not a valid session timeout; give a positive*"]
    )
    rows = [json.loads(line) for line in events.read_text().splitlines()]
    tests = ["test_module_marker", "test_closest_marker_wins", "test_hook_adjusts", "test_params"]
    assert [r[1] for r in rows if r[0] == "params"] == tests
    assert [r[2] for r in rows if r[0] == "params"] == [120_000, 45_000, 120_000, 90_000]
    created = [r for r in rows if r[0] == "created"]
    ended = [r for r in rows if r[0] == "ended"]
    assert [r[1] for r in created] == [r[1] for r in ended] == tests
    assert [r[2] for r in created] == [r[2] for r in ended]
    assert {r[3] for r in created} == {"live"} and {r[3] for r in ended} == {"released"}


def test_a_crashed_browser_is_a_clear_error_and_a_module_session_is_replaced(
    pytester: pytest.Pytester, backend: Backend
) -> None:
    pytester.makepyfile(
        test_crash="""
        import os
        import signal

        seen = []

        def kill_browser(browser):
            cdp = browser.new_browser_cdp_session()
            info = cdp.send("SystemInfo.getProcessInfo")
            os.kill(next(p["id"] for p in info["processInfo"] if p["type"] == "browser"), signal.SIGKILL)

        def test_crashes(steel_browser, steel_page, steel_session):
            seen.append(steel_session.id)
            kill_browser(steel_browser)
            steel_page.goto("data:text/html,<title>never</title>")

        def test_next_test_gets_a_fresh_session(steel_page, steel_session, steel_client):
            assert steel_session.id != seen[0]
            assert steel_client.retrieve(seen[0]).status.value == "failed"
            steel_page.goto("data:text/html,<title>fine</title>")
            assert steel_page.title() == "fine"
        """
    )
    for scope in ("function", "module"):
        result = backend.run(pytester, "-p", "no:randomly", "--steel-session-scope", scope)
        result.assert_outcomes(passed=1, errors=1)  # an error, as for a broken fixture: the test did not fail
        result.stdout.fnmatch_lines(
            [
                "*_ ERROR at call of test_crashes _*",
                "SteelSessionError: Steel session * is failed (browser_crashed) during the test: its browser crashed",
                "",
                "Playwright said: *TargetClosedError: *",
                "*short test summary info*",
                "ERROR test_crash.py::test_crashes*",  # pytest 8 adds the message; 7 does not, for a text report
            ]
        )


def test_a_leaked_session_is_released_by_the_safety_net(pytester: pytest.Pytester, backend: Backend) -> None:
    pytester.makepyfile(
        """
        import httpx
        from pytest_steel import SteelClient

        def test_leaks_through_the_fixture_client(steel_client):
            steel_client.create(timeout=60_000)

        def test_leaks_past_the_plugin(steel_client):
            # a session the plugin never hears of: only release-all can catch it
            with SteelClient(steel_client.base_url, api_key=steel_client._api_key) as other:
                other.create(timeout=60_000)
        """
    )
    result = backend.run(pytester, "--steel-release-all")  # the other client's session: Steel's release-all
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*= pytest-steel =*",
            "released session *, which test_a_leaked_session_is_released_by_the_safety_net.py::"
            "test_leaks_through_the_fixture_client created and left live",
            "release-all released 1 live session: *",
        ]
    )


def test_a_session_whose_timeout_passes_during_the_test_is_a_clear_error(
    pytester: pytest.Pytester, backend: Backend
) -> None:
    pytester.makepyfile(
        """
        import pytest

        # 8 s: on a loaded CI machine a session's setup alone has taken most of 3 s.
        @pytest.mark.steel(timeout="8s")
        def test_outlives_its_session(steel_page):
            if not steel_page.is_closed():
                steel_page.wait_for_event("close", timeout=30_000)  # the server ends the session after 8 s
            steel_page.goto("data:text/html,<title>too late</title>")

        @pytest.mark.steel(timeout="8s")
        def test_passes_but_its_session_timed_out(steel_page):
            if not steel_page.is_closed():
                steel_page.wait_for_event("close", timeout=30_000)
        """
    )
    result = backend.run(pytester, "-p", "no:randomly")
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at call of test_outlives_its_session _*",
            "SteelSessionError: Steel session * is released (timeout) during the test: its timeout (8000 ms) passed; "
            "raise it with --steel-timeout or @pytest.mark.steel(timeout=...)",
            "*_ ERROR at teardown of test_passes_but_its_session_timed_out _*",
            "SteelSessionError: Steel session * is released (timeout) during the test: its timeout (8000 ms) passed*",
        ]
    )


def test_a_test_marker_cannot_change_a_shared_module_session(pytester: pytest.Pytester, backend: Backend) -> None:
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.steel(timeout="3m")

        def test_module_marker_applies(steel_session):
            assert steel_session.timeout == 180_000

        @pytest.mark.steel(timeout="1m")
        def test_own_marker(steel_session):
            pass

        @pytest.mark.steel(timeout="1m")
        def test_own_marker_on_a_module_session(steel_module_session):
            pass

        @pytest.mark.steel(timeout="1m")
        @pytest.mark.asyncio
        async def test_own_marker_on_an_async_page_beside_a_module_session(steel_module_session, steel_async_page):
            assert steel_module_session.timeout == 180_000
        """
    )
    result = backend.run(pytester, "--steel-session-scope", "module", "-p", "no:randomly")
    result.assert_outcomes(passed=1, errors=3)
    result.stdout.fnmatch_lines(
        [
            "*@pytest.mark.steel on test_a_test_marker_cannot_change_a_shared_module_session.py::test_own_marker "
            "cannot change a per-module session shared with other tests; mark the module instead "
            "(pytestmark = pytest.mark.steel(...)), or use a per-test session"
        ]
    )
    result = backend.run(pytester, "-p", "no:randomly", "-k", "not module_marker_applies")
    # per-test scope: the marker still configures steel_session, and the async page's session too
    result.assert_outcomes(passed=2, errors=1)


OWN_LOOP_CONFTEST = """
import asyncio, threading
import pytest
from aiohttp import web

async def index(request):
    return web.Response(content_type="text/html", text="<title>the app</title>")

@pytest.fixture(scope="session")
def app():
    # Set up and torn down with run_until_complete on the main thread, served from a thread between.
    loop = asyncio.new_event_loop()
    application = web.Application()
    application.add_routes([web.get("/", index)])
    runner = web.AppRunner(application)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.run_until_complete(runner.cleanup())
    loop.close()
    print("the app's loop ran again at teardown")
"""


def test_a_session_fixture_that_runs_its_own_loop_comes_before_playwright(
    pytester: pytest.Pytester, embedded_backend: Backend
) -> None:
    """Playwright's sync driver marks the thread's loop running: it starts at a test's first connection.

    pytest 9.2 sets a plugin's session fixtures up before the conftest's; ``steel_page``
    named first asks for that order on any pytest. The driver must still start after
    ``app``, and stop before ``app`` is torn down, beside pytest-playwright (whose driver
    the plugin borrows) or alone.
    """
    pytester.makeconftest(OWN_LOOP_CONFTEST)
    pytester.makepyfile(
        """
        def test_page_named_first(steel_page, app):
            steel_page.goto(app + "/")
            assert steel_page.title() == "the app"

        def test_app_named_first(app, steel_page):
            steel_page.goto(app + "/")
            assert steel_page.title() == "the app"
        """
    )
    for beside in (False, True):
        result = embedded_backend.run(pytester, "-s", "-p", "no:randomly", beside_pytest_playwright=beside)
        result.assert_outcomes(passed=2)  # and no error, at set-up or teardown
        result.stdout.fnmatch_lines(["*the app's loop ran again at teardown*"])
        result.stdout.no_fnmatch_line("*another loop is running*")
