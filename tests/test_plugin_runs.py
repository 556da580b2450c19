"""Whole runs: xdist, Ctrl-C and SIGKILL, the release-all switch, failed releases, secrets, one-session servers."""

from __future__ import annotations

import signal
import zipfile
from collections.abc import Iterator

import pytest

from ._steel_browser import SteelBrowserStandIn
from ._support import (
    RUN_BOUND,
    Backend,
    ProxiedServer,
    StartServer,
    live_processes_mentioning,
    run_until_ready_then_signal,
    wait_until_gone,
)


def test_xdist_workers_share_one_embedded_server_and_leave_nothing(pytester: pytest.Pytester, backend: Backend) -> None:
    urls = pytester.path / "urls.txt"
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.parametrize("n", range(6))
        def test_page(steel_page, steel_client, n):
            steel_page.goto("data:text/html,<title>page %d</title>" % n)
            assert steel_page.title() == "page %d" % n
            with open({str(urls)!r}, "a") as f:
                f.write(steel_client.base_url + "\\n")

        def test_leaks(steel_client):
            steel_client.create(timeout=60_000)

        def test_leaks_past_the_plugin(steel_client):
            from pytest_steel import SteelClient
            SteelClient(steel_client.base_url, api_key=steel_client._api_key).create(timeout=60_000)
        """
    )
    result = backend.run(pytester, "-n", "2", "--steel-release-all")  # Steel's release-all, asked for
    result.assert_outcomes(passed=8)
    assert len(set(urls.read_text().split())) == 1
    result.stdout.fnmatch_lines(
        [
            "*= pytest-steel =*",
            "released session *, which *::test_leaks created and left live",
            "release-all released 1 live session: *",  # on the controller, once the workers are done
        ]
    )
    assert result.stdout.str().count("release-all released") == 1


def test_release_all_can_be_turned_off(pytester: pytest.Pytester, start_server: StartServer) -> None:
    server = start_server()
    pytester.makepyfile(
        """
        from pytest_steel import SteelClient

        def test_leaks_past_the_plugin(steel_client):
            SteelClient(steel_client.base_url, api_key=steel_client._api_key).create(timeout=60_000)
        """
    )
    result = pytester.runpytest_subprocess("--steel-base-url", server.url, "--no-steel-release-all")
    result.assert_outcomes(passed=1)
    assert "release-all released" not in result.stdout.str()
    result.stdout.fnmatch_lines(["steel: *release-all off (--no-steel-release-all)*"])
    live = server.http.get("/v1/sessions", params={"status": "live"}).json()["sessions"]
    assert len(live) == 1
    pytester.makeini("[pytest]\nsteel_release_all = false\n")
    result = pytester.runpytest_subprocess("--steel-base-url", server.url)
    assert len(server.http.get("/v1/sessions", params={"status": "live"}).json()["sessions"]) == 2
    result = pytester.runpytest_subprocess("--steel-base-url", server.url, "--steel-release-all")
    result.stdout.fnmatch_lines(["release-all released 3 live sessions: *"])
    assert server.http.get("/v1/sessions", params={"status": "live"}).json()["sessions"] == []


@pytest.fixture
def interruptible(pytester: pytest.Pytester) -> Iterator[None]:
    pytester.makepyfile(
        """
        import time

        def test_waits(steel_page, steel_session):
            steel_page.goto("data:text/html,<title>busy</title>")
            print("READY", steel_session.id, flush=True)
            time.sleep(RUN_BOUND)
        """.replace("RUN_BOUND", str(RUN_BOUND))
    )
    yield


def test_ctrl_c_during_a_test_leaves_no_browser_and_no_live_session(
    pytester: pytest.Pytester, backend: Backend, interruptible: None
) -> None:
    code, session_id, output = run_until_ready_then_signal(pytester, backend, signal.SIGINT)
    assert code == pytest.ExitCode.INTERRUPTED, output
    assert "KeyboardInterrupt" in output
    if backend.server is not None:
        assert backend.server.get(session_id)["status"] == "released"
    # the backend fixture checks that no browser process, temp directory or live session is left


def test_sigkill_of_pytest_leaves_no_browser_on_the_embedded_server(
    pytester: pytest.Pytester, embedded_backend: Backend, interruptible: None
) -> None:
    """(A killed run cannot release a remote server's sessions: their timeout does.)"""
    backend = embedded_backend
    pytester.makeini("[pytest]\naddopts = -p no:playwright\n")  # pytest-steel's own driver, in its own TMPDIR
    code, _, output = run_until_ready_then_signal(pytester, backend, signal.SIGKILL)
    assert code == -signal.SIGKILL, output
    assert wait_until_gone(live_processes_mentioning(str(backend.tmpdir)), timeout=30) == []
    # A killed process removes nothing: the temp folder pytest-steel gives Playwright's driver stays, with the
    # driver's artifacts folder in it (removed on any exit but SIGKILL) and nothing else.
    [killed_run] = backend.tmpdir.glob("pytest-steel-playwright-*")
    assert {p.name.split("-")[0] for p in killed_run.iterdir()} <= {"playwright"}
    # The next run's driver removes the folders of runs whose process is gone, and its own at its end.
    pytester.makepyfile(test_next_run="def test_next_run(steel_page):\n    steel_page.goto('data:text/html,x')\n")
    result = pytester.runpytest_subprocess("test_next_run.py", "-p", "no:cacheprovider", *backend.args)
    result.assert_outcomes(passed=1)
    assert list(backend.tmpdir.glob("pytest-steel-playwright-*")) == []


def test_a_failed_release_of_a_live_session_is_a_teardown_error(
    pytester: pytest.Pytester, proxied_server: ProxiedServer
) -> None:
    server, proxy = proxied_server
    proxy.fail_paths = {"/release": "500"}
    pytester.makepyfile(
        """
        def test_fails_on_its_own(steel_session):
            assert 1 == 2
        """
    )
    result = pytester.runpytest_subprocess(
        "--steel-base-url", proxy.url, "--no-steel-release-all", "--junitxml", "junit.xml"
    )
    result.assert_outcomes(failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "SteelError: could not release Steel session *; it may still be live, and metering, until its timeout: "
            f"POST /v1/sessions/*/release on {proxy.url} failed (500). The server said: injected fault",
            "*assert 1 == 2*",
            "session state: could not be released: it may be live, and metering, until its timeout",
            "*= pytest-steel =*",
            "1 session created: 1 could not be released",
            "session time *; billed 1 min (each session's time rounded up to whole minutes)",
            "1 could not be released and may go on metering until their timeout (up to 4 min more): "
            "check the backend's dashboard",
            "*",
            "session * created by *::test_fails_on_its_own could not be released: *",
        ]
    )
    junit = (pytester.path / "junit.xml").read_text()
    assert 'value="could not be released: it may be live, and metering, until its timeout"' in junit
    assert "left live" not in junit
    assert len(server.http.get("/v1/sessions", params={"status": "live"}).json()["sessions"]) == 1
    server.http.post("/v1/sessions/release")


