"""The remote case, measured: what --steel-expose-local costs, and a run on a plan's budget.

    python bench/remote.py               # both, with the figures docs/local-app.md and docs/plans.md quote
    python bench/remote.py --only expose

- expose: a local page with 20 assets (20 KB each) loaded in a session's browser, N times,
  directly (the browser shares this machine: the embedded case) and through the exposure
  (the same browser, every request answered from here over the session's connection, as for a
  remote one). The ratio is the exposure's cost; the target is at most 1.5.
- public: a page with 50 assets (cacheable) from a host that is NOT exposed, in a session's
  browser over a CDP link that holds every message 20 ms each way (another machine), with the
  exposure on and off: on must cost nothing (target at most 1.05), and the second load of a
  page must be served from the browser's cache as often (the server counts what it is sent).
- plan: 100 fresh-session tests under ``-n 2`` against a plan stand-in (60 requests per
  rolling window, 3 live sessions, time-scaled ten times), the run's limiter on 60 a window.
  Prints the REST requests per session (target at most 2.0) and the wall time against the
  floor the plan allows (requests / rate; target at most 1.2).
"""

from __future__ import annotations

import argparse
import http.server
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ASSETS = 20
PUBLIC_ASSETS = 50
ASSET_BYTES = 20 * 1024


def _app(assets: int = ASSETS, cache: bool = False) -> tuple[str, http.server.ThreadingHTTPServer, list[str]]:
    """A page of ``assets`` scripts; every request it is sent is recorded (the cache's share is what it never sees)."""
    page = "<!doctype html><title>assets</title>" + "".join(f"<script src=/a{i}.js></script>" for i in range(assets))
    asset = b"//" + b"x" * ASSET_BYTES + b"\nwindow.loaded = (window.loaded || 0) + 1;\n"
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            hits.append(self.path)
            document = self.path.split("?")[0] == "/"
            body = page.encode() if document else asset
            self.send_response(200)
            self.send_header("content-type", "text/html" if document else "application/javascript")
            self.send_header("cache-control", "max-age=3600" if cache and not document else "no-store")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/", server, hits


def _relayed(playwright: Any, client: Any, session: Any, exposure: Any, delay_s: float = 0.0) -> Any:
    """A browser connected as a remote session's is: through the relay (with ``exposure``, or none), and a delay."""
    from pytest_steel._browser.relay import DownloadRelay

    upstream = str(client.cdp_url(session))
    if delay_s:
        upstream = _DelayLink(upstream, delay_s).start()
    relay = DownloadRelay()
    url, _ = relay.endpoint(upstream, lambda path, local: None, exposure)
    return playwright.chromium.connect_over_cdp(url)


class _DelayLink:
    """A WebSocket hop that holds every message ``delay_s`` each way, in order: a CDP link to another machine."""

    def __init__(self, upstream: str, delay_s: float) -> None:
        self.upstream, self.delay_s = upstream, delay_s

    def start(self) -> str:
        import asyncio

        ready = threading.Event()
        self.port = 0

        async def pump(source: Any, sink: Any) -> None:
            from aiohttp import WSMsgType

            queue: asyncio.Queue[tuple[float, Any]] = asyncio.Queue()

            async def send() -> None:
                while True:
                    due, message = await queue.get()
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
                    if message.type == WSMsgType.TEXT:
                        await sink.send_str(message.data)
                    else:
                        await sink.send_bytes(message.data)

            sender = asyncio.ensure_future(send())
            async for message in source:
                if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    queue.put_nowait((time.monotonic() + self.delay_s, message))
            sender.cancel()

        async def handle(request: Any) -> Any:
            from aiohttp import ClientSession, web

            driver = web.WebSocketResponse(max_msg_size=0)
            await driver.prepare(request)
            async with ClientSession() as http, http.ws_connect(self.upstream, max_msg_size=0) as browser:
                await asyncio.wait(
                    [asyncio.ensure_future(pump(driver, browser)), asyncio.ensure_future(pump(browser, driver))],
                    return_when=asyncio.FIRST_COMPLETED,
                )
            return driver

        async def serve() -> None:
            from aiohttp import web

            app = web.Application()
            app.router.add_get("/", handle)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            self.port = runner.addresses[0][1]
            ready.set()
            await asyncio.Event().wait()

        threading.Thread(target=lambda: asyncio.run(serve()), daemon=True).start()
        ready.wait(10)
        return f"ws://127.0.0.1:{self.port}/"


