"""Faults injected for real into whole pytest runs: a slow or lost create, a backend that dies, one that comes back.

Each scenario runs pytest in a subprocess against a real steel-local, either through a
loopback ``FaultProxy`` that delays or fails requests, or by killing the server's
process from inside the inner test, and checks what the user sees and that nothing
is left live.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import subprocess
import sys
import threading
import time

import psutil
import pytest

from ._steel_browser import SteelBrowserStandIn
from ._support import RUN_BOUND, Backend, ProxiedServer, StartServer, wait_until_gone

pytestmark = pytest.mark.timeout(RUN_BOUND * 2)

PAGES = """
import pytest

@pytest.mark.parametrize("n", range(3))
def test_page(steel_page, n):
    steel_page.goto("data:text/html,<title>%d</title>" % n)
    assert steel_page.title() == str(n)
"""

# Finds the server to kill: the base URL's (by the pid the outer test gives) or the embedded one (a child).
KILL_THE_SERVER = """
import os
import select
import signal

import psutil


def kill_the_server():
    if "SERVER_PID" in os.environ:  # the outer test's child: it stays a zombie until that one reaps it
        pid = int(os.environ["SERVER_PID"])
    else:
        pid = next(p.pid for p in psutil.Process().children() if "pytest_steel.local" in " ".join(p.cmdline()))
    exited = os.pidfd_open(pid)  # readable once the process has exited, reaped or not
    try:
        os.kill(pid, signal.SIGKILL)
        assert select.select([exited], [], [], 30)[0], "the server outlived SIGKILL"
    finally:
        os.close(exited)
"""


def live_ids(server_http) -> list[str]:  # type: ignore[no-untyped-def]
    return [s["id"] for s in server_http.get("/v1/sessions", params={"status": "live"}).json()["sessions"]]


def test_one_slow_create_does_not_condemn_the_backend(pytester: pytest.Pytester, proxied_server: ProxiedServer) -> None:
    """The first create reaches the server only after one read timeout: it is retried, and the run goes on."""
    server, proxy = proxied_server
    # A 3 s read timeout: on a loaded CI machine an ordinary create has taken over 1 s, and must not time out too.
    proxy.on_create = ["hold"]  # the first create reaches the server only after the run: its retry made the session
    pytester.makepyfile(PAGES)
    result = pytester.runpytest_subprocess(
        "--steel-base-url", proxy.url, "--steel-http-timeout", "3", "-p", "no:playwright", timeout=RUN_BOUND
    )
    result.assert_outcomes(passed=3)
    assert "unavailable" not in result.stdout.str()
    proxy.release_held()
    answers = proxy.wait_for_upstream_answers(len(proxy.requests))
    assert answers.count(("POST /v1/sessions", 409)) == 1  # the late copy of the first create, refused
    assert answers.count(("POST /v1/sessions", 200)) == 3
    assert live_ids(server.http) == []


CREATED, REFUSED = ("POST /v1/sessions", 200), ("POST /v1/sessions", 409)


def test_a_create_given_up_on_never_becomes_a_live_orphan(
    pytester: pytest.Pytester, proxied_server: ProxiedServer
) -> None:
    """Every attempt of the first create arrives after the client gave up: the test errors, nothing meters on."""
    server, proxy = proxied_server
    proxy.on_create = ["hold-id"]  # every attempt of the first create: held until the run is over
    pytester.makepyfile(
        """
        def test_gets_no_session(steel_session):
            pass

        def test_gets_one(steel_session):
            assert steel_session.is_live
        """
    )
    result = pytester.runpytest_subprocess(
        "--steel-base-url", proxy.url, "--steel-http-timeout", "2", "-p", "no:playwright", timeout=RUN_BOUND
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [f"SteelTimeoutError: the Steel API at {proxy.url} did not answer POST /v1/sessions in time (ReadTimeout *"]
    )
    assert "unavailable" not in result.stdout.str()  # one slow call does not condemn the backend
    proxy.release_held()
    creates = [a for a in proxy.wait_for_upstream_answers(len(proxy.requests)) if a[0] == "POST /v1/sessions"]
    # the second test's create made its session; every attempt of the first, as many as fitted, was refused
    assert creates[0] == CREATED and set(creates[1:]) == {REFUSED}
    assert live_ids(server.http) == []


def test_a_backend_that_dies_is_named_once_and_not_asked_again(
    pytester: pytest.Pytester, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server is killed mid-test: that test says its session was lost with its backend, the next ones fail fast."""
    pytester.makeconftest(KILL_THE_SERVER)
    pytester.makepyfile(
        """
        from conftest import kill_the_server

        def test_1_loses_its_session(steel_page):
            steel_page.goto("data:text/html,<title>one</title>")
            kill_the_server()
            steel_page.goto("data:text/html,<title>two</title>")

        def test_2_needs_a_session(steel_session):
            pass

        def test_3_needs_a_session(steel_session):
            pass
        """
    )
    if backend.server is not None:
        monkeypatch.setenv("SERVER_PID", str(backend.server.pid))
    result = backend.run(pytester, "--steel-recording=retain-on-failure")
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines(
        [
            "SteelSessionError: Steel session * is failed (backend_unreachable) during the test: "
            "its backend stopped answering*",
            "*Playwright said: *",
            "artifact problem: no recording of session *: the backend is unavailable",  # not asked: it is gone
        ]
    )
    unavailable = "SteelBackendUnavailableError: the Steel backend is unavailable; see the first error of this run*"
    result.stdout.fnmatch_lines([unavailable, unavailable])
    result.stdout.fnmatch_lines(
        [
            "*= pytest-steel =*",
            "1 session created: 1 failed",
            "session time *; billed 1 min*",
            "*the Steel backend was unavailable, so tests needing a session errored: could not reach the Steel API*",
        ]
    )
    assert result.stdout.str().count("could not release") == 0
    if backend.server is not None:
        backend.server = None  # killed: nothing left to ask (the fixture still checks processes and files)


