"""The run's request budget on the backend, shared by every process of the run (xdist workers too).

Steel's plans cap API requests a minute (Launch 60, Scale 600) and live sessions. Every
request any process of the run sends first takes a place in one rolling minute kept in a
small file of the run's shared folder (under ``flock``): past ``--steel-max-requests-per-minute``
it waits for the oldest to leave the minute, so the backend need not refuse. A 429 that
comes anyway sets a "not before" time in the same file from its ``Retry-After``, which
every process honours before its next request. The counts (requests, 429s, time waited)
are this process's, for the run's summary.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from .._client.http import retry_after

WINDOW_S = 60.0
POLL_S = 0.05  # a re-check while waiting: flock has no timed wait, and the oldest may leave earlier


class SharedRateLimit:
    """A rolling minute of request times in ``folder``, shared by the run; 0 requests a minute: counted only."""

    def __init__(self, folder: str | os.PathLike[str], per_minute: int) -> None:
        self.path = Path(folder) / "requests.json"
        self.per_minute = per_minute
        self.requests = 0
        self.refused = 0  # 429s met
        self.waits = 0  # requests that had to wait, for the rate or a 429's Retry-After
        self.waited_s = 0.0

    def before(self) -> None:
        """Wait until the request may go, then take its place in the minute."""
        started = time.monotonic()
        while True:
            with self._state() as state:
                now = time.time()
                times = [t for t in state["times"] if t > now - WINDOW_S]
                wait = max(state.get("not_before", 0.0) - now, 0.0)
                if not wait and self.per_minute and len(times) >= self.per_minute:
                    wait = times[-self.per_minute] + WINDOW_S - now
                if wait <= 0:
                    state["times"] = [*times, now][-max(self.per_minute, 1) :]
                    break
            time.sleep(min(wait, 1.0) if wait > POLL_S else POLL_S)
        self.requests += 1
        waited = time.monotonic() - started
        if waited > POLL_S:
            self.waits += 1
            self.waited_s += waited

    def after(self, response: httpx.Response) -> None:
        """A 429: note it, and hold every process of the run until its Retry-After has passed."""
        if response.status_code != 429:
            return
        self.refused += 1
        delay = retry_after(response)
        if delay:
            with self._state() as state:
                state["not_before"] = max(state.get("not_before", 0.0), time.time() + delay)

    @contextlib.contextmanager
    def _state(self) -> Iterator[dict]:
        import fcntl  # POSIX only, as the session slots

        with open(self.path, "a+", encoding="utf-8") as file:
            fcntl.flock(file, fcntl.LOCK_EX)
            file.seek(0)
            try:
                state = json.loads(file.read() or "{}")
            except ValueError:
                state = {}
            state.setdefault("times", [])
            yield state
            file.seek(0)
            file.truncate()
            file.write(json.dumps(state))

    def counts(self) -> dict[str, float]:
        return {"requests": self.requests, "refused": self.refused, "waits": self.waits, "waited_s": self.waited_s}