def expose(loads: int) -> float:
    """A local page's 20 assets answered through the exposure, against the same browser loading them itself."""
    from playwright.sync_api import sync_playwright

    from pytest_steel import SteelClient
    from pytest_steel._browser.expose import LocalExposure
    from pytest_steel.local import LocalServerProcess

    url, app, _ = _app()
    times: dict[str, list[float]] = {"direct": [], "exposed": []}
    with LocalServerProcess(["--port", "0", "--pool-size", "0"]) as server:
        base = server.start()
        with SteelClient(base) as client, sync_playwright() as playwright:
            sessions = {mode: client.create() for mode in times}
            pages = {}
            for mode, session in sessions.items():
                exposure = LocalExposure() if mode == "exposed" else None
                browser = _relayed(playwright, client, session, exposure)
                pages[mode] = browser.contexts[0].pages[0]
            for _ in range(loads + 2):  # interleaved; the first two of each are a warm-up
                for mode, page in pages.items():
                    started = time.perf_counter()
                    page.goto(url)
                    page.wait_for_function(f"window.loaded === {ASSETS}")
                    times[mode].append(time.perf_counter() - started)
            for session in sessions.values():
                client.release(session.id)
    app.shutdown()
    direct, exposed = (statistics.median(times[m][2:]) for m in ("direct", "exposed"))
    ratio = exposed / direct
    print(
        f"expose: a page with {ASSETS} assets, median of {loads}: direct {direct * 1000:.1f} ms, "
        f"through --steel-expose-local {exposed * 1000:.1f} ms, ratio {ratio:.2f} (target <= 1.5: "
        f"{'met' if ratio <= 1.5 else 'not met'})"
    )
    return ratio


class _NamedOnly:
    """An exposure of one named host alone, so that the bench's page, on 127.0.0.1, is a host it does not expose."""

    def __new__(cls) -> Any:
        from pytest_steel._browser.expose import LocalExposure

        class NamedOnly(LocalExposure):
            def is_local(self, url: str) -> bool:
                return "://app.test" in url

            def fetch_patterns(self) -> list[dict[str, str]]:
                return [{"urlPattern": "http://app.test*", "requestStage": "Request"}]

        return NamedOnly(("app.test",))


