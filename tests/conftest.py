"""Shared fixtures: real steel-local servers, a loopback page server, process inspection."""

from __future__ import annotations

import html
import http.server
import json
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpcore  # noqa: F401 - imported before any pytester snapshot: see pytest_plugins below
import pytest

from pytest_steel.local import LocalServerProcess

from ._steel_browser import SteelBrowserStandIn
from ._support import (
    Backend,
    FaultProxy,
    ProxiedServer,
    RemoteServer,
    Server,
    StartServer,
    live_processes_mentioning,
    wait_until_gone,
)

# pytester removes modules first imported during a test when the test ends. httpx imports httpcore lazily and maps
# httpcore's exceptions by class: a second import of httpcore would leave its errors unmapped. Hence the import above.
pytest_plugins = ["pytester"]


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


@pytest.fixture(scope="session")
def remote_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RemoteServer]:
    """A steel-local shared by the remote-case tests: its browsers share neither this disk nor this loopback."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("the remote case needs root and unshare, for a mount namespace of its own")
    logs = tmp_path_factory.mktemp("remote-log") / "steel-local.log"
    hidden = tmp_path_factory.getbasetemp()
    remote = RemoteServer.start(hidden=hidden, api_key="remote-key-" + os.urandom(8).hex(), log_path=logs)
    yield remote
    assert remote.stop() == 0, remote.log()
    assert wait_until_gone(remote.browsers()) == []
    assert remote.left == []  # what it left in its TMPDIR, seen before its folder is removed


@pytest.fixture
def fresh(server: Server) -> Iterator[Server]:
    """The shared server, with every session a test left live released afterwards."""
    yield server
    server.http.post("/v1/sessions/release")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.split("?")[0] != "/headers":
            return super().do_GET()
        # What the browser sent, lower-cased, as a page: tests of context options read it.
        headers = {name.lower(): value for name, value in self.headers.items()}
        body = f"<!doctype html><title>headers</title><pre>{html.escape(json.dumps(headers))}</pre>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


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


@pytest.fixture
def proxied_server(start_server: StartServer, fault_proxy: Callable[[str | None], FaultProxy]) -> ProxiedServer:
    """A steel-local of its own behind the loopback fault proxy: script faults on the proxy, look at the server."""
    server = start_server()
    return server, fault_proxy(server.url)


@pytest.fixture
def stand_in() -> Iterator[SteelBrowserStandIn]:
    """A loopback stand-in for a self-hosted steel-browser (one session at a time), closed after the test."""
    served = SteelBrowserStandIn()
    yield served
    served.close()


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


# Where Playwright keeps its browsers and ffmpeg (video needs it): read now, since pytester moves HOME.
PLAYWRIGHT_HOME = Path(os.environ.get("PLAYWRIGHT_BROWSERS_PATH") or Path.home() / ".cache" / "ms-playwright")


@pytest.fixture(scope="session")
def playwright_browsers(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PLAYWRIGHT_BROWSERS_PATH with Playwright's ffmpeg: the installed one, else the system's linked in place."""
    import playwright as package

    info = json.loads((Path(package.__file__).parent / "driver" / "package" / "browsers.json").read_text())
    ffmpeg = f"ffmpeg-{next(b['revision'] for b in info['browsers'] if b['name'] == 'ffmpeg')}/ffmpeg-linux"
    if (PLAYWRIGHT_HOME / ffmpeg).exists():
        return str(PLAYWRIGHT_HOME)
    system = shutil.which("ffmpeg")
    assert system, "video tests need ffmpeg: apt-get install ffmpeg (or playwright install ffmpeg)"
    home = tmp_path_factory.mktemp("ms-playwright")
    (home / ffmpeg).parent.mkdir()
    (home / ffmpeg).symlink_to(system)
    return str(home)
