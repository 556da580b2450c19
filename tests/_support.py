"""Helpers the tests share: real steel-local servers, a fault-injecting proxy, process inspection.

Fixtures that hand these out live in ``conftest.py``; tests import the types from here.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from pytest_steel.local import LocalServerProcess

RUN_BOUND = 120  # seconds any pytest subprocess a test starts may take


def installed(distribution: str) -> tuple[int, ...]:
    """The installed version of ``distribution`` as numbers, (4, 1, 1) for 4.1.1: CI also runs the oldest we claim."""
    from importlib.metadata import version

    return tuple(int(part) for part in re.findall(r"\d+", version(distribution))[:3])


# Playwright 1.48+ routes a page's WebSockets (route_web_socket): before it, --steel-expose-local carries none.
ROUTES_WEBSOCKETS = installed("playwright") >= (1, 48)


class Server:
    """A running steel-local child with its own TMPDIR, so that leaks are visible."""

    def __init__(self, launcher: LocalServerProcess, tmpdir: Path, api_key: str | None) -> None:
        self.launcher = launcher
        self.tmpdir = tmpdir
        self.url = launcher.url or ""
        self.api_key = api_key
        headers = {"steel-api-key": api_key} if api_key else {}
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=30)

    @property
    def pid(self) -> int:
        assert self.launcher.pid is not None
        return self.launcher.pid

    def create(self, **body: object) -> dict:
        response = self.http.post("/v1/sessions", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def get(self, session_id: str) -> dict:
        response = self.http.get(f"/v1/sessions/{session_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def release(self, session_id: str) -> dict:
        response = self.http.post(f"/v1/sessions/{session_id}/release")
        assert response.status_code == 200, response.text
        return response.json()

    def browsers(self) -> list[psutil.Process]:
        """Browser processes of this server that are still running (zombies are dead)."""
        mentioning = live_processes_mentioning(str(self.tmpdir))
        return [p for p in mentioning if p.pid not in (self.pid, self.watchdog_pid)]

    @property
    def watchdog_pid(self) -> int | None:
        for child in psutil.Process(self.pid).children() if psutil.pid_exists(self.pid) else []:
            if "pytest_steel.local._chromium_procs.watchdog" in child.cmdline():
                return child.pid
        return None

    def leftovers(self) -> list[str]:
        """Whatever the server and its browsers left in their temp directory."""
        return sorted(p.name for p in self.tmpdir.iterdir())

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.http.close()
        return self.launcher.stop(sig)

    def log(self) -> str:
        assert self.launcher.log_path is not None
        return self.launcher.log_path.read_text()


def live_processes_mentioning(text: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        try:
            if process.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if any(text in arg for arg in process.info["cmdline"] or ()):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def process_group(pgid: int) -> list[psutil.Process]:
    """Running (not zombie) members of one process group."""
    members = []
    for process in psutil.process_iter(["status"]):
        try:
            if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(process)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return members


def wait_until_removed(path: Path, timeout: float = 10.0) -> bool:
    """Whether ``path`` is gone within ``timeout`` seconds (a server removes directories after answering)."""
    deadline = time.monotonic() + timeout
    while path.exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def wait_until_gone(processes: list[psutil.Process], timeout: float = 10.0) -> list[psutil.Process]:
    """Processes still alive after the timeout; zombies count as gone."""
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    return [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


StartServer = Callable[..., Server]


class FaultProxy:
    """A loopback HTTP server that plays a script of faults, then forwards to a real server.

    Each request takes the next action from ``script`` (default ``forward``):
    a status code to answer with (``"500"``, ``"429"``), ``"drop"`` (forward,
    then close the connection unanswered: the server acted, the client never
    hears), ``"hang"`` (never answer), ``"delay:S"`` (forward after S seconds,
    whether or not the client still waits), ``"hold"`` (forward once the test calls
    ``release_held``: "after the client gave up", whatever the machine's load), ``"hold-id"``
    (in ``on_create``: hold this create and every later one for the same session id) or
    ``"forward"``. ``requests`` records
    what arrived, ``upstream_answers`` what the server answered to each forwarded
    request, and ``answer_headers`` what every injected answer should carry.
    """

    def __init__(self, upstream: str | None) -> None:
        self.upstream = upstream
        self.script: list[str] = []
        self.requests: list[tuple[str, str, dict]] = []
        self.answer_headers: dict[str, str] = {}
        self.answer_body: dict = {"message": "injected fault"}
        self.fail_paths: dict[str, str] = {}  # path fragment -> status, for every matching request
        self.on_create: list[str] = []  # actions for the next creates (POST /v1/sessions) only
        # path fragment -> (status, headers, body) answered instead of forwarding; the longest fragment wins
        self.canned: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.upstream_answers: list[tuple[str, int]] = []  # ("POST /v1/sessions", 200), as the server answered
        self._answered = threading.Condition()
        self.release = threading.Event()
        self.held = threading.Event()
        self.held_ids: set[str] = set()  # session ids whose every create is held ("hold-id")
        self.holding = 0  # requests held so far
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else {}
                canned = [k for k in proxy.canned if k in self.path]
                action = "canned" if canned else (proxy.script.pop(0) if proxy.script else "forward")
                action = next((v for k, v in proxy.fail_paths.items() if k in self.path), action)
                if self.command == "POST" and self.path == "/v1/sessions" and not canned:
                    if proxy.on_create:
                        action = proxy.on_create.pop(0)
                    if action == "hold-id":
                        proxy.held_ids.add(body.get("sessionId"))
                    if body.get("sessionId") in proxy.held_ids:
                        action = "hold"
                with proxy._answered:  # recorded with its fate, for release_held's count
                    proxy.requests.append((self.command, self.path, body))
                    proxy.holding += action == "hold"
                if canned:
                    status, headers, payload = proxy.canned[max(canned, key=len)]
                    self.send_response(status)
                    for name, value in {"content-type": "application/json", **headers}.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if action == "hang":
                    proxy.release.wait(30)
                    self.close_connection = True
                    return
                if action.startswith("delay:"):
                    proxy.release.wait(float(action.split(":", 1)[1]))
                if action == "hold":
                    proxy.held.wait(30)
                if action.isdigit():
                    payload = json.dumps(proxy.answer_body).encode()
                    self.send_response(int(action))
                    for name, value in proxy.answer_headers.items():
                        self.send_header(name, value)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                assert proxy.upstream, "nothing to forward to"
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "steel-api-key")}
                answer = httpx.request(self.command, proxy.upstream + self.path, content=raw, headers=headers)
                with proxy._answered:
                    proxy.upstream_answers.append((f"{self.command} {self.path}", answer.status_code))
                    proxy._answered.notify_all()
                if action == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                try:
                    self.send_response(answer.status_code)
                    self.send_header("content-type", answer.headers.get("content-type", "application/json"))
                    self.send_header("content-length", str(len(answer.content)))
                    self.end_headers()
                    self.wfile.write(answer.content)
                except OSError:  # the client stopped waiting (a delayed answer)
                    self.close_connection = True

            do_GET = do_POST = do_DELETE = _handle

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def wait_for_upstream_answers(self, count: int, timeout: float = 30.0) -> list[tuple[str, int]]:
        """The server's answers once ``count`` forwarded requests have had one (bounded)."""
        with self._answered:
            assert self._answered.wait_for(lambda: len(self.upstream_answers) >= count, timeout), self.upstream_answers
            return list(self.upstream_answers)

    def release_held(self, timeout: float = 30.0) -> None:
        """Let the held requests through, once every other one has had the server's answer.

        So a held create reaches the server after, say, the release the client sent when it
        gave up, even if the client stopped waiting for that release's answer.
        """
        with self._answered:
            forwarded = len(self.requests) - self.holding
            assert self._answered.wait_for(lambda: len(self.upstream_answers) >= forwarded, timeout), self.requests
        self.held.set()

    def paths(self) -> list[str]:
        return [f"{method} {path.split('?')[0]}" for method, path, _ in self.requests]

    def close(self) -> None:
        self.release.set()
        self.held.set()
        self.httpd.shutdown()
        self.httpd.server_close()


ProxiedServer = tuple["Server", FaultProxy]  # a steel-local, and the fault proxy in front of it


def closed_port_url() -> str:
    """A loopback URL nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@dataclass
class Backend:
    name: str
    args: list[str]
    server: Server | None
    tmpdir: Path

    def run(self, pytester: pytest.Pytester, *args: str, beside_pytest_playwright: bool = False) -> pytest.RunResult:
        """A run of the inline project; without pytest-playwright unless asked (tests of the pair ask).

        pytest-playwright's Playwright driver may leave an empty playwright-artifacts-* folder in
        TMPDIR when a connection drops just before the run ends; the plugin's own driver does not.
        """
        alone = () if beside_pytest_playwright else ("-p", "no:playwright")
        return pytester.runpytest_subprocess(*self.args, *alone, *args, timeout=180)

    def live_sessions(self) -> list[str]:
        if self.server is None:
            return []
        response = self.server.http.get("/v1/sessions", params={"status": "live"})
        return [s["id"] for s in response.json()["sessions"]]


SIGNAL_RUN_BOUND = 90  # seconds a run_until_ready_then_signal run may take: below the test's own timeout


def _interruptible() -> None:
    """In the child, before exec: SIGINT's default action, so that Python turns it into KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_until_ready_then_signal(
    pytester: pytest.Pytester, backend: Backend, sig: signal.Signals
) -> tuple[int, str, str]:
    """Start pytest, wait for the test to say READY, send ``sig``; return exit code, session id, output.

    The run gets Ctrl-C's SIGINT as a terminal's foreground pytest would, whatever started these
    tests: a shell without job control starts a background job (``pytest -n 2 > log &``) with
    SIGINT ignored, every process under it inherits that, and a Python started with SIGINT ignored
    keeps ignoring it, so the signalled run slept on to the test's timeout. Hence SIG_DFL in the child.

    Bounded as a whole, below the test's timeout (which would lose the run's output and leave it
    running): a run that does not get ready or does not stop in time gets SIGABRT, on which pytest's
    faulthandler prints where each of its threads was, and the test fails with that output.
    """
    deadline = time.monotonic() + SIGNAL_RUN_BOUND
    process = pytester.popen(
        [sys.executable, "-m", "pytest", "-s", "-p", "no:cacheprovider", *backend.args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        preexec_fn=_interruptible,
    )
    assert process.stdout is not None
    output = b""
    ready = re.compile(rb"READY (\S+)\n")
    found = None
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            while not found and selector.select(max(deadline - time.monotonic(), 0)):
                chunk = os.read(process.stdout.fileno(), 65536)  # unbuffered: select sees all there is
                if not chunk:
                    break  # it ended before saying READY
                output += chunk
                found = ready.search(output)
        if found:
            process.send_signal(sig)
        rest, _ = process.communicate(timeout=max(deadline - time.monotonic(), 1))
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)
        try:
            rest, _ = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            rest, _ = process.communicate()
        stage = f"to stop on {sig.name}" if found else "to say READY"
        pytest.fail(f"the run took over {SIGNAL_RUN_BOUND} s {stage}:\n{(output + rest).decode(errors='replace')}")
    except BaseException:
        process.kill()
        process.communicate()
        raise
    assert found, f"the run ended ({process.returncode}) before saying READY:\n{(output + rest).decode()}"
    return process.returncode, found.group(1).decode(), (output + rest).decode()