def public(loads: int, delay_ms: float) -> float:
    """A page of 50 assets from a host that is not exposed, over a CDP link with a delay: exposure on against off."""
    from playwright.sync_api import sync_playwright

    from pytest_steel import SteelClient
    from pytest_steel.local import LocalServerProcess

    url, app, hits = _app(assets=PUBLIC_ASSETS, cache=True)
    # "route": what a Playwright route of one other host costs (the exposure before 0.2 was one): for comparison
    times: dict[str, list[float]] = {"off": [], "on": [], "route": []}
    second: dict[str, int] = {}
    with LocalServerProcess(["--port", "0", "--pool-size", "0"]) as server:
        base = server.start()
        with SteelClient(base) as client, sync_playwright() as playwright:
            sessions = {mode: client.create() for mode in times}
            pages = {}
            for mode, session in sessions.items():
                exposure = _NamedOnly() if mode == "on" else None
                browser = _relayed(playwright, client, session, exposure, delay_ms / 1000)
                if mode == "route":
                    browser.contexts[0].route("http://app.test/**", lambda route: route.continue_())
                pages[mode] = browser.contexts[0].pages[0]
            for mode, page in pages.items():  # the first load fills the cache; the second should not ask again
                page.goto(url + f"?cached-{mode}")
                page.wait_for_function(f"window.loaded === {PUBLIC_ASSETS}")
                before = len(hits)
                page.goto(url + f"?cached-{mode}")
                page.wait_for_function(f"window.loaded === {PUBLIC_ASSETS}")
                second[mode] = len(hits) - before
            for n in range(loads + 2):  # interleaved; the first two of each are a warm-up; a fresh URL each time
                for mode, page in pages.items():
                    started = time.perf_counter()
                    page.goto(url + f"?{mode}-{n}")
                    page.wait_for_function(f"window.loaded === {PUBLIC_ASSETS}")
                    times[mode].append(time.perf_counter() - started)
            for session in sessions.values():
                client.release(session.id)
    app.shutdown()
    off, on, routed = (statistics.median(times[m][2:]) for m in ("off", "on", "route"))
    ratio = on / off
    print(
        f"public: a page with {PUBLIC_ASSETS} assets from a host not exposed, CDP link +{delay_ms:.0f} ms each way, "
        f"median of {loads}: exposure off {off * 1000:.1f} ms, on {on * 1000:.1f} ms, ratio {ratio:.2f} "
        f"(target <= 1.05: {'met' if ratio <= 1.05 else 'not met'}); a Playwright route of another host "
        f"{routed * 1000:.1f} ms, ratio {routed / off:.2f}"
    )
    print(
        f"public: requests the second load sent to the server (the rest from the cache): exposure off "
        f"{second['off']}, on {second['on']} ({'as often' if second['off'] == second['on'] else 'NOT as often'}); "
        f"a Playwright route {second['route']}"
    )
    return ratio


def plan(tests: int) -> None:
    from pytest_steel.local import LocalServerProcess
    from tests._plan import PlanStandIn

    window, rate = 6.0, 60
    with LocalServerProcess(["--port", "0", "--pool-size", "2"]) as server, tempfile.TemporaryDirectory() as folder:
        stand_in = PlanStandIn(server.start(), rate=rate, window_s=window, sessions=3)
        Path(folder, "test_fresh.py").write_text(
            f"import pytest\n\n@pytest.mark.parametrize('n', range({tests}))\n"
            "def test_fresh(steel_session, n):\n    assert steel_session.is_live\n"
        )
        env = {**__import__("os").environ, "STEEL_RATE_WINDOW_S": str(window), "STEEL_BASE_URL": stand_in.url}
        started = time.monotonic()
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-n",
                "2",
                "--steel-max-requests-per-minute",
                str(rate),
                "-p",
                "no:playwright",
                "-p",
                "no:cacheprovider",
            ],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        ).stdout
        wall = time.monotonic() - started
        stand_in.close()
    found = re.search(r"REST requests (\d+) \(([\d.]+) per session\)", out)
    assert found, out[-2000:]
    requests, per = int(found.group(1)), float(found.group(2))
    floor = requests / (rate / window)
    print(
        f"plan: {tests} fresh-session tests, -n 2: {requests} REST requests, {per:.2f} per session "
        f"(target <= 2.0: {'met' if per <= 2.0 else 'not met'}); 429s met {len(stand_in.refused)}"
    )
    print(
        f"plan: wall {wall:.1f} s against the plan's floor {floor:.1f} s (requests / rate), ratio "
        f"{wall / floor:.2f} (target <= 1.2: {'met' if wall / floor <= 1.2 else 'not met'}); the wall time "
        "includes pytest's start-up and collection, which the floor does not"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["expose", "public", "plan"])
    parser.add_argument("--delay-ms", type=float, default=20.0, help="the CDP link's delay each way, for public")
    parser.add_argument("--loads", type=int, default=20)
    parser.add_argument("--tests", type=int, default=100)
    args = parser.parse_args()
    if args.only in (None, "expose"):
        expose(args.loads)
    if args.only in (None, "public"):
        public(args.loads, args.delay_ms)
    if args.only in (None, "plan"):
        plan(args.tests)


if __name__ == "__main__":
    main()
