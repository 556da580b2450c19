"""pytest-steel against pytest-playwright, measured in one run on one machine.

    python bench/run.py                  # the figures in docs/benchmarks.md
    python bench/run.py --tests 20 --repeat 1 --sessions 50   # a quick look
    python bench/run.py --only trivial   # one workload (trivial, interaction, single, remote, server, startup)

Suites, each run with pytest-playwright's ``page`` (the baseline: one shared
browser, a new context per test, on the same browser binary) and with ``steel_page``:

- trivial: N page tests (goto a loopback page, assert its title), in every mode;
- interaction: tests that fill and submit a form twenty times on a loopback page, a few
  hundred CDP round trips each: what the relay costs on real work;
- single: one trivial test, timed as a whole pytest process (start-up, collection and exit
  included): what a developer running the test at hand waits for;
- remote: the trivial suite against a standalone steel-local behind a loopback proxy
  that adds a fixed latency to every create (0, 500 ms, 2 s), with and without
  ``--steel-prefetch 2``; its ratios are against the same suite at 0 ms.

Per-test wall is the time from the first test's setup to the last test's teardown,
divided by N: it leaves out interpreter start-up and collection, which both pay alike,
and keeps in each plugin's own start. CPU per test is the CPU time of the whole run
(pytest, its Playwright driver, every browser, the embedded or standalone server, and
the processes a killed browser leaves orphaned, adopted as their subreaper on Linux),
start-up included, divided by N: what a 2-core machine runs out of, and unlike wall
time it does not depend on the number of cores. Every figure is the median of
--repeat runs (interleaved, so that drift hits every mode alike), and every ratio is
against the baseline of this same run. Then, straight against a steel-local: create and
release latency percentiles with a warm pool, the server's RSS over many sequential
sessions, and the start-up cost of the installed plugin on a suite that uses no Steel
fixture. Last, each target of docs/benchmarks.md, met or not, and a check that no
browser process and no temp directory was left behind.
"""

from __future__ import annotations

import argparse
import ctypes
import http.server
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from pytest_steel import SteelClient
from pytest_steel._browser.chromium import find_chromium
from pytest_steel.local import LocalServerProcess

PAGE = "<!doctype html><title>bench</title><h1>hello</h1>"
FORM = (
    "<!doctype html><title>form</title><input id=name><input id=email>"
    "<select id=kind><option>a</option><option>b</option></select>"
    "<button id=add onclick=\"const li = document.createElement('li'); "
    "li.textContent = [name.value, email.value, kind.value].join(' '); items.append(li); "
    'count.textContent = items.children.length">Add</button><ul id=items></ul><p id=count>0</p>'
)
TESTS_PER_MODULE = 10

