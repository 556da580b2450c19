"""The embedded server's pool of browsers launched ahead of need: fresh, never reused, never sessions."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import shutil
import signal
import time
from pathlib import Path

import httpx
import psutil
import pytest

from ._cdp import browser_pid, connected, first_page
from ._support import Server, StartServer, wait_until_gone

POOL_BOUND = 30.0  # seconds for a pool to fill


def pooled_pids(server: Server, expected: int, in_sessions: frozenset[int] = frozenset()) -> set[int]:
    """The pids of the server's idle browsers, once the pool holds ``expected`` (bounded wait)."""
    deadline = time.monotonic() + POOL_BOUND
    while time.monotonic() < deadline:  # the server has no event to await for this: poll, bounded
        ready = server.http.get("/v1/health").json()["pool"]["ready"]
        leaders = {p.pid for p in server.browsers() if "--type=" not in " ".join(p.cmdline())} - in_sessions
        if ready == expected and len(leaders) == expected:
            return leaders
        time.sleep(0.05)
    pytest.fail(f"the pool did not settle at {expected} ready browsers in {POOL_BOUND} s")


def is_gone(pid: int) -> bool:
    try:
        return wait_until_gone([psutil.Process(pid)]) == []
    except psutil.NoSuchProcess:
        return True


def test_a_session_gets_a_running_pooled_browser_and_the_pool_refills(start_server: StartServer) -> None:
    server = start_server("--pool-size", "2")
    idle = pooled_pids(server, 2)
    assert len(idle) == 2
    assert server.http.get("/v1/sessions", params={"status": "live"}).json()["sessions"] == []  # not sessions

    session = server.create(timeout=60_000)

    async def pid_of(ws_url: str) -> int:
        async with connected(ws_url) as (browser,):
            return await browser_pid(browser)

    used = asyncio.run(pid_of(session["websocketUrl"]))
    assert used in idle  # handed over, not launched
    refilled = pooled_pids(server, 2, in_sessions=frozenset({used}))
    assert len(refilled - idle) == 1  # one new browser took its place
    assert server.http.get("/v1/health").json()["liveSessions"] == 1

    server.http.post(f"/v1/sessions/{session['id']}/release")
    assert is_gone(used)  # never returned to the pool
    assert pooled_pids(server, 2) == refilled


def test_pooled_browsers_are_as_fresh_as_on_demand_ones(start_server: StartServer, pages: str) -> None:
    server = start_server("--pool-size", "1")
    pooled_pids(server, 1)

    async def visit(ws_url: str) -> tuple[int, str, list[dict]]:
        async with connected(ws_url) as (browser,):
            page = first_page(browser)
            await page.goto(f"{pages}/form.html")
            seen = await page.evaluate("localStorage.getItem('mark') || ''")
            cookies = await page.context.cookies()
            await page.evaluate("localStorage.setItem('mark', 'left by an earlier session')")
            await page.context.add_cookies([{"name": "mark", "value": "1", "url": f"{pages}/"}])
            return await browser_pid(browser), seen, cookies

    pids = []
    for _ in range(3):
        session = server.create(timeout=60_000)
        pid, seen, cookies = asyncio.run(visit(session["websocketUrl"]))
        assert (seen, cookies) == ("", [])  # nothing from the session before
        pids.append(pid)
        server.http.post(f"/v1/sessions/{session['id']}/release")
    assert len(set(pids)) == 3


def test_pooled_browsers_do_not_count_against_max_sessions(start_server: StartServer) -> None:
    server = start_server("--pool-size", "2", "--max-sessions", "1")
    pooled_pids(server, 2)
    first = server.create(timeout=60_000)
    refused = server.http.post("/v1/sessions", json={"timeout": 60_000})
    assert refused.status_code == 429  # a ready browser is no licence for a second session
    server.http.post(f"/v1/sessions/{first['id']}/release")


def test_the_pool_follows_the_launch_parameters_sessions_ask_for(start_server: StartServer) -> None:
    server = start_server("--pool-size", "1")
    default_pid = next(iter(pooled_pids(server, 1)))

    async def viewport(ws_url: str) -> tuple[int, list[int]]:
        async with connected(ws_url) as (browser,):
            page = first_page(browser)
            return await browser_pid(browser), await page.evaluate("[innerWidth, innerHeight]")

    small = {"timeout": 60_000, "dimensions": {"width": 800, "height": 600}}
    first = server.create(**small)
    pid, size = asyncio.run(viewport(first["websocketUrl"]))
    assert pid != default_pid and size == [800, 600]  # launched for it: the pooled one had the default size
    assert is_gone(default_pid)  # and the default one is no longer kept
    warm = pooled_pids(server, 1, in_sessions=frozenset({pid}))
    second = server.create(**small)
    pid, size = asyncio.run(viewport(second["websocketUrl"]))
    assert pid in warm and size == [800, 600]
    server.http.post("/v1/sessions/release")


