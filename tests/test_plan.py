"""Running within a Steel plan, and sharing its key between runs, against a stand-in that enforces one.

The stand-in allows 60 REST requests in any rolling window and 3 live sessions, and answers
429 with Retry-After past either. Time-scaled ten times: its window is 6 s, and the runs'
limiter is told the same with ``STEEL_RATE_WINDOW_S`` (a minute of the plan is 6 s here).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_steel._sessions.rate import SharedRateLimit

from ._plan import PlanStandIn
from ._support import Server, StartServer

WINDOW_S = 6.0
TESTS = 100
FRESH_SESSIONS = f"""
import pytest

@pytest.mark.parametrize("n", range({TESTS}))
def test_fresh(steel_session, n):
    assert steel_session.is_live
"""


@pytest.fixture
def plan(start_server: StartServer) -> Iterator[tuple[Server, PlanStandIn]]:
    server = start_server("--pool-size", "2")
    stand_in = PlanStandIn(server.url, rate=60, window_s=WINDOW_S, sessions=3)
    yield server, stand_in
    stand_in.close()


def _start_run(folder: Path, plan_url: str) -> subprocess.Popen[str]:
    folder.mkdir()
    (folder / "test_fresh.py").write_text(FRESH_SESSIONS)
    env = {**os.environ, "STEEL_RATE_WINDOW_S": str(WINDOW_S), "STEEL_BASE_URL": plan_url}
    env.pop("PYTEST_ADDOPTS", None)
    args = ["-n", "2", "--steel-max-requests-per-minute", "60", "-p", "no:playwright", "-p", "no:cacheprovider"]
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", *args],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(run: subprocess.Popen[str]) -> str:
    out, _ = run.communicate(timeout=400)
    assert run.returncode == 0, out[-3000:]
    assert re.search(rf"\b{TESTS} passed\b", out), out[-3000:]
    return out


@pytest.mark.timeout(450)  # _finish's own bound, 400 s: about 45 s on a quiet machine, not the suite's 120
def test_one_run_keeps_within_the_plans_rate_and_makes_two_requests_a_session(
    plan: tuple[Server, PlanStandIn], tmp_path: Path
) -> None:
    server, stand_in = plan
    out = _finish(_start_run(tmp_path / "alone", stand_in.url))
    assert [why for _, why in stand_in.refused if why == "rate"] == []  # spaced before the plan had to refuse
    assert stand_in.busiest_window() <= 60
    found = re.search(r"REST requests (\d+) \(([\d.]+) per session\)", out)
    assert found, out[-2000:]
    assert float(found.group(2)) <= 2.1  # create and release; the run's own few (health, the sweep's list) aside
    assert server.http.get("/v1/sessions", params={"status": "live"}).json()["sessions"] == []


@pytest.mark.timeout(450)  # _finish's own bound, 400 s for the two runs at once: not the suite's 120 s a test
def test_two_runs_on_one_key_wait_out_the_plan_and_leave_each_other_alone(
    plan: tuple[Server, PlanStandIn], tmp_path: Path
) -> None:
    server, stand_in = plan
    runs = [_start_run(tmp_path / name, stand_in.url) for name in ("first", "second")]
    outputs = [_finish(run) for run in runs]
    for out in outputs:
        assert " error" not in out.splitlines()[-1]
        assert "released this run's" not in out  # no session lost track of, nothing of the other's released
    assert server.http.get("/v1/sessions", params={"status": "live"}).json()["sessions"] == []  # no orphans
    assert stand_in.busiest_window() <= 60


def test_a_finished_run_leaves_another_runs_live_session_live(
    start_server: StartServer, pytester: pytest.Pytester
) -> None:
    server = start_server()
    other = server.create(timeout=120_000)["id"]  # another CI job's session, on the same server and key
    pytester.makepyfile("def test_one(steel_session): pass")
    result = pytester.runpytest_subprocess("--steel-base-url", server.url, "-p", "no:playwright")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["steel: *release-all own (default)*"])
    assert server.get(other)["status"] == "live"
    server.release(other)


def _wait_for_a_request(limit: SharedRateLimit, bound: float) -> float | None:
    """Seconds ``before`` took, or None if it was still waiting after ``bound`` (it goes on in a daemon thread)."""
    took: list[float] = []

    def ask() -> None:
        started = time.monotonic()
        limit.after(limit.before(), None)
        took.append(time.monotonic() - started)

    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    thread.join(bound)
    return took[0] if took else None


@pytest.mark.parametrize("step_back_s", [3600.0, 5 * 86400.0])
def test_the_runs_rate_limit_survives_the_clock_stepping_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step_back_s: float
) -> None:
    """Times the file holds from before the clock stepped back D count as now: the minute empties in a minute, not D."""
    monkeypatch.setenv("STEEL_RATE_WINDOW_S", "1")  # a 1 s "minute"
    limit = SharedRateLimit(tmp_path, per_minute=3)
    ahead = time.time() + step_back_s  # what another process wrote before the step
    stepped = {"times": [ahead, ahead, ahead], "pending": {"other": ahead}, "not_before": ahead}
    (tmp_path / "requests.json").write_text(json.dumps(stepped))

    took = _wait_for_a_request(limit, bound=15)
    assert took is not None, "the minute stayed full for as long as the clock stepped back"
    assert took < 15
    kept = json.loads((tmp_path / "requests.json").read_text())
    assert max(kept["times"]) <= time.time() and kept["not_before"] <= time.time()
    # and the limit still holds: three requests in a row fill the 1 s minute, a fourth waits for room
    (tmp_path / "requests.json").write_text("{}")
    first = time.monotonic()
    for _ in range(3):
        limit.after(limit.before(), None)
    limit.after(limit.before(), None)
    assert time.monotonic() - first >= 0.95  # the fourth went a minute after the first, however slow the three