CONFTEST = textwrap.dedent(
    """
    import http.server, json, os, threading, time
    import pytest

    PAGE = {page!r}.encode()
    FORM = {form!r}.encode()
    CHROMIUM = {chromium!r}
    FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync"]


    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = FORM if self.path.startswith("/form") else PAGE
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

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


TRIVIAL_TEST = textwrap.dedent(
    """
    import pytest

    @pytest.mark.parametrize("n", range({count}))
    def test_page({fixture}, url, n):
        {fixture}.goto(url)
        assert {fixture}.title() == "bench"
    """
)

INTERACTION_TEST = textwrap.dedent(
    """
    import pytest

    @pytest.mark.parametrize("n", range({count}))
    def test_form({fixture}, url, n):
        {fixture}.goto(url + "form")
        for i in range(20):
            {fixture}.fill("#name", f"user {{i}}")
            {fixture}.fill("#email", f"user{{i}}@example.test")
            {fixture}.select_option("#kind", "b" if i % 2 else "a")
            {fixture}.click("#add")
        assert {fixture}.text_content("#count") == "20"
    """
)

BASELINE = "pytest-playwright (baseline)"
PLAIN = ["-p", "no:playwright"]
TRIVIAL_MODES = {
    BASELINE: ("page", ["-p", "no:steel"]),
    "steel: fresh session per test": ("steel_page", PLAIN),
    "steel: per-module session": ("steel_page", [*PLAIN, "--steel-session-scope", "module"]),
    "steel: fresh session per test, -n 2": ("steel_page", [*PLAIN, "-n", "2"]),
    "pytest-playwright, -n 2": ("page", ["-p", "no:steel", "-n", "2"]),
}
INTERACTION_MODES = {
    BASELINE: ("page", ["-p", "no:steel"]),
    "steel: per-module session": ("steel_page", [*PLAIN, "--steel-session-scope", "module"]),
    "steel: fresh session per test": ("steel_page", PLAIN),
}
SINGLE_MODES = {  # one test, the whole pytest process
    BASELINE: ("page", ["-p", "no:steel"]),
    "steel: embedded server": ("steel_page", PLAIN),
}
REMOTE_BASE = "0 ms create latency (reference)"
REMOTE_MODES = {  # name: (added create latency in seconds, extra options)
    REMOTE_BASE: (0.0, []),
    "500 ms create latency": (0.5, []),
    "500 ms create latency, --steel-prefetch 2": (0.5, ["--steel-prefetch", "2"]),
    "2 s create latency, --steel-prefetch 2": (2.0, ["--steel-prefetch", "2"]),
}


@dataclass
class Figure:
    wall: float  # seconds per test
    cpu: float  # CPU seconds per test


def write_suite(root: Path, test: str, fixture: str, tests: int, chromium: str, timing_dir: Path) -> None:
    for old in root.glob("test_*.py"):
        old.unlink()
    conftest = CONFTEST.format(page=PAGE, form=FORM, chromium=chromium, timing_dir=str(timing_dir))
    (root / "conftest.py").write_text(conftest)
    for module, start in enumerate(range(0, tests, TESTS_PER_MODULE)):
        count = min(TESTS_PER_MODULE, tests - start)
        (root / f"test_pages_{module}.py").write_text(test.format(count=count, fixture=fixture))


_PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


def adopt_orphans() -> None:
    """Make this process the reaper of what the runs orphan, so that their CPU time is counted.

    A browser killed on release (the embedded server's way) leaves its zygote and renderers
    to die a moment later as orphans. An orphan goes to init, and its CPU time reaches no
    ``RUSAGE_CHILDREN`` here: a quarter to a third of a run's CPU went uncounted, more for
    the modes that kill more browsers. As Linux's child subreaper, this process adopts them,
    and reaping them (``reap_orphans``) adds their time to its children's. Elsewhere the CPU
    figures leave such orphans out.
    """
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def reap_orphans(keep: set[int], timeout: float = 10.0) -> None:
    """Wait, bounded, for the adopted processes to end, and reap them; children in ``keep`` are left alone."""
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        orphans = [child for child in psutil.Process().children() if child.pid not in keep]
        if not orphans:
            return
        psutil.wait_procs(orphans, timeout=remaining)  # reaps those that are our children


def _cpu_of(process: psutil.Process | None) -> float:
    """A process's CPU time, its reaped children's included (a server's browsers)."""
    if process is None:
        return 0.0
    times = process.cpu_times()
    return times.user + times.system + times.children_user + times.children_system


def run_suite(
    root: Path,
    args: list[str],
    tests: int,
    timing_dir: Path,
    also: psutil.Process | None = None,
    *,
    whole: bool = False,
) -> Figure:
    """Wall seconds per test, from the first setup to the last teardown (across workers), and CPU seconds per test.

    ``also`` is a server outside the run whose CPU counts too (the remote suite's steel-local);
    ``whole`` takes the wall time of the whole process instead, start-up and exit included.
    """
    for old in timing_dir.glob("*.json"):
        old.unlink()
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before = _cpu_of(also)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=900)
    elapsed = time.perf_counter() - started
    reap_orphans(keep=set() if also is None else {also.pid})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime) + _cpu_of(also) - server_before
    if done.returncode != 0 or f"{tests} passed" not in done.stdout:
        raise SystemExit(f"{' '.join(args)} did not pass:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    if whole:
        return Figure(elapsed / tests, cpu / tests)
    spans = [json.loads(p.read_text()) for p in timing_dir.glob("*.json")]
    return Figure((max(s["end"] for s in spans) - min(s["start"] for s in spans)) / tests, cpu / tests)


def _medians(samples: dict[str, list[Figure]]) -> dict[str, Figure]:
    return {
        mode: Figure(statistics.median(f.wall for f in values), statistics.median(f.cpu for f in values))
        for mode, values in samples.items()
    }


def suite_figures(
    test: str,
    modes: dict[str, tuple[str, list[str]]],
    tests: int,
    repeat: int,
    chromium: str,
    *,
    whole: bool = False,
) -> dict[str, Figure]:
    with tempfile.TemporaryDirectory(prefix="steel-bench-") as tmp:
        root, timing = Path(tmp) / "suite", Path(tmp) / "timing"
        root.mkdir()
        timing.mkdir()
        samples: dict[str, list[Figure]] = {mode: [] for mode in modes}
        for _ in range(repeat):  # interleaved, so that drift on the machine hits every mode alike
            for mode, (fixture, args) in modes.items():
                write_suite(root, test, fixture, tests, chromium, timing)
                samples[mode].append(run_suite(root, args, tests, timing, whole=whole))
    return _medians(samples)


class LatencyProxy:
    """A loopback proxy in front of a Steel server that holds every create for ``delay`` seconds.

    Creates are held in parallel (a thread each), as a remote backend answers concurrent
    creates. Only the REST API passes through it: the sessions' CDP URLs name the server
    itself, as a cloud's name its own CDP hosts.
    """

    def __init__(self, upstream: str) -> None:
        self.delay = 0.0
        proxy = self
        client = httpx.Client(base_url=upstream, timeout=60)

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if self.command == "POST" and self.path == "/v1/sessions":
                    time.sleep(proxy.delay)
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "steel-api-key")}
                answer = client.request(self.command, self.path, content=body, headers=headers)
                self.send_response(answer.status_code)
                self.send_header("content-type", answer.headers.get("content-type", "application/json"))
                self.send_header("content-length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_DELETE = _forward

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def remote_figures(tests: int, repeat: int, chromium: str) -> dict[str, Figure]:
    """The trivial suite, a fresh session per test, against a standalone steel-local behind the latency proxy."""
    server = LocalServerProcess(["--log-level", "warning"])
    url = server.start()
    proxy = LatencyProxy(url)
    process = psutil.Process(server.pid)
    try:
        with tempfile.TemporaryDirectory(prefix="steel-bench-") as tmp:
            root, timing = Path(tmp) / "suite", Path(tmp) / "timing"
            root.mkdir()
            timing.mkdir()
            write_suite(root, TRIVIAL_TEST, "steel_page", tests, chromium, timing)
            samples: dict[str, list[Figure]] = {mode: [] for mode in REMOTE_MODES}
            for _ in range(repeat):
                for mode, (delay, extra) in REMOTE_MODES.items():
                    proxy.delay = delay
                    args = [*PLAIN, "--steel-base-url", proxy.url, *extra]
                    samples[mode].append(run_suite(root, args, tests, timing, also=process))
    finally:
        proxy.close()
        server.stop()
    return _medians(samples)


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


WORKLOADS = ("trivial", "interaction", "single", "remote", "server", "startup")


def print_suite(title: str, figures: dict[str, Figure], reference: str) -> None:
    base = figures[reference]
    print(f"\n{title}")
    print(f"  {'mode':46} {'per test':>9} {'ratio':>6} {'CPU/test':>9} {'ratio':>6}")
    for mode, figure in figures.items():
        print(
            f"  {mode:46} {figure.wall * 1000:6.0f} ms {figure.wall / base.wall:6.2f} "
            f"{figure.cpu * 1000:6.0f} ms {figure.cpu / base.cpu:6.2f}"
        )


TEMP_PATTERNS = ("steel-local-*", "steel-bench-*", "pytest-steel-*", "playwright-*")


def temp_entries() -> set[Path]:
    temp = Path(tempfile.gettempdir())
    return {p for pattern in TEMP_PATTERNS for p in temp.glob(pattern)}


def leftovers(processes_before: set[int], temp_before: set[Path]) -> list[str]:
    """Browser processes and temp directories the benchmark left: there must be none."""
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or ())
        if process.info["pid"] not in processes_before and ("chrom" in cmdline or "steel-local" in cmdline):
            found.append(f"process {process.info['pid']}: {cmdline[:100]}")
    return found + sorted(str(p) for p in temp_entries() - temp_before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tests", type=int, default=40, help="tests in the trivial suite (default 40)")
    parser.add_argument("--heavy-tests", type=int, default=20, help="tests in the interaction suite (default 20)")
    parser.add_argument("--remote-tests", type=int, default=20, help="tests in the remote suite (default 20)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each mode; medians are shown (default 3)")
    parser.add_argument("--single-repeat", type=int, default=9, help="runs of one test each way (default 9)")
    parser.add_argument("--sessions", type=int, default=300, help="sequential sessions for latency and RSS")
    parser.add_argument("--startup-repeat", type=int, default=15, help="collect-only runs each way (default 15)")
    parser.add_argument("--only", action="append", choices=WORKLOADS, help="run only these workloads (repeatable)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    options = parser.parse_args()
    only = set(options.only or WORKLOADS)
    before, temp_before = {p.pid for p in psutil.process_iter()}, temp_entries()
    adopt_orphans()

    chromium = str(find_chromium(os.environ.get("STEEL_CHROMIUM")).for_session(headless=True).path)
    print(f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, {platform.platform()}")
    print(f"python {platform.python_version()}, browser {chromium}; median of {options.repeat} runs each")
    figures: dict[str, object] = {}
    verdicts: list[tuple[str, str, bool]] = []

    def target(name: str, shown: str, met: bool) -> None:
        verdicts.append((name, shown, met))

    if "trivial" in only:
        trivial = suite_figures(TRIVIAL_TEST, TRIVIAL_MODES, options.tests, options.repeat, chromium)
        print_suite(f"trivial suite: {options.tests} tests (goto, title)", trivial, BASELINE)
        base = trivial[BASELINE].wall
        fresh = trivial["steel: fresh session per test"].wall / base
        module = trivial["steel: per-module session"].wall / base
        target("fresh session per test, trivial suite: at most 1.4x", f"{fresh:.2f}", fresh <= 1.4)
        target("per-module session, trivial suite: at most 1.0x", f"{module:.2f}", module <= 1.0)
        figures["trivial"] = {mode: vars(f) for mode, f in trivial.items()}
    if "interaction" in only:
        heavy = suite_figures(INTERACTION_TEST, INTERACTION_MODES, options.heavy_tests, options.repeat, chromium)
        print_suite(f"interaction suite: {options.heavy_tests} tests (20 form submissions each)", heavy, BASELINE)
        ratio = heavy["steel: per-module session"].wall / heavy[BASELINE].wall
        target("per-module session, interaction suite: at most 1.05x", f"{ratio:.2f}", ratio <= 1.05)
        figures["interaction"] = {mode: vars(f) for mode, f in heavy.items()}
    if "single" in only:
        single = suite_figures(TRIVIAL_TEST, SINGLE_MODES, 1, options.single_repeat, chromium, whole=True)
        print_suite("one test, the whole pytest process (start-up, collection and exit included)", single, BASELINE)
        figures["single"] = {mode: vars(f) for mode, f in single.items()}
    if "remote" in only:
        remote = remote_figures(options.remote_tests, options.repeat, chromium)
        print_suite(
            f"remote suite: {options.remote_tests} tests, fresh session each, steel-local behind a latency proxy",
            remote,
            REMOTE_BASE,
        )
        ratio = remote["500 ms create latency, --steel-prefetch 2"].wall / remote[REMOTE_BASE].wall
        target("500 ms create latency with --steel-prefetch 2: at most 1.3x of 0 ms", f"{ratio:.2f}", ratio <= 1.3)
        figures["remote"] = {mode: vars(f) for mode, f in remote.items()}
    if "server" in only:
        server = server_figures(options.sessions, test_seconds=0.1)
        print(f"\nsteel-local, {options.sessions} sequential sessions, warm pool:")
        for name, value in server.items():
            print(f"  {name:24} {value:8.1f}")
        target("create p50 under 30 ms (warm pool)", f"{server['create p50 ms']:.1f} ms", server["create p50 ms"] < 30)
        target("release p50 under 100 ms", f"{server['release p50 ms']:.1f} ms", server["release p50 ms"] < 100)
        growth = server["server RSS growth MB"]
        target(f"server RSS growth under 10 MB over {options.sessions} sessions", f"{growth:.1f} MB", growth < 10)
        figures["server"] = server
    if "startup" in only:
        startup = startup_figures(options.startup_repeat)
        ratio = startup["on"] / startup["off"]
        print(
            f"\nstart-up, collect-only of 500 tests without Steel fixtures: {startup['on'] * 1000:.0f} ms with the "
            f"plugin, {startup['off'] * 1000:.0f} ms with -p no:steel, ratio {ratio:.3f}"
        )
        target("collect-only within 3% of -p no:steel", f"{ratio:.3f}", ratio <= 1.03)
        figures["startup_s"] = startup

    reap_orphans(keep=set())  # the standalone servers' last browsers' processes
    left = leftovers(before, temp_before)
    target("nothing left: no browser process, no temp directory", ", ".join(left) or "none", not left)
    print("\ntargets:")
    for name, shown, met in verdicts:
        print(f"  {'met    ' if met else 'NOT MET'}  {name}: {shown}")
    if options.json:
        figures["targets"] = [{"target": n, "figure": f, "met": m} for n, f, m in verdicts]
        options.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
