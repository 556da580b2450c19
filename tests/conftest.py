"""Shared fixtures: real steel-local servers, a loopback page server, process inspection."""

from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from pytest_steel.local import LocalServerProcess

pytest_plugins = ["pytester"]


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
            if "pytest_steel.local._watchdog" in child.cmdline():
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


def wait_until_gone(processes: list[psutil.Process], timeout: float = 10.0) -> list[psutil.Process]:
    """Processes still alive after the timeout; zombies count as gone."""
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    return [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


StartServer = Callable[..., Server]


@pytest.fixture(scope="session", autouse=True)
def playwright_tmpdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """In-process Playwright drivers get their own TMPDIR: a driver whose browser connection is dropped
    under it (as these tests do on purpose) leaves its empty artifacts folder behind, and /tmp is not ours."""
    path = tmp_path_factory.mktemp("playwright-tmp")
    before = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(path)
    yield
    if before is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = before


@pytest.fixture
def start_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartServer]:
    """Start steel-local processes for one test; each is stopped, and checked for leaks, at teardown."""
    started: list[Server] = []

    def start(*args: str, api_key: str | None = None, env: dict[str, str] | None = None) -> Server:
        tmpdir = tmp_path_factory.mktemp("server-tmp")
        logs = tmp_path_factory.mktemp("server-log") / "steel-local.log"
        full_env = {**os.environ, "TMPDIR": str(tmpdir), **(env or {})}
        if not any(arg.startswith("--pool-size") for arg in args):
            args = ("--pool-size", "0", *args)  # tests count a session's browser processes exactly; pool tests opt in
        launcher = LocalServerProcess(["--port", "0", *args], api_key=api_key, env=full_env, log_path=logs)
        launcher.start()
        server = Server(launcher, tmpdir, api_key)
        started.append(server)
        return server

    yield start
    for server in started:
        if server.launcher.process and server.launcher.process.poll() is None:
            assert server.stop() == 0, server.log()
        assert wait_until_gone(server.browsers()) == []
        assert server.leftovers() == []


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server shared by a module's tests, which release what they create."""
    tmpdir = tmp_path_factory.mktemp("shared-tmp")
    logs = tmp_path_factory.mktemp("shared-log") / "steel-local.log"
    launcher = LocalServerProcess(
        ["--port", "0", "--pool-size", "0"], env={**os.environ, "TMPDIR": str(tmpdir)}, log_path=logs
    )
    launcher.start()
    shared = Server(launcher, tmpdir, None)
    yield shared
    assert shared.stop() == 0, shared.log()
    assert wait_until_gone(shared.browsers()) == []
    assert shared.leftovers() == []


@pytest.fixture
def fresh(server: Server) -> Iterator[Server]:
    """The shared server, with every session a test left live released afterwards."""
    yield server
    server.http.post("/v1/sessions/release")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A loopback HTTP server for test pages; returns its base URL."""
    root = tmp_path_factory.mktemp("pages")
    (root / "index.html").write_text("<!doctype html><title>Steel test page</title><h1 id=greeting>Hello</h1>")
    (root / "form.html").write_text(
        "<!doctype html><title>Form</title><form action=done.html><input name=who><button>Send</button></form>"
    )
    (root / "done.html").write_text(
        "<!doctype html><title>Done</title><p id=who></p>"
        "<script>document.getElementById('who').textContent = new URLSearchParams(location.search).get('who')</script>"
    )
    handler = lambda *a, **kw: _QuietHandler(*a, directory=str(root), **kw)  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def xvfb_display() -> Iterator[str]:
    """A virtual X display for headed sessions; Xvfb says on a pipe when it is ready."""
    import shutil
    import subprocess

    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb)")
    read_end, write_end = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-nolisten", "tcp", "-screen", "0", "1600x1200x24"],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    try:
        with os.fdopen(read_end) as ready:
            number = ready.readline().strip()  # Xvfb writes the display number once it accepts clients
        assert number.isdigit(), "Xvfb did not start"
        yield f":{number}"
    finally:
        xvfb.terminate()
        xvfb.wait(10)


class FaultProxy:
    """A loopback HTTP server that plays a script of faults, then forwards to a real server.

    Each request takes the next action from ``script`` (default ``forward``):
    a status code to answer with (``"500"``, ``"429"``), ``"drop"`` (forward,
    then close the connection unanswered: the server acted, the client never
    hears), ``"hang"`` (never answer) or ``"forward"``. ``requests`` records
    what arrived, and ``headers`` what every answer should carry.
    """

    def __init__(self, upstream: str | None) -> None:
        self.upstream = upstream
        self.script: list[str] = []
        self.requests: list[tuple[str, str, dict]] = []
        self.answer_headers: dict[str, str] = {}
        self.answer_body: dict = {"message": "injected fault"}
        self.fail_paths: dict[str, str] = {}  # path fragment -> status, for every matching request
        self.release = threading.Event()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else {}
                proxy.requests.append((self.command, self.path, body))
                action = proxy.script.pop(0) if proxy.script else "forward"
                action = next((v for k, v in proxy.fail_paths.items() if k in self.path), action)
                if action == "hang":
                    proxy.release.wait(30)
                    self.close_connection = True
                    return
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
                if action == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.send_response(answer.status_code)
                self.send_header("content-type", answer.headers.get("content-type", "application/json"))
                self.send_header("content-length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = _handle

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def paths(self) -> list[str]:
        return [f"{method} {path.split('?')[0]}" for method, path, _ in self.requests]

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fault_proxy() -> Iterator[Callable[[str | None], FaultProxy]]:
    """Start FaultProxy servers (forwarding to a URL, or to nothing) for one test."""
    started: list[FaultProxy] = []

    def start(upstream: str | None = None) -> FaultProxy:
        proxy = FaultProxy(upstream)
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.close()


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


def _backend(
    kind: str, start_server: StartServer, monkeypatch: pytest.MonkeyPatch, tmp_path_factory
) -> Iterator[Backend]:
    for name in ("STEEL_BASE_URL", "STEEL_API_KEY", "STEEL_CHROMIUM"):
        monkeypatch.delenv(name, raising=False)
    tmpdir = tmp_path_factory.mktemp("run-tmp")
    monkeypatch.setenv("TMPDIR", str(tmpdir))  # the embedded server's browsers live under it
    if kind == "embedded":
        chosen = Backend("embedded", [], None, tmpdir)
    else:
        server = start_server()
        chosen = Backend("base-url", ["--steel-base-url", server.url], server, tmpdir)
    yield chosen
    assert chosen.live_sessions() == []
    assert wait_until_gone(live_processes_mentioning(str(tmpdir))) == []
    assert [p.name for p in tmpdir.iterdir() if not p.name.startswith("pytest-of-")] == []


@pytest.fixture(params=["embedded", "base-url"])
def backend(
    request: pytest.FixtureRequest, start_server: StartServer, monkeypatch, tmp_path_factory
) -> Iterator[Backend]:
    """Where the inline project's sessions run; after the test, nothing of it may be left running."""
    yield from _backend(request.param, start_server, monkeypatch, tmp_path_factory)


@pytest.fixture
def embedded_backend(start_server: StartServer, monkeypatch, tmp_path_factory) -> Iterator[Backend]:
    """The embedded server only, with the same checks as ``backend``."""
    yield from _backend("embedded", start_server, monkeypatch, tmp_path_factory)
