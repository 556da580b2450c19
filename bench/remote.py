"""The remote case, measured: what --steel-expose-local costs, and a run on a plan's budget.

    python bench/remote.py               # both, with the figures docs/local-app.md and docs/plans.md quote
    python bench/remote.py --only expose

- expose: a local page with 20 assets (20 KB each) loaded in a session's browser, N times,
  directly (the browser shares this machine: the embedded case) and through the exposure
  (the same browser, every request answered from here over the session's connection, as for a
  remote one). The ratio is the exposure's cost; the target is at most 1.5.
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ASSETS = 20
ASSET_BYTES = 20 * 1024


def _app() -> tuple[str, http.server.ThreadingHTTPServer]:
    page = "<!doctype html><title>assets</title>" + "".join(f"<script src=/a{i}.js></script>" for i in range(ASSETS))
    asset = b"//" + b"x" * ASSET_BYTES + b"\nwindow.loaded = (window.loaded || 0) + 1;\n"

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = page.encode() if self.path == "/" else asset
            self.send_response(200)
            self.send_header("content-type", "text/html" if self.path == "/" else "application/javascript")
            self.send_header("cache-control", "no-store")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/", server


def expose(loads: int) -> float:
    from playwright.sync_api import sync_playwright

    from pytest_steel import SteelClient
    from pytest_steel._browser.expose import LocalExposure
    from pytest_steel.local import LocalServerProcess

    url, app = _app()
    times: dict[str, list[float]] = {"direct": [], "exposed": []}
    with LocalServerProcess(["--port", "0", "--pool-size", "0"]) as server:
        base = server.start()
        with SteelClient(base) as client, sync_playwright() as playwright:
            sessions = {mode: client.create() for mode in times}
            pages = {}
            for mode, session in sessions.items():
                browser = playwright.chromium.connect_over_cdp(str(client.cdp_url(session)))
                if mode == "exposed":
                    LocalExposure().attach(browser)
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
    parser.add_argument("--only", choices=["expose", "plan"])
    parser.add_argument("--loads", type=int, default=20)
    parser.add_argument("--tests", type=int, default=100)
    args = parser.parse_args()
    if args.only in (None, "expose"):
        expose(args.loads)
    if args.only in (None, "plan"):
        plan(args.tests)


if __name__ == "__main__":
    main()
