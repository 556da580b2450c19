"""--steel-debug and --steel-slowmo: the viewer link as a session starts, a pause at a failure, refusals.

The pause reads the controlling terminal, so the run under test gets a real one: a
pseudo-terminal (``pty.fork``), whose other end this test reads and types Enter into.
"""

from __future__ import annotations

import asyncio
import contextlib
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


LOOKS_AT_THE_PROCESSES = """
import os, pathlib
from pytest_steel._fixtures.run import started_run

def test_fails(steel_page, request):
    key = started_run(request.config).backend.embedded_key
    pathlib.Path(os.environ["SEEN"], "key").write_text(key)
    showing, browsers = [], 0
    for cmdline in pathlib.Path("/proc").glob("[0-9]*/cmdline"):  # as ps reads them, while the run is live
        try:
            args = cmdline.read_bytes()
        except OSError:  # gone meanwhile
            continue
        showing += [args.decode(errors="replace")] if key.encode() in args else []
        browsers += b"viewerToken=" in args  # the viewer's browser, still open: the look saw it
    pathlib.Path(os.environ["SEEN"], "ps").write_text(f"{browsers} {showing}")
    steel_page.goto("data:text/html,<title>look at me</title>")
    assert steel_page.title() == "something else"
"""

# A browser as $BROWSER names it: notes its arguments, opens the link as a browser would (the token for a
# cookie, then the page), and stays open until the test is over, its arguments in the process list.
FAKE_BROWSER = """#!/bin/sh
echo "$1" >> "$SEEN/opened"
"$PYTHON" - "$1" >> "$SEEN/fetched" <<'PY'
import sys, httpx
first = httpx.get(sys.argv[1], timeout=10)
page = httpx.get(httpx.URL(sys.argv[1]).join(first.headers["location"]), cookies=first.cookies, timeout=10)
print(first.status_code, page.status_code, "<b id=status>live</b>" in page.text)
PY
(n=0; while [ ! -e "$SEEN/done" ] && [ $n -lt 1200 ]; do sleep 0.1; n=$((n+1)); done) &
"""


def test_debug_prints_and_opens_the_viewer_at_creation_and_pauses_at_a_failure(
    pytester: pytest.Pytester, embedded_backend: Backend, tmp_path: Path
) -> None:
    """The viewer's links carry a one-time token, never the key: not in the opened browser's arguments (nor any
    process's, while the run is live), not on the terminal, not in JUnit, not in the run's log."""
    pytester.makepyfile(test_debug_me=LOOKS_AT_THE_PROCESSES)
    seen = tmp_path / "seen"
    seen.mkdir()
    browser = tmp_path / "browser.sh"
    browser.write_text(FAKE_BROWSER)
    browser.chmod(0o755)
    env = {**os.environ, "BROWSER": f"{browser} %s", "COLUMNS": "200", "SEEN": str(seen), "PYTHON": sys.executable}
    env.pop("DISPLAY", None)
    command = [sys.executable, "-m", "pytest", "-p", "no:playwright", "-p", "no:cacheprovider", "--steel-debug"]
    command += ["--junitxml", "junit.xml", "--log-file", "run.log", "--log-file-level", "DEBUG"]
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
        assert re.fullmatch(rf"http://127\.0\.0\.1:\d+/sessions/{session_id}\?viewerToken=[\w-]+", viewer)
        prompt = re.compile(rb"press Enter to go on or wait \d+ s, until its timeout")
        assert read_until(master, prompt, output), output.decode(errors="replace")
        shown = output.decode(errors="replace")
        assert "test_debug_me.py::test_fails: AssertionError: assert 'look at me' == 'something else'" in shown
        still = re.search(r"test_debug_me.py::test_fails failed; its session stays open at (\S+)", shown)
        assert still and still.group(1) != viewer  # a fresh link, the first may be spent
        for usable in (viewer, still.group(1)):  # each printed link opens the live session, once
            with httpx.Client(follow_redirects=True, timeout=10) as person:
                page = person.get(usable)
                assert page.status_code == 200 and "<b id=status>live</b>" in page.text
                assert str(page.url) == viewer.split("?")[0]  # and leaves a clean address
        assert httpx.get(viewer, timeout=10).status_code == 401  # spent: another browser gets nothing of it
        os.write(master, b"\n")
        read_until(master, re.compile(rb"\d+ failed in "), output)
    finally:
        (seen / "done").touch()  # the fake browser closes
        with contextlib.suppress(OSError):
            os.write(master, b"\n")  # a run still at the pause (an assertion above failed) goes on to its end
        _, status = os.waitpid(pid, 0)
        os.close(master)
    shown = output.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 1, shown
    assert shown.index("steel: watch session") < shown.index("press Enter")
    assert "inactivity off (default with --steel-debug)" in shown  # a person at a breakpoint sends no CDP
    assert "1 session created: 1 released" in shown
    (opened,) = (seen / "opened").read_text().split()  # $BROWSER was asked to open a link of its own
    assert opened.startswith(viewer.split("?")[0] + "?viewerToken=") and opened != viewer
    assert (seen / "fetched").read_text().split() == ["303", "200", "True"]  # and it opened the live page
    key = (seen / "key").read_text()
    assert len(key) > 20
    browsers, showing = (seen / "ps").read_text().split(" ", 1)
    assert int(browsers) >= 1 and showing == "[]"  # the browser was there to see; no process showed the key
    for path in (pytester.path / "junit.xml", pytester.path / "run.log"):
        assert "test_fails" in path.read_text() or "HTTP Request" in path.read_text()
        assert key not in path.read_text(), path.name
    assert key not in shown


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