def test_the_api_key_appears_nowhere(pytester: pytest.Pytester, start_server: StartServer) -> None:
    """The whole reporting path: terminal, JUnit XML, pytest-html and its assets, artifacts, exception text."""
    secret = "sk-steel-SECRET-4242-do-not-print"
    server = start_server(api_key=secret)
    pytester.makepyfile(
        """
        def test_fails_with_locals_in_view(steel_page, steel_client, steel_session):
            url = steel_client.cdp_url(steel_session)
            key = steel_client._api_key
            print(repr(steel_client), repr(url), repr(key))
            steel_page.goto("data:text/html,<title>t</title>")
            assert url == "something else"

        def test_raises_with_the_url_in_its_message(steel_page, steel_client, steel_session):
            steel_page.goto("data:text/html,<title>t</title>")
            raise RuntimeError(f"could not use {steel_client.cdp_url(steel_session)}")
        """
    )
    junit = pytester.path / "junit.xml"
    html = pytester.path / "html" / "report.html"
    result = pytester.runpytest_subprocess(
        *("--steel-base-url", server.url, "--steel-api-key", secret, "-l", "-rA", "-vv"),
        *(f"--junitxml={junit}", f"--html={html}", "--steel-screenshot=on", "--steel-tracing=on"),
        "--steel-report-debug-url",
    )
    result.assert_outcomes(failed=2)
    shown = result.stdout.str() + result.stderr.str()
    assert "SteelClient(base_url=" in shown and "api_key=***" in shown
    assert "RuntimeError: could not use ws://" in shown and "apiKey=***" in shown
    written = [
        p
        for p in pytester.path.rglob("*")
        if p.is_file() and p.suffix in (".xml", ".html", ".png", ".zip", ".css", ".js", ".json")
    ]
    assert {junit, html} <= set(written) and any(p.name == "trace.zip" for p in written)
    for path in written:
        contents = [path.read_bytes()]
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                contents += [archive.read(name) for name in archive.namelist()]
        assert all(secret.encode() not in content for content in contents), path
    assert secret not in shown
    result.stdout.fnmatch_lines(["steel: *api key set (--steel-api-key)*", "steel: created session * in *"])