def test_an_idle_browser_that_dies_is_replaced(start_server: StartServer) -> None:
    server = start_server("--pool-size", "1")
    dead = next(iter(pooled_pids(server, 1)))
    os.killpg(dead, signal.SIGKILL)
    assert is_gone(dead)
    assert len(pooled_pids(server, 1)) == 1  # a new one: the dead one is gone
    session = server.create(timeout=60_000)
    assert server.get(session["id"])["status"] == "live"
    server.http.post(f"/v1/sessions/{session['id']}/release")


def test_stopping_the_server_drains_the_pool(start_server: StartServer) -> None:
    server = start_server("--pool-size", "3")
    idle = [psutil.Process(pid) for pid in pooled_pids(server, 3)]
    assert server.launcher.stop() == 0
    assert wait_until_gone(idle) == []
    assert wait_until_gone(server.browsers()) == []
    assert [p.name for p in server.tmpdir.iterdir()] == []


def test_a_browser_still_starting_is_killed_when_the_server_stops(start_server: StartServer, tmp_path: Path) -> None:
    """The server's first browser starts alone, and stopping the server does not wait for it to finish starting."""
    never_ready = tmp_path / "chromium"  # starts a helper, then never answers on its DevTools pipe
    never_ready.write_text('#!/bin/bash\n(exec -a "helper $*" sleep 300) &\nexec -a "browser $*" sleep 300\n')
    never_ready.chmod(0o755)
    server = start_server("--pool-size", "3", "--chromium", str(never_ready), "--startup-timeout", "300")

    def names(processes: list[psutil.Process]) -> list[str]:
        """Each process's name as the script set it; a bash not yet past its ``exec -a`` is not named yet."""
        found = []
        for process in processes:
            with contextlib.suppress(psutil.Error, IndexError):
                found.append(process.cmdline()[0].split(" ")[0])
        return found

    deadline = time.monotonic() + POOL_BOUND
    while time.monotonic() < deadline:  # no event to await: poll until the first browser and its helper are named
        starting = server.browsers()
        if {"browser", "helper"} <= set(names(starting)):
            break
        time.sleep(0.05)
    leaders = [p for p in starting if p.cmdline()[0].startswith("browser ")]
    assert len(leaders) == 1, [p.cmdline()[0][:40] for p in starting]  # the others wait for the first to be ready
    assert server.http.get("/v1/health").json()["pool"]["ready"] == 0

    assert server.launcher.stop() == 0  # within stop()'s 15 s, not the launch's 300 s
    assert wait_until_gone(starting) == []
    assert server.leftovers() == []
    assert "did not start" not in server.log()


def test_pool_size_zero_launches_nothing_ahead(start_server: StartServer) -> None:
    server = start_server("--pool-size", "0")
    assert server.http.get("/v1/health").json()["pool"] == {"ready": 0, "size": 0, "launched": 0}
    assert server.browsers() == []


def test_the_pool_launches_no_browser_the_expected_sessions_leave_unused(start_server: StartServer) -> None:
    server = start_server("--pool-size", "2", "--expected-sessions", "3")
    pooled_pids(server, 2)

    def pool() -> dict[str, int]:
        return server.http.get("/v1/health").json()["pool"]

    ids = []
    for launched in (3, 3, 3):  # the first create's replacement is the last browser any of the three needs
        ids.append(server.create(timeout=60_000)["id"])
        assert pool()["launched"] == launched  # a take decides its refill before the create answers
    assert pool() == {"ready": 0, "size": 2, "launched": 3}

    ids.append(server.create(timeout=60_000)["id"])  # one more than said: launched on demand, and the pool refills
    assert pool()["launched"] == 5
    deadline = time.monotonic() + POOL_BOUND
    while pool()["ready"] < 2 and time.monotonic() < deadline:  # no event to await: poll, bounded
        time.sleep(0.05)
    assert pool() == {"ready": 2, "size": 2, "launched": 5}
    for session_id in ids:
        server.http.post(f"/v1/sessions/{session_id}/release")


SUITE_WITH_POOL_CHECK = """
import pytest
from pytest_steel._fixtures.run import run_of

def pool(config):
    return run_of(config).backend.client().health()["pool"]

{tests}
"""


