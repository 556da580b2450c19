"""--steel-debug and --steel-slowmo: the viewer link as a session starts, a pause at a failure, refusals.

The pause reads the controlling terminal, so the run under test gets a real one: a
pseudo-terminal (``pty.fork``), whose other end this test reads and types Enter into.
"""

from __future__ import annotations

import asyncio
import os
import pty
import re
import select
import subprocess
import sys
import time
from http.cookies import SimpleCookie
from pathlib import Path

import httpx
import pytest

from ._support import RUN_BOUND, Backend, StartServer

VIEWER_KEY = "viewer-secret-key-0123456789"

FAILS = """
def test_fails(steel_page):
    steel_page.goto("data:text/html,<title>look at me</title>")
    assert steel_page.title() == "something else"
"""


def read_until(master: int, pattern: re.Pattern[bytes], output: bytearray) -> re.Match[bytes] | None:
    """Read the terminal until ``pattern`` shows (or it closes, or RUN_BOUND passes)."""
    while not (found := pattern.search(output)):
        if not select.select([master], [], [], RUN_BOUND)[0]:
            return None
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the other side closed
            return None
        if not chunk:
            return None
        output += chunk
    return found


def test_debug_prints_and_opens_the_viewer_at_creation_and_pauses_at_a_failure(
    pytester: pytest.Pytester, embedded_backend: Backend, tmp_path: Path
) -> None:
    pytester.makepyfile(test_debug_me=FAILS)
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" >> {opened}\n')
    browser.chmod(0o755)
    env = {**os.environ, "BROWSER": f"{browser} %s", "COLUMNS": "200"}
    env.pop("DISPLAY", None)
    command = [sys.executable, "-m", "pytest", "-p", "no:playwright", "-p", "no:cacheprovider", "--steel-debug"]
    pid, master = pty.fork()
    if pid == 0:  # the run under test, with the pseudo-terminal as its controlling terminal
        os.chdir(pytester.path)
        os.execve(sys.executable, command, env)
    output = bytearray()
    try:
        created = re.compile(rb"steel: watch session (\S+) for test_debug_me.py::test_fails: (\S+)")
        link = read_until(master, created, output)
        assert link, output.decode(errors="replace")
        session_id, viewer = link.group(1).decode(), link.group(2).decode()
        assert re.fullmatch(rf"http://127\.0\.0\.1:\d+/sessions/{session_id}\?apiKey=\S+", viewer)
        prompt = re.compile(rb"press Enter to go on or wait \d+ s, until its timeout")
        assert read_until(master, prompt, output), output.decode(errors="replace")
        shown = output.decode(errors="replace")
        assert "test_debug_me.py::test_fails: AssertionError: assert 'look at me' == 'something else'" in shown
        assert f"test_debug_me.py::test_fails failed; its session stays open at {viewer}" in shown
        page = httpx.get(viewer, timeout=10)  # the session is still there to look at, live
        assert page.status_code == 200 and "<b id=status>live</b>" in page.text
        os.write(master, b"\n")
        read_until(master, re.compile(rb"\d+ failed in "), output)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(master)
    shown = output.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 1, shown
    assert shown.index("steel: watch session") < shown.index("press Enter")
    assert "1 session created: 1 released" in shown
    assert opened.read_text().split() == [viewer]  # $BROWSER was asked to open it


def test_debug_is_refused_under_xdist_and_without_a_terminal(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(FAILS)
    under_xdist = pytester.runpytest_subprocess("--steel-debug", "-n", "2", "-p", "no:playwright")
    assert under_xdist.ret == pytest.ExitCode.USAGE_ERROR
    under_xdist.stderr.fnmatch_lines(
        ["ERROR: --steel-debug waits for you at a failing test, which pytest-xdist's workers cannot do: *"]
    )
    no_terminal = subprocess.run(  # a new session has no controlling terminal to read Enter from
        [sys.executable, "-m", "pytest", "--steel-debug", "-p", "no:playwright"],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        timeout=RUN_BOUND,
    )
    assert no_terminal.returncode == pytest.ExitCode.USAGE_ERROR
    assert "ERROR: --steel-debug waits for Enter at a failing test, and this run has no terminal" in no_terminal.stderr
    assert "created session" not in no_terminal.stdout  # nothing started


def test_slowmo_slows_every_action_down(pytester: pytest.Pytester, embedded_backend: Backend) -> None:
    pytester.makepyfile(
        """
        import time

        def test_slow(steel_page):
            start = time.monotonic()
            steel_page.goto("data:text/html,<button>go</button>")
            steel_page.click("button")
            assert time.monotonic() - start >= 0.8  # two actions, 400 ms before each: a floor, not a speed
        """
    )
    result = embedded_backend.run(pytester, "--steel-slowmo", "400")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["steel: *slowmo 400 ms (--steel-slowmo)*"])
    bad = embedded_backend.run(pytester, "--steel-slowmo", "-5")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(
        ["ERROR: --steel-slowmo: '-5' is not a slow-motion delay in milliseconds; use a whole number from 0 to 60000"]
    )