class RemoteServer(Server):
    """A steel-local whose browsers share neither this machine's disk nor its loopback, as a remote one.

    It runs in a mount namespace of its own in which the tests' temp root (``hidden``: pytest's
    base temp folder, where every Playwright driver of the tests keeps its downloads folder) is an
    empty tmpfs, so a download its browser writes there is not on the tests' disk; the rest of the
    file system stays, the project's source too, wherever it was cloned. Its Chromium sends
    every request, loopback included, to a proxy that goes nowhere (so ``127.0.0.1`` in its
    pages is not the test machine's). Its API stays on this machine's loopback.
    """

    @classmethod
    def start(cls, *args: str, hidden: Path, api_key: str | None = None, log_path: Path) -> RemoteServer:
        from pytest_steel._browser.chromium import find_chromium

        token = os.urandom(6).hex()
        home = Path(f"/var/tmp/pytest-steel-remote-{token}")  # outside /tmp: the namespace sees it
        home.mkdir()
        found = find_chromium()
        binary = found.headless_shell or found.full
        assert binary is not None
        wrapper = home / "chromium-headless-shell" if binary.is_headless_shell else home / "chromium"
        wrapper.write_text(
            "#!/bin/sh\n"
            f"exec {binary.path} --proxy-server=http://127.0.0.1:9 --proxy-bypass-list='<-loopback>' \"$@\"\n"
        )
        wrapper.chmod(0o755)
        inside = home / "tmp"  # the server's TMPDIR: its browsers' paths name it
        inside.mkdir()
        namespace = [
            "unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
            f'mount -t tmpfs tmpfs "{hidden}" && exec "$@"', "sh",
        ]  # fmt: skip
        env = {**os.environ, "TMPDIR": str(inside), "STEEL_CHROMIUM": str(wrapper)}
        launcher = LocalServerProcess(
            ["--port", "0", "--pool-size", "0", *args], api_key=api_key, env=env, log_path=log_path, wrapper=namespace
        )
        launcher.start()
        server = cls(launcher, inside, api_key)
        server.home = home
        return server

    home: Path
    left: list[str]

    def stop(self, sig: int = signal.SIGTERM) -> int:
        try:
            return super().stop(sig)
        finally:
            self.left = self.leftovers()
            shutil.rmtree(self.home, ignore_errors=True)
