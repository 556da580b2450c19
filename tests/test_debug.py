"""--steel-debug and --steel-slowmo: the viewer link as a session starts, a pause at a failure, refusals.

The pause reads the controlling terminal, so the run under test gets a real one: a
pseudo-terminal (``pty.fork``), whose other end this test reads and types Enter into.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from ._support import RUN_BOUND, Backend

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
    assert "inactivity off (default with --steel-debug)" in shown  # a person at a breakpoint sends no CDP
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