RESTARTS = """
import os
from pathlib import Path

from conftest import kill_the_server
from pytest_steel.local import LocalServerProcess

RESTARTED = []


def test_1_loses_its_server(steel_session):
    kill_the_server()


def test_2_restarts_it_on_the_same_port():
    port = os.environ["SERVER_URL"].rsplit(":", 1)[1]
    server = LocalServerProcess(["--port", port, "--max-sessions", "1", "--pool-size", "0"])
    server.start()
    RESTARTED.append(server)


def test_3_gets_a_session_again(steel_page):
    steel_page.goto("data:text/html,<title>back</title>")
    assert steel_page.title() == "back"


def test_4_and_again(steel_page):
    steel_page.goto("data:text/html,<title>again</title>")


def test_5_stops_it(steel_client):
    steel_client.release_all()
    assert RESTARTED.pop().stop() == 0
"""


def test_a_one_session_server_that_comes_back_is_used_again(
    pytester: pytest.Pytester, start_server: StartServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lost session's slot is freed with it, and a probe sees the restarted server (steel-browser's case)."""
    server = start_server("--max-sessions", "1")
    pytester.makeconftest(KILL_THE_SERVER)
    pytester.makepyfile(RESTARTS)
    monkeypatch.setenv("SERVER_PID", str(server.pid))
    monkeypatch.setenv("SERVER_URL", server.url)
    result = pytester.runpytest_subprocess(
        "--steel-base-url", server.url, "--steel-max-sessions", "1", "-p", "no:playwright", timeout=RUN_BOUND
    )
    result.assert_outcomes(passed=5, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_1_loses_its_server*",
            "SteelSessionError: Steel session * is failed (backend_unreachable) during the test*",
        ]
    )
    assert "slot" not in result.stdout.str()
    result.stdout.fnmatch_lines(["*the Steel backend answered again after: could not reach the Steel API*"])


def test_a_server_that_ignores_the_timeout_says_so_beside_the_failing_assertion(
    pytester: pytest.Pytester, stand_in: SteelBrowserStandIn
) -> None:
    """steel-browser drops ``timeout`` and answers ``timeout: 0``: the failure explains the bare number."""
    pytester.makepyfile(
        """
        def test_relies_on_its_timeout(steel_session):
            assert steel_session.timeout == 90000
        """
    )
    result = pytester.runpytest_subprocess(
        "--steel-base-url", stand_in.url, "--steel-timeout", "90000", "-p", "no:playwright", timeout=RUN_BOUND
    )
    result.assert_outcomes(failed=1)
    means = "its sessions report timeout 0 and live until released, whatever --steel-timeout or a marker asks"
    result.stdout.fnmatch_lines(
        [
            "E       AssertionError: assert 0 == 90000",
            "*- Steel session -*",
            f"backend ignored: timeout: {means}",
            "*= pytest-steel =*",
            f"the backend ignores the create field timeout: {means}",
        ]
    )


def test_the_embedded_server_names_the_cloud_fields_it_ignores(
    pytester: pytest.Pytester, embedded_backend: Backend
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.steel(useProxy=True, solveCaptcha=True, blockAds=False)
        def test_asks_for_cloud_features(steel_session):
            pass

        def test_asks_for_nothing_special(steel_session):
            pass
        """
    )
    result = embedded_backend.run(pytester, "-v", "-p", "no:randomly")
    result.assert_outcomes(passed=2)
    cloud = "a Steel Cloud feature this backend does not have"
    result.stdout.fnmatch_lines(
        [
            "steel: the backend ignored solveCaptcha, useProxy for session *",
            "*= pytest-steel =*",
            f"the backend ignores the create field solveCaptcha: {cloud}",
            f"the backend ignores the create field useProxy: {cloud}",
        ]
    )
    assert "blockAds" not in result.stdout.str()  # off is what the embedded server does anyway
    assert result.stdout.str().count("the backend ignored") == 1  # only the session that asked


