"""Browsers launched ahead of need, so that creating a session hands over one that is already running.

A browser's first CDP connection right after launch waits for the browser to finish
starting up (about 140 ms for a headless shell on 2 cores); after a second of idling
it takes about 20 ms. The pool launches in the background, so that start-up overlaps
the test that is running, and hands over the oldest browser first (the warmest). At
the server's start the first browser launches alone, so that a run's first session
waits for one browser's start rather than for several sharing the cores.

Pooled browsers are as fresh as on-demand ones: each is launched with its own new
profile and used by exactly one session, then killed with it; none is ever reused.
They are not sessions: they are not listed, not counted against ``--max-sessions``,
and they are killed (and their directories removed) when the server stops.

A client that knows how many sessions it will create says so (``--expected-sessions``;
pytest-steel passes the count its collected tests need). The pool then launches no
browser those sessions would leave unused: without it, a run ends with the pool's size
in browsers launched for nothing, each a launch's CPU (about half a second here) spent
beside the run's last tests. Past that many creates the count was wrong, and the pool
refills as if it had none.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .browser_process import BrowserProcess

__all__ = ["BrowserPool", "LaunchSpec", "default_pool_size"]

log = logging.getLogger("pytest_steel.local")

RETRY_AFTER_FAILURE_S = 5.0  # a browser that fails to start is not relaunched in a tight loop


def default_pool_size() -> int:
    """Two ready browsers on a small machine, up to four on a larger one (each idles at ~100 MB)."""
    return max(2, min(4, (os.cpu_count() or 2) // 2))


@dataclasses.dataclass(frozen=True)
class LaunchSpec:
    """Everything a browser is launched with; a session takes a pooled browser only if this matches."""

    headless: bool
    width: int
    height: int
    user_agent: str | None


Launcher = Callable[[LaunchSpec], Awaitable["BrowserProcess"]]


class BrowserPool:
    """Up to ``size`` running browsers for the launch spec asked for most recently."""

    def __init__(self, launch: Launcher, size: int, spec: LaunchSpec, expected: int | None = None) -> None:
        self._launch = launch
        self.size = size
        self.expected = expected  # sessions the client said it will create; None: not known
        self.taken = 0  # creates that asked the pool for a browser
        self.launched = 0  # launches started, used or not
        self._spec = spec  # what to keep warm: the default, then whatever sessions ask for
        self._ready: collections.deque[tuple[LaunchSpec, BrowserProcess]] = collections.deque()
        self._launching: set[asyncio.Task[None]] = set()
        self._closing_tasks: set[asyncio.Task[None]] = set()
        self._in_flight: dict[LaunchSpec, int] = collections.Counter()  # launches under way, by spec
        self._arrived = asyncio.Event()  # set whenever a launch ends, ready or not
        self._watchers: dict[BrowserProcess, asyncio.Task[None]] = {}
        self._failed_at: float | None = None
        self._first_launch_pending = True
        self._closing = False

    @property
    def ready_count(self) -> int:
        return len(self._ready)

    @property
    def target(self) -> int:
        """How many browsers to keep ready or starting: ``size``, or fewer when fewer sessions are still to come."""
        if self.expected is None or self.taken > self.expected:
            return self.size
        return min(self.size, self.expected - self.taken)

    def fill(self) -> None:
        """Launch in the background until ``target`` browsers are ready or starting."""
        if self._closing or self.size == 0:
            return
        if self._failed_at is not None and time.monotonic() - self._failed_at < RETRY_AFTER_FAILURE_S:
            return
        while len(self._ready) + (in_flight := sum(self._in_flight.values())) < self.target:
            if in_flight and self._first_launch_pending:
                return  # the server's first browser starts alone: a run's first session waits for just that one
            self.launched += 1
            self._in_flight[self._spec] += 1
            task = asyncio.ensure_future(self._launch_one(self._spec))
            self._launching.add(task)
            task.add_done_callback(self._launching.discard)

    async def take(self, spec: LaunchSpec) -> BrowserProcess | None:
        """A running browser launched with ``spec``, oldest first, or None; the pool refills behind it.

        When none is ready but one is starting, waiting for it beats starting another
        (the first session of a run arrives while the pool is still filling).
        """
        self.taken += 1
        if spec != self._spec:
            self._spec = spec
            self._discard(lambda other: other != spec)  # a suite that changes its spec keeps the new one warm
        while not any(ready_spec == spec for ready_spec, _ in self._ready) and self._in_flight[spec]:
            self._arrived.clear()
            await self._arrived.wait()
        browser: BrowserProcess | None = None
        while self._ready and browser is None:
            ready_spec, candidate = self._ready.popleft()
            self._unwatch(candidate)
            if ready_spec == spec and candidate.is_running:
                browser = candidate
            else:
                self._spawn_close(candidate)
        self.fill()
        return browser

    def gave_back(self) -> None:
        """A create that asked failed: it is asked again, so it does not count as one of the sessions to come."""
        self.taken = max(0, self.taken - 1)
        self.fill()

    async def _launch_one(self, spec: LaunchSpec) -> None:
        try:
            browser = await self._launch(spec)
        except asyncio.CancelledError:  # drain(): the launch killed what it had started
            self._landed(spec)
            raise
        except Exception as exc:  # noqa: BLE001 - an on-demand launch will report it to the client
            self._failed_at = time.monotonic()
            log.warning("pool: a browser did not start (%s); sessions launch their own", exc)
            self._landed(spec)
            return
        self._failed_at = None
        if self._closing or spec != self._spec:
            self._landed(spec)
            self._spawn_close(browser)
            return
        self._ready.append((spec, browser))
        self._watchers[browser] = asyncio.ensure_future(self._watch(spec, browser))
        self._landed(spec)

    def _landed(self, spec: LaunchSpec) -> None:
        self._in_flight[spec] -= 1
        self._arrived.set()
        if self._first_launch_pending:
            self._first_launch_pending = False
            self.fill()

    async def _watch(self, spec: LaunchSpec, browser: BrowserProcess) -> None:
        """A pooled browser that dies while idle leaves the pool and is cleaned up; another replaces it."""
        await browser.wait()
        self._watchers.pop(browser, None)
        try:
            self._ready.remove((spec, browser))
        except ValueError:
            return  # taken, or discarded, meanwhile
        log.warning("pool: an idle browser (pid %d) exited; replacing it", browser.pid)
        await browser.close()
        self.fill()

    def _unwatch(self, browser: BrowserProcess) -> None:
        watcher = self._watchers.pop(browser, None)
        if watcher is not None:
            watcher.cancel()

    def _discard(self, unwanted: Callable[[LaunchSpec], bool]) -> None:
        for spec, browser in list(self._ready):
            if unwanted(spec):
                self._ready.remove((spec, browser))
                self._unwatch(browser)
                self._spawn_close(browser)

    def _spawn_close(self, browser: BrowserProcess) -> None:
        task = asyncio.ensure_future(browser.close())
        self._closing_tasks.add(task)  # awaited by drain()
        task.add_done_callback(self._closing_tasks.discard)

    async def drain(self) -> None:
        """Stop launching, kill every browser: ready ones, and those still starting (no waiting for them)."""
        self._closing = True
        for task in self._launching:
            task.cancel()  # a launch cancelled kills its browser and removes its directories
        self._discard(lambda _: True)
        pending: list[Any] = [*self._launching, *self._closing_tasks]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
