"""The run's request budget on the backend, shared by every process of the run (xdist workers too).

Steel's plans cap API requests a minute (Launch 60, Scale 600) and live sessions. Every
request any process of the run sends first takes a place in one rolling minute kept in a
small file of the run's shared folder (under ``flock``): past ``--steel-max-requests-per-minute``
(those in the minute and those under way) it waits for the oldest to leave the minute, so the
backend need not refuse. A request counts from when it is over, when it has surely reached the
backend, so the backend's minute never holds more than ours. A 429 that
comes anyway sets a "not before" time in the same file from its ``Retry-After``, which
every process honours before its next request. The counts (requests, 429s, time waited)
are this process's, for the run's summary.

The file holds wall-clock times, as it is shared by processes (whose monotonic clocks need
not agree), so it must survive the clock stepping: a time found in the future (the clock
stepped back) is rewritten as now, so that it leaves the minute a minute from now rather
than a minute after a time that has not come; a "not before" further away than the
longest Retry-After honoured is one of them, and counts as now too. A step forward only
lets the minute empty early.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from .._client.http import MAX_RETRY_AFTER, retry_after

WINDOW_S = 60.0
WINDOW_ENV = "STEEL_RATE_WINDOW_S"  # a shorter "minute", for tests and benchmarks that time-scale a plan
STALE_S = 300.0  # a request under way longer than this was a killed process's: it no longer counts
POLL_S = 0.05  # a re-check while waiting: flock has no timed wait, and the oldest may leave earlier


class SharedRateLimit:
    """A rolling minute of request times in ``folder``, shared by the run; 0 requests a minute: counted only."""

    def __init__(self, folder: str | os.PathLike[str], per_minute: int) -> None:
        self.path = Path(folder) / "requests.json"
        self.per_minute = per_minute
        self.window_s = float(os.environ.get(WINDOW_ENV) or WINDOW_S)
        self.requests = 0
        self.refused = 0  # 429s met
        self.waits = 0  # requests that had to wait, for the rate or a 429's Retry-After
        self.waited_s = 0.0

    def before(self) -> str:
        """Wait until the request may go: fewer than the limit are in the minute or under way. Its token."""
        started = time.monotonic()
        token = secrets.token_hex(6)
        while True:
            with self._state() as state:
                now = time.time()
                _clamp_to(state, now)
                times = [t for t in state["times"] if t > now - self.window_s]
                pending = {k: v for k, v in state["pending"].items() if v > now - STALE_S}  # a killed process's go
                wait = max(state.get("not_before", 0.0) - now, 0.0)
                if not wait and self.per_minute and len(times) + len(pending) >= self.per_minute:
                    wait = _until_room(times, len(pending), self.per_minute, self.window_s, now)
                if wait <= 0:
                    state["times"] = times[-max(self.per_minute, 1) :]
                    state["pending"] = {**pending, token: now}
                    break
            time.sleep(min(wait, 1.0) if wait > POLL_S else POLL_S)
        self.requests += 1
        waited = time.monotonic() - started
        if waited > POLL_S:
            self.waits += 1
            self.waited_s += waited
        return token

    def after(self, token: object, response: httpx.Response | None) -> None:
        """The request is over: it counts in the minute from now, when it has surely reached the backend.

        A 429 also holds every process of the run until its Retry-After has passed.
        """
        refused = response is not None and response.status_code == 429
        delay = retry_after(response) if refused and response is not None else None
        self.refused += refused
        with self._state() as state:
            now = time.time()
            state["pending"].pop(str(token), None)
            state["times"].append(now)
            if delay:
                state["not_before"] = max(state.get("not_before", 0.0), now + delay)

    @contextlib.contextmanager
    def _state(self) -> Iterator[dict]:
        """The shared state, locked; a throwaway one when its folder is gone (an orphaned xdist worker's
        last releases, after another worker removed the dead controller's folder): never a failed request."""
        import fcntl  # POSIX only, as the session slots

        try:
            file = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - closed below, after the lock's work
        except OSError:
            yield {"times": [], "pending": {}}
            return
        with file:
            fcntl.flock(file, fcntl.LOCK_EX)
            file.seek(0)
            try:
                state = json.loads(file.read() or "{}")
            except ValueError:
                state = {}
            state.setdefault("times", [])
            state.setdefault("pending", {})
            yield state
            file.seek(0)
            file.truncate()
            file.write(json.dumps(state))

    def counts(self) -> dict[str, float]:
        return {"requests": self.requests, "refused": self.refused, "waits": self.waits, "waited_s": self.waited_s}


def _clamp_to(state: dict, now: float) -> None:
    """Times dated after ``now`` (the clock stepped back since they were written) become ``now``, in place."""
    state["times"] = [min(float(t), now) for t in state["times"]]
    state["pending"] = {k: min(float(v), now) for k, v in state["pending"].items()}
    if float(state.get("not_before", 0.0)) > now + MAX_RETRY_AFTER:  # no Retry-After honoured is that long
        state["not_before"] = now


def _until_room(times: list[float], pending: int, limit: int, window_s: float, now: float) -> float:
    """Seconds until one more request fits: enough of the oldest must leave the minute (or those under way end)."""
    leaving = len(times) + pending - limit + 1
    if leaving > len(times):  # the requests under way fill it: they end soon
        return POLL_S
    return times[leaving - 1] + window_s - now