def test_a_crashed_workers_sessions_are_counted_and_billed(pytester: pytest.Pytester, backend: Backend) -> None:
    """A worker dies mid-test (os._exit): the controller already knows its session, which the safety net releases."""
    pytester.makepyfile(
        """
        import os
        import pytest

        def test_crashes_its_worker(steel_session):
            os._exit(1)

        @pytest.mark.parametrize("n", range(3))
        def test_page(steel_page, n):
            steel_page.goto("data:text/html,<title>%d</title>" % n)
        """
    )
    result = backend.run(pytester, "-n", "2")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*= pytest-steel =*",
            "4 sessions created: 3 released, 1 released by the safety net",
            "session time *; billed 4 min*",
        ]
    )
    assert "did not track" not in result.stdout.str()


def test_sigkill_of_the_xdist_controller_stops_its_workers_and_leaves_nothing(
    pytester: pytest.Pytester, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernel tells each worker its controller died: the workers release their sessions and exit."""
    ready = pytester.path / "ready.fifo"
    os.mkfifo(ready)
    monkeypatch.setenv("READY_FIFO", str(ready))
    pytester.makepyfile(
        f"""
        import os
        import time

        import pytest

        @pytest.mark.parametrize("n", range(2))
        def test_waits(steel_page, steel_session, n):
            steel_page.goto("data:text/html,<title>busy</title>")
            with open(os.environ["READY_FIFO"], "w") as fifo:
                fifo.write(f"READY {{steel_session.id}}\\n")
            time.sleep({RUN_BOUND})
        """
    )
    # Read and write: the writers never block on opening, and it never reads as ended between them.
    reader = os.open(ready, os.O_RDWR | os.O_NONBLOCK)
    controller = pytester.popen(
        [sys.executable, "-m", "pytest", "-n", "2", "-p", "no:playwright", "-p", "no:cacheprovider", *backend.args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    try:
        said = b""
        with selectors.DefaultSelector() as selector:
            selector.register(reader, selectors.EVENT_READ)
            while said.count(b"READY") < 2 and selector.select(RUN_BOUND):
                with contextlib.suppress(BlockingIOError):
                    said += os.read(reader, 4096)
        assert said.count(b"READY") == 2, said
        children = psutil.Process(controller.pid).children()  # the two workers, and the embedded server if any
        workers = [p for p in children if "pytest_steel.local" not in " ".join(p.cmdline())]
        assert len(workers) == 2
        controller.kill()
        controller.wait(RUN_BOUND)
    finally:
        os.close(reader)
        if controller.poll() is None:
            controller.kill()
    assert wait_until_gone(workers, timeout=RUN_BOUND) == []
    # the backend fixture checks that no session is live, no browser runs and the temp folder is empty


def test_releases_that_hang_cost_a_full_wait_only_once(
    pytester: pytest.Pytester, proxied_server: ProxiedServer
) -> None:
    """Creates answer, releases hang: after the first, a release waits 2 s, not a whole answer's time."""
    server, proxy = proxied_server
    proxy.fail_paths = {"/release": "hang"}
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("n", range(3))
        def test_holds_a_session(steel_session, n):
            pass
        """
    )
    try:
        result = pytester.runpytest_subprocess(
            "--steel-base-url",
            proxy.url,
            "--steel-http-timeout",
            "3",
            "--no-steel-release-all",
            "-p",
            "no:playwright",
            "-p",
            "no:randomly",
            timeout=RUN_BOUND,
        )
    finally:
        proxy.release.set()  # the hung answers end
        server.http.post("/v1/sessions/release")
    result.assert_outcomes(passed=3, errors=3)
    hung = "*could not release Steel session *; it may still be live*did not answer POST /v1/sessions/*/release in time"
    result.stdout.fnmatch_lines(
        [f"{hung} (ReadTimeout after 3 s)*", f"{hung} (ReadTimeout after 2 s)*", f"{hung} (ReadTimeout after 2 s)*"]
    )
    result.stdout.fnmatch_lines(["*= pytest-steel =*", "3 sessions created: 3 could not be released"])
    assert "unavailable" not in result.stdout.str()  # creates kept answering: the backend is not condemned


class HungServer:
    """A loopback server that takes every connection and every request, and never answers any."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.held: list[socket.socket] = []
        self.requests = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = self.listener.accept()
                self.held.append(connection)  # read nothing back, answer nothing, close nothing
                self.requests += 1

    def close(self) -> None:
        self.listener.close()
        for connection in self.held:
            connection.close()


def test_a_backend_whose_every_request_hangs_is_recognised_at_its_first_hang(pytester: pytest.Pytester) -> None:
    """Every create hangs: after one answer's time and a quick health check, the run fails the rest at once."""
    hung = HungServer()
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("n", range(4))
        def test_needs_a_session(steel_session, n):
            pass
        """
    )
    started = time.monotonic()
    try:
        result = pytester.runpytest_subprocess(
            "--steel-base-url", hung.url, "-p", "no:playwright", "-p", "no:randomly", timeout=RUN_BOUND * 2
        )
    finally:
        hung.close()
    took = time.monotonic() - started
    result.assert_outcomes(errors=4)
    assert took < 100, f"the run took {took:.0f} s against a hung backend"
    result.stdout.fnmatch_lines(
        [
            f"*SteelHungError: the Steel API at {hung.url} did not answer * in time (ReadTimeout after 30 s); "
            "is the server overloaded or stuck? *so the server is taken as hung.",
            f"*the Steel backend was unavailable, so tests needing a session errored: the Steel API at {hung.url} *",
        ]
    )