def test_a_one_session_server_is_detected_and_sessions_are_serialised(
    pytester: pytest.Pytester, stand_in: SteelBrowserStandIn
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("n", range(6))
        def test_holds_its_session(steel_session, steel_client, n):
            assert steel_client.retrieve(steel_session.id).status.value == "live"
        """
    )
    result = pytester.runpytest_subprocess("--steel-base-url", stand_in.url, "-n", "2")
    result.assert_outcomes(passed=6)
    assert (stand_in.creates, stand_in.replaced) == (6, [])

    pytester.makepyfile(
        test_two_at_once="""
        def test_needs_two(steel_module_session, steel_session):
            pass
        """
    )
    result = pytester.runpytest_subprocess("--steel-base-url", stand_in.url, "test_two_at_once.py")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "SteelError: test_two_at_once.py::test_needs_two needs a session, but the server runs at most 1 at "
            "once (detected: a steel-browser server runs one session at a time) and every slot is held by this "
            "process (live: *). Use one session per test, or raise --steel-max-sessions if the server allows more."
        ]
    )
    assert stand_in.replaced == []


def test_a_failed_release_of_an_ended_session_is_a_warning(
    pytester: pytest.Pytester, proxied_server: ProxiedServer
) -> None:
    """The release reaches the server but its answer is lost: the session is over, so a warning is enough."""
    server, proxy = proxied_server
    proxy.fail_paths = {"/release": "drop"}
    pytester.makepyfile("def test_passes(steel_session): pass")
    result = pytester.runpytest_subprocess("--steel-base-url", proxy.url, "--no-steel-release-all", "-W", "default")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*SteelReleaseWarning: releasing Steel session * failed, but it is released (user_requested): "
            f"the connection to the Steel API at {proxy.url} failed during POST /v1/sessions/*/release*"
        ]
    )
    assert server.http.get("/v1/sessions", params={"status": "live"}).json()["sessions"] == []


def test_the_embedded_server_admits_no_local_process_without_the_runs_key(
    pytester: pytest.Pytester, embedded_backend: Backend
) -> None:
    """The plugin starts its server with a fresh key per run: another local process can neither list,
    read nor release a running suite's sessions, nor drive their browsers through the relay."""
    pytester.makepyfile(
        """
        import httpx
        import pytest
        from playwright.sync_api import Error

        def test_a_stranger_is_turned_away(steel_page, steel_session, steel_client, steel_browser):
            stranger = httpx.Client(base_url=steel_client.base_url, timeout=10)
            for method, path in [
                ("GET", "/v1/sessions"),
                ("GET", f"/v1/sessions/{steel_session.id}"),
                ("POST", f"/v1/sessions/{steel_session.id}/release"),
                ("POST", "/v1/sessions/release"),
            ]:
                assert stranger.request(method, path).status_code == 401, (method, path)
            with pytest.raises(Error):
                steel_browser.browser_type.connect_over_cdp(steel_session.websocket_url, timeout=10_000)
            assert steel_client.retrieve(steel_session.id).is_live
            steel_page.goto("data:text/html,<title>still mine</title>")
            assert steel_page.title() == "still mine"
        """
    )
    result = embedded_backend.run(pytester)
    result.assert_outcomes(passed=1)
