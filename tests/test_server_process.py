"""The steel-local process: its command line, its signals, and what it leaves behind when it dies."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from pytest_steel.local import LocalServerError, LocalServerProcess

from ._cdp import connected, first_page, wait_disconnected
from ._support import StartServer, live_processes_mentioning, wait_until_gone


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_steel.local", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    ("args", "env", "words"),
    [
        (["--port", "70000"], {}, "--port: must be a port number from 0 to 65535"),
        (["--max-sessions", "0"], {}, "--max-sessions: must be a whole number from 1 to 10000"),
        (["--startup-timeout", "0"], {}, "--startup-timeout: must be a number of seconds from 0 to 600"),
        (["--pool-size", "-1"], {}, "--pool-size: must be a whole number from 0 to 64"),
        (["--expected-sessions", "many"], {}, "--expected-sessions: must be a whole number from 0 to 10000000"),
        (["--host", "0.0.0.0"], {"STEEL_API_KEY": ""}, "--host 0.0.0.0 is not a loopback address"),
        (["--chromium", "/nonexistent/chrome"], {}, "--chromium: '/nonexistent/chrome' is not an executable file"),
        ([], {"STEEL_CHROMIUM": "/nonexistent/chrome"}, "STEEL_CHROMIUM: '/nonexistent/chrome' is not an executable"),
        (["--api-key", " "], {}, "--api-key must not be empty"),
        (["--public-url", "wss://steel.example"], {}, "--public-url: must be an http:// or https:// URL of a host"),
        (["--public-url", "https://steel.example/api"], {}, "no path, got 'https://steel.example/api'"),
    ],
)
def test_bad_arguments_are_usage_errors(tmp_path: Path, args: list[str], env: dict[str, str], words: str) -> None:
    result = run_cli(*args, env={"TMPDIR": str(tmp_path), **env})
    assert result.returncode == 2
    assert words in result.stderr
    assert result.stderr.startswith("usage: steel-local")
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []  # nothing left behind


def test_port_in_use_is_reported(start_server: StartServer) -> None:
    server = start_server()
    port = server.url.rsplit(":", 1)[1]
    result = run_cli("--port", port)
    assert result.returncode == 2
    assert f"cannot listen on --host 127.0.0.1 --port {port}" in result.stderr


def test_console_script_and_module_both_run() -> None:
    script = Path(sys.executable).with_name("steel-local")
    for argv in ([str(script), "--help"], [sys.executable, "-m", "pytest_steel.local", "--help"]):
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert result.returncode == 0
        assert "--max-sessions" in result.stdout


def test_listens_on_loopback_by_default(start_server: StartServer) -> None:
    assert start_server().url.startswith("http://127.0.0.1:")


def test_behind_a_front_every_url_it_gives_is_built_from_the_public_url(start_server: StartServer) -> None:
    """Behind a TLS terminator the request arrives as plain http; the URLs clients are given must say https and wss."""
    server = start_server("--public-url", "https://steel.example:8443")
    session = server.create()
    try:
        assert session["websocketUrl"] == f"wss://steel.example:8443/?sessionId={session['id']}"
        assert session["debugUrl"] == f"https://steel.example:8443/sessions/{session['id']}/debug"
        assert session["sessionViewerUrl"] == f"https://steel.example:8443/sessions/{session['id']}"
        listed = server.http.get("/v1/sessions").json()["sessions"]
        assert [s["websocketUrl"] for s in listed] == [session["websocketUrl"]]
    finally:
        server.release(session["id"])


def test_other_hosts_need_a_key(start_server: StartServer) -> None:
    server = start_server("--host", "0.0.0.0", api_key="remote-key")
    assert server.url.startswith("http://0.0.0.0:")
    assert server.http.get("/v1/health").status_code == 200


def test_headed_session_without_a_display_fails_cleanly(start_server: StartServer) -> None:
    server = start_server(env={"DISPLAY": "", "WAYLAND_DISPLAY": ""})
    response = server.http.post("/v1/sessions", json={"headless": False})
    assert response.status_code == 500
    message = response.json()["message"]
    assert "did not start" in message
    assert server.http.get("/v1/sessions").json()["sessions"] == []
    assert server.browsers() == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_releases_every_session_and_exits_cleanly(start_server: StartServer, sig: int) -> None:
    server = start_server()
    sessions = [server.create(), server.create()]

    async def attached_until_shutdown() -> int:
        async with connected(sessions[0]["websocketUrl"]) as (browser,):
            await first_page(browser).evaluate("1")
            code = await asyncio.to_thread(server.stop, sig)
            await wait_disconnected(browser)
            return code

    assert asyncio.run(attached_until_shutdown()) == 0
    assert wait_until_gone(server.browsers()) == []
    assert server.leftovers() == []
    log = server.log()
    for session in sessions:
        assert f"session {session['id']} released (user_requested" in log


def test_sigkill_of_the_server_leaves_no_browser(start_server: StartServer) -> None:
    server = start_server()
    for _ in range(3):
        server.create()
    browsers = server.browsers()
    watchdog = psutil.Process(server.watchdog_pid or -1)
    assert len(browsers) >= 3

    assert server.stop(signal.SIGKILL) == -signal.SIGKILL
    watchdog.wait(timeout=15)  # it cleans up, then exits
    assert wait_until_gone(browsers) == []
    assert server.leftovers() == []


PARENT_SCRIPT = """
import json, sys, time
import httpx
from pytest_steel.local import LocalServerProcess

server = LocalServerProcess(["--port", "0"], log_path=sys.argv[1])
url = server.start()
httpx.post(url + "/v1/sessions").raise_for_status()
print(json.dumps({"server": server.pid}), flush=True)
time.sleep(600)
"""


def test_server_stops_when_its_parent_is_killed(tmp_path: Path) -> None:
    """The test runner that started the server may be SIGKILLed: the server must not live on."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    log = tmp_path / "steel-local.log"
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT_SCRIPT, str(log)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmpdir)},
    )
    assert parent.stdout is not None
    server = psutil.Process(json.loads(parent.stdout.readline())["server"])
    browsers = [p for p in live_processes_mentioning(str(tmpdir)) if "chrom" in p.name()]
    assert browsers

    parent.kill()
    parent.wait(10)
    parent.stdout.close()
    server.wait(timeout=15)
    assert wait_until_gone(browsers) == []
    assert list(tmpdir.iterdir()) == []
    text = log.read_text()
    assert "parent gone" in text
    assert "released (user_requested" in text


def test_launcher_reports_why_the_server_did_not_start(tmp_path: Path) -> None:
    launcher = LocalServerProcess(["--max-sessions", "0"], log_path=tmp_path / "steel-local.log")
    with pytest.raises(LocalServerError) as excinfo:
        launcher.start(timeout=30)
    message = str(excinfo.value)
    assert "steel-local did not start (exit code 2)" in message
    assert "--max-sessions: must be a whole number from 1 to 10000" in message
    assert launcher.process is not None and launcher.process.returncode == 2