def test_a_viewer_token_opens_the_viewer_once_and_the_key_never_rides_in_its_url(start_server: StartServer) -> None:
    """The server's way for a browser to watch without the key in a URL: a one-time token, exchanged for a cookie."""
    server = start_server(api_key=VIEWER_KEY)
    session = server.create()
    viewer = session["sessionViewerUrl"]
    base = server.url
    assert httpx.post(f"{base}/v1/viewer-tokens", timeout=10).status_code == 401  # minted only for the key
    bad = server.http.post("/v1/viewer-tokens", json={"ttlMs": 600_001})
    assert bad.status_code == 400 and bad.json() == {
        "message": "ttlMs must be a whole number of milliseconds from 1000 to 600000",
        "field": "ttlMs",
    }
    token = server.http.post("/v1/viewer-tokens").json()
    assert token["query"] == "viewerToken" and token["expiresInMs"] == 60_000

    opened = httpx.get(f"{viewer}?viewerToken={token['token']}", timeout=10)
    assert opened.status_code == 303 and opened.headers["location"] == f"/sessions/{session['id']}"  # a clean URL
    cookie = SimpleCookie(opened.headers["set-cookie"])
    (name,) = cookie
    assert name == f"steel-viewer-{base.rsplit(':', 1)[1]}" and cookie[name].value not in ("", VIEWER_KEY)
    assert cookie[name]["httponly"] and cookie[name]["samesite"] == "Strict" and cookie[name]["path"] == "/sessions/"
    jar = {"cookie": f"{name}={cookie[name].value}"}
    page = httpx.get(viewer, headers=jar, timeout=10)
    assert page.status_code == 200 and "<b id=status>live</b>" in page.text
    assert httpx.get(viewer, timeout=10).status_code == 401  # no cookie, no token: refused
    assert httpx.get(f"{viewer}?viewerToken={token['token']}", timeout=10).status_code == 401  # spent
    again = httpx.get(f"{viewer}?viewerToken={token['token']}", headers=jar, timeout=10)
    assert again.status_code == 303  # the same person opening the link twice: the cookie is enough
    assert httpx.get(f"{base}/v1/sessions", headers=jar, timeout=10).status_code == 401  # the cookie is no key
    assert httpx.get(f"{base}/", headers=jar, timeout=10).status_code == 401

    async def live(headers: dict[str, str]) -> int:
        from aiohttp import ClientSession, WSServerHandshakeError

        async with ClientSession() as http:
            try:
                async with http.ws_connect(f"{viewer.replace('http', 'ws', 1)}/live", headers=headers):
                    return 101
            except WSServerHandshakeError as exc:
                return exc.status

    assert asyncio.run(live({**jar, "Origin": base})) == 101  # the viewer page's own live stream
    assert asyncio.run(live({**jar, "Origin": "http://127.0.0.1:1"})) == 401  # another local page may not watch
    typed = httpx.get(f"{viewer}?apiKey={VIEWER_KEY}&theme=dark", timeout=10)  # a person who typed the key
    assert typed.status_code == 303 and typed.headers["location"] == f"/sessions/{session['id']}?theme=dark"
    wrong = httpx.get(f"{viewer}?apiKey=wrong", headers=jar, timeout=10)
    assert wrong.status_code == 401  # a wrong key is said to be wrong, cookie or not
    short = server.http.post("/v1/viewer-tokens", json={"ttlMs": 1000}).json()["token"]
    time.sleep(1.2)  # past its time: the bound itself is what is tested
    assert httpx.get(f"{viewer}?viewerToken={short}", timeout=10).status_code == 401
    server.release(session["id"])