@pytest.mark.parametrize(
    ("scope", "files", "launched"),
    [
        # three tests, a session each: three browsers, and none left over for the last test's end
        ("function", {"test_a": "def test_1(steel_page): pass\ndef test_2(steel_page): pass\n{check}"}, 3),
        # two modules, a session each
        ("module", {"test_a": "def test_1(steel_page): pass\n", "test_b": "def test_2(steel_page): pass\n{check}"}, 2),
        # a test that makes sessions by hand: the count is not known, and the pool refills after every create
        (
            "function",
            {"test_a": "def test_1(steel_page, steel_client): pass\ndef test_2(steel_page): pass\n{check}"},
            5,
        ),
        # a test whose marker names a context fixture, which logs in (a fourth session): no count either
        (
            "function",
            {
                "test_a": "@pytest.fixture(scope='session')\n"
                "def role(steel_login):\n    return steel_login(lambda page: page.goto('data:text/html,in'))\n"
                "@pytest.mark.steel(context='role')\ndef test_1(steel_page): pass\n"
                "def test_2(steel_page): pass\n{check}"
            },
            6,
        ),
    ],
)
def test_the_plugin_tells_the_embedded_server_how_many_sessions_its_tests_need(
    pytester: pytest.Pytester, scope: str, files: dict[str, str], launched: int
) -> None:
    check = "def test_last(steel_page, request):\n    assert pool(request.config)['launched'] == {launched}\n"
    pytester.makepyfile(
        **{
            name: SUITE_WITH_POOL_CHECK.format(tests=body.format(check=check.format(launched=launched)))
            for name, body in files.items()
        }
    )
    result = pytester.runpytest_subprocess(
        "--steel-pool-size", "2", "--steel-session-scope", scope, "-p", "no:playwright", timeout=180
    )
    result.assert_outcomes(passed=3)


RECORDING_TEST = """
import json, os
from pytest_steel._fixtures.run import run_of

def test_{name}(steel_page, request):
    launched = run_of(request.config).backend.client().health()["pool"]["launched"]
    with open(os.path.join({out!r}, request.node.name), "w") as f:
        json.dump(launched, f)
"""


@pytest.mark.parametrize(
    ("scope", "most"),
    [
        ("function", 4),  # every worker counts the run's four sessions: four browsers, no more
        ("module", 4),  # a module's tests may run on both workers: no count, the pool refills after each create
    ],
)
def test_under_xdist_the_workers_tell_the_shared_server_the_runs_count(
    pytester: pytest.Pytester, tmp_path: Path, scope: str, most: int
) -> None:
    pytester.makepyfile(
        **{
            f"test_{m}": RECORDING_TEST.format(name=m, out=str(tmp_path))
            for m in ("a", "b", "c", "d")[: 4 if scope == "function" else 2]
        }
    )
    result = pytester.runpytest_subprocess(
        "-n", "2", "--steel-pool-size", "2", "--steel-session-scope", scope, "-p", "no:playwright", timeout=180
    )
    result.assert_outcomes(passed=4 if scope == "function" else 2)
    # each test saw the pool's launches after its own create; the last create saw them all
    assert max(json.loads(p.read_text()) for p in tmp_path.iterdir()) == most


@pytest.mark.parametrize(
    ("pool", "body"),
    [
        ("0", {}),
        ("4", {}),
        ("4", {"sessionContext": {"cookies": [{"name": "a", "value": "1", "domain": "example.test", "path": "/"}]}}),
        pytest.param(
            "4",
            {"recordVideo": True},
            marks=pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="recordings need ffmpeg"),
        ),
    ],
    ids=["on-demand", "warm-pool", "warm-pool-with-context", "warm-pool-recording"],
)
def test_max_sessions_holds_for_bursts_of_concurrent_creates(start_server: StartServer, pool: str, body: dict) -> None:
    """A create counts from its admission, whatever it awaits (launch, files area, context), until it ends or fails."""
    server = start_server("--max-sessions", "4", "--pool-size", pool)
    if pool != "0":
        pooled_pids(server, int(pool))

    def one_create(client: httpx.Client) -> httpx.Response:
        return client.post("/v1/sessions", json={"timeout": 60_000, **body})

    for burst in range(3):
        with httpx.Client(base_url=server.url, timeout=60) as client:
            with concurrent.futures.ThreadPoolExecutor(10) as threads:
                answers = list(threads.map(lambda _: one_create(client), range(10)))
        admitted = [a.json()["id"] for a in answers if a.status_code == 200]
        assert sorted(a.status_code for a in answers) == [200] * 4 + [429] * 6, f"burst {burst}"
        assert server.http.get("/v1/health").json()["liveSessions"] == 4
        for session_id in admitted:
            server.release(session_id)
