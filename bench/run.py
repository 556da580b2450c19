"""pytest-steel against pytest-playwright, measured in one run on one machine.

    python bench/run.py                  # the figures in docs/benchmarks.md
    python bench/run.py --tests 20 --repeat 1 --sessions 50   # a quick look

Generates one suite of N trivial page tests (goto a loopback page, assert its title)
and runs it with pytest-playwright's ``page`` (the baseline: one shared browser, a
new context per test, on the same browser binary) and with ``steel_page`` in each
mode. Per-test wall is the time from the first test's setup to the last test's
teardown, divided by N: it leaves out interpreter start-up and collection, which both
pay alike, and keeps in each plugin's own start (launching the shared browser, or the
embedded server). Every figure is the median of --repeat runs, and every ratio is
against the baseline of this same run. Then, straight against a steel-local: create
and release latency percentiles with a warm pool, the server's RSS over many
sequential sessions, and the start-up cost of the installed plugin on a suite that
uses no Steel fixture.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil

from pytest_steel import SteelClient
from pytest_steel._chromium import find_chromium
from pytest_steel.local import LocalServerProcess

PAGE = "<!doctype html><title>bench</title><h1>hello</h1>"
TESTS_PER_MODULE = 10

CONFTEST = textwrap.dedent(
    """
    import http.server, json, os, threading, time
    import pytest

    PAGE = {page!r}.encode()
    CHROMIUM = {chromium!r}
    FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync"]


    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)

        def log_message(self, *args):
            pass


    @pytest.fixture(scope="session")
    def url():
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield f"http://127.0.0.1:{{server.server_address[1]}}/"
        server.shutdown()


    @pytest.fixture(scope="session")
    def browser_type_launch_args(browser_type_launch_args):
        # pytest-playwright's own launch, on the same binary the embedded server uses
        return {{**browser_type_launch_args, "executable_path": CHROMIUM, "args": FLAGS}}


    _span = {{}}


    def pytest_runtest_setup(item):
        _span.setdefault("start", time.time())


    def pytest_runtest_logreport(report):
        if report.when == "teardown":
            _span["end"] = time.time()


    def pytest_sessionfinish(session):
        if "start" in _span and "end" in _span:
            worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
            with open(os.path.join({timing_dir!r}, worker + ".json"), "w") as f:
                json.dump(_span, f)
    """
)

TEST = textwrap.dedent(
    """
    import pytest

    @pytest.mark.parametrize("n", range({count}))
    def test_page({fixture}, url, n):
        {fixture}.goto(url)
        assert {fixture}.title() == "bench"
    """
)

MODES = {
    "pytest-playwright (baseline)": ("page", ["-p", "no:steel"]),
    "steel: fresh session per test": ("steel_page", ["-p", "no:playwright"]),
    "steel: per-module session": ("steel_page", ["-p", "no:playwright", "--steel-session-scope", "module"]),
    "steel: fresh session per test, -n 2": ("steel_page", ["-p", "no:playwright", "-n", "2"]),
    "pytest-playwright, -n 2": ("page", ["-p", "no:steel", "-n", "2"]),
}


def write_suite(root: Path, fixture: str, tests: int, chromium: str, timing_dir: Path) -> None:
    for old in root.glob("test_*.py"):
        old.unlink()
    (root / "conftest.py").write_text(CONFTEST.format(page=PAGE, chromium=chromium, timing_dir=str(timing_dir)))
    for module, start in enumerate(range(0, tests, TESTS_PER_MODULE)):
        count = min(TESTS_PER_MODULE, tests - start)
        (root / f"test_pages_{module}.py").write_text(TEST.format(count=count, fixture=fixture))


def run_suite(root: Path, args: list[str], tests: int, timing_dir: Path) -> float:
    """Seconds per test, from the first setup to the last teardown (across workers)."""
    for old in timing_dir.glob("*.json"):
        old.unlink()
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", *args]
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=900)
    if done.returncode != 0 or f"{tests} passed" not in done.stdout:
        raise SystemExit(f"{' '.join(args)} did not pass:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    spans = [json.loads(p.read_text()) for p in timing_dir.glob("*.json")]
    return (max(s["end"] for s in spans) - min(s["start"] for s in spans)) / tests


def suite_figures(tests: int, repeat: int, chromium: str) -> dict[str, float]:
    medians: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="steel-bench-") as tmp:
        root, timing = Path(tmp) / "suite", Path(tmp) / "timing"
        root.mkdir()
        timing.mkdir()
        samples: dict[str, list[float]] = {mode: [] for mode in MODES}
        for _ in range(repeat):  # interleaved, so that drift on the machine hits every mode alike
            for mode, (fixture, args) in MODES.items():
                write_suite(root, fixture, tests, chromium, timing)
                samples[mode].append(run_suite(root, args, tests, timing))
        for mode, values in samples.items():
            medians[mode] = statistics.median(values)
    return medians


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def server_figures(sessions: int, test_seconds: float) -> dict[str, float]:
    """Create and release latency (warm pool) and RSS growth over ``sessions`` sequential sessions."""
    server = LocalServerProcess(["--log-level", "warning"])
    url = server.start()
    process = psutil.Process(server.pid)
    creates: list[float] = []
    releases: list[float] = []
    try:
        with SteelClient(url) as client:
            time.sleep(2)  # let the pool fill, as it does while pytest collects
            rss_start = 0.0
            for index in range(sessions):
                started = time.perf_counter()
                session = client.create(timeout=60_000)
                creates.append(time.perf_counter() - started)
                time.sleep(test_seconds)  # a test runs; the pool refills meanwhile
                started = time.perf_counter()
                client.release(session.id)
                releases.append(time.perf_counter() - started)
                if index == min(20, sessions - 1):  # after warm-up: caches, pools, history allocated
                    rss_start = process.memory_info().rss
            rss_end = process.memory_info().rss
    finally:
        server.stop()
    return {
        "create p50 ms": percentile(creates, 0.5) * 1000,
        "create p90 ms": percentile(creates, 0.9) * 1000,
        "create max ms": max(creates) * 1000,
        "release p50 ms": percentile(releases, 0.5) * 1000,
        "release p90 ms": percentile(releases, 0.9) * 1000,
        "release max ms": max(releases) * 1000,
        "server RSS growth MB": (rss_end - rss_start) / 2**20,
    }


def startup_figures(repeat: int) -> dict[str, float]:
    """``pytest --collect-only`` on a suite without Steel fixtures, plugin on and off (-p no:steel)."""
    with tempfile.TemporaryDirectory(prefix="steel-bench-startup-") as tmp:
        root = Path(tmp)
        for module in range(20):
            (root / f"test_plain_{module}.py").write_text(
                "\n".join(f"def test_{n}():\n    assert {n} + 1 == {n + 1}\n" for n in range(25))
            )
        samples: dict[str, list[float]] = {"on": [], "off": []}
        base = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
        for _ in range(repeat):
            for name, extra in (("on", []), ("off", ["-p", "no:steel"])):
                started = time.perf_counter()
                subprocess.run([*base, *extra], cwd=root, capture_output=True, check=True, timeout=120)
                samples[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tests", type=int, default=40, help="tests in the generated suite (default 40)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each mode; medians are shown (default 3)")
    parser.add_argument("--sessions", type=int, default=300, help="sequential sessions for latency and RSS")
    parser.add_argument("--startup-repeat", type=int, default=15, help="collect-only runs each way (default 15)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    options = parser.parse_args()

    chromium = find_chromium(os.environ.get("STEEL_CHROMIUM")).for_session(headless=True)
    print(f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, {platform.platform()}")
    print(f"python {platform.python_version()}, browser {chromium.path}")
    print(f"suite: {options.tests} tests, median of {options.repeat} runs each\n")

    suites = suite_figures(options.tests, options.repeat, str(chromium.path))
    baseline = suites["pytest-playwright (baseline)"]
    print(f"{'mode':40} {'per test':>10} {'ratio':>7}")
    for mode, seconds in suites.items():
        print(f"{mode:40} {seconds * 1000:8.0f} ms {seconds / baseline:7.2f}")

    server = server_figures(options.sessions, test_seconds=0.1)
    print(f"\nsteel-local, {options.sessions} sequential sessions, warm pool:")
    for name, value in server.items():
        print(f"  {name:24} {value:8.1f}")

    startup = startup_figures(options.startup_repeat)
    print(
        f"\nstart-up, collect-only of 500 tests without Steel fixtures: {startup['on'] * 1000:.0f} ms with the plugin, "
        f"{startup['off'] * 1000:.0f} ms with -p no:steel, ratio {startup['on'] / startup['off']:.3f}"
    )
    if options.json:
        figures = {"suites_s_per_test": suites, "server": server, "startup_s": startup}
        options.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
