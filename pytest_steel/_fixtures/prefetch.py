"""``--steel-prefetch N``: the next tests' sessions, created while the current test runs.

On a remote backend a create takes hundreds of milliseconds to seconds, and with a
fresh session per test that wait is paid test after test. The prefetcher overlaps it:
when a test gets its session, it starts creating sessions for the next (at most N)
tests of this process that will want one, with the parameters each will ask for, on a
client of its own in background threads. A test whose prefetched session was created
with exactly the parameters it asks for, and has most of its life left, takes it; any
other prefetched session is released, never used, and counted in the summary like
every session (its minutes are billed). A create made ahead that fails is named in the
summary with the backend's answer, since it failed where nobody saw it; its test then
creates its own. What the next tests are: in a plain run, the
collected order; under pytest-xdist only the one next test, the one the worker knows.

Never on a server that runs a limited number of sessions (one whose profile runs a
single session replaces it on every create), and never for a per-module session.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from .._client.errors import SteelError, first_line
from .._config.markers import SteelMarks
from .._config.stash import NEXT_ITEM_KEY
from .._sessions.slots import note_made_ahead
from .demand import wants_own_session

_INDEX_KEY = pytest.StashKey[dict[int, int]]()  # each collected test's position, on the session

if TYPE_CHECKING:
    from .._client.client import SteelClient
    from .._client.models import Session
    from .._config.settings import Settings
    from .._reporting.report import RunReport
    from .._sessions.backend import BackendAccess
    from .._sessions.lifecycle import TrackedSession
    from .._sessions.tracker import SessionTracker

FRESH_ENOUGH = 0.9  # a prefetched session is used only with this much of its timeout left
LOOK_AT = 200  # tests after the current one searched for the next that want a session
DRAIN_TIMEOUT_S = 120.0  # at the end, how long creates still under way may take to answer


@dataclass
class _SessionCreatedAhead:
    """One session being created for a test ahead of it."""

    params: dict[str, Any]  # as resolved for the wire, timeout included, no sessionId
    future: concurrent.futures.Future[tuple[Session, float, float]]  # (session, create seconds, monotonic start)


class Prefetcher:
    """The sessions created ahead for this process's next tests; one per test at most."""

    def __init__(self, settings: Settings, backend: BackendAccess, sessions: SessionTracker, report: RunReport) -> None:
        self._settings = settings
        self._backend = backend
        self._sessions = sessions
        self._report = report
        depth = self.depth = settings.prefetch.value
        self._ahead: dict[str, _SessionCreatedAhead] = {}  # node id -> its session to be
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=depth, thread_name_prefix="steel-prefetch")
        self._client: SteelClient | None = None
        self._lock = threading.Lock()
        self.base_params: dict[str, Any] | None = None  # the last steel_session_params a test resolved
        self.used = 0

    @classmethod
    def for_run(
        cls, settings: Settings, backend: BackendAccess, sessions: SessionTracker, report: RunReport
    ) -> Prefetcher | None:
        """The run's prefetcher, or None when prefetching is off or cannot apply here."""
        if settings.prefetch.value == 0 or settings.shared_scope:
            return None
        if backend.limit().concurrency.limit is not None:
            report.note(
                f"--steel-prefetch is off: the server runs at most {backend.limit().concurrency.limit} "
                "session(s) at once, and a session created ahead would take a test's place"
            )
            return None
        return cls(settings, backend, sessions, report)

    # -- the test's side ----------------------------------------------------------------

    def take(self, item: pytest.Item, params: dict[str, Any]) -> TrackedSession | None:
        """The session created ahead for ``item``, if it matches ``params`` (resolved) and is fresh enough."""
        ahead = self._ahead.pop(item.nodeid, None)
        if ahead is None:
            return None
        try:
            session, elapsed, started = ahead.future.result(timeout=self._wait_limit())
        except Exception as exc:  # noqa: BLE001 - the test's own create will say what is wrong, if anything still is
            self._failed(item.nodeid, exc, self._wait_limit(), "the test created its own")
            return None
        tracker = self._sessions
        if ahead.params != params or not self._fresh(ahead.params, started):
            why = "asks for other parameters" if ahead.params != params else "needs more of its timeout left"
            unused = tracker.adopt(session, None, f"a session created ahead for {item.nodeid}", elapsed, started)
            self._release(unused, f"{item.nodeid} {why}")
            return None
        self.used += 1
        return tracker.adopt(session, item, item.nodeid, elapsed, started)

    def look_ahead(self, upcoming: list[pytest.Item]) -> None:
        """Start creating sessions for the first ``depth`` of ``upcoming`` that will want their own."""
        if self.base_params is None or self._backend.health.unavailable:
            return
        wanted = [item for item in upcoming if wants_own_session(item)][: self.depth]
        for item in wanted:
            if item.nodeid in self._ahead:
                continue
            params = self._guess(item)
            if params is not None:
                self._ahead[item.nodeid] = _SessionCreatedAhead(params, self._pool.submit(self._create, dict(params)))

    def _guess(self, item: pytest.Item) -> dict[str, Any] | None:
        """What ``item`` will ask for, resolved as the tracker will; None when it cannot be known ahead."""
        from .._reporting.recordings import recording_fields

        marks = SteelMarks.of(item)
        if "context" in marks.fields or self.base_params is None:
            return None  # a fixture's value, known only once the test sets it up; or no test resolved any yet
        try:
            params = {**self.base_params, **marks.create_fields(), **recording_fields(item, self._settings)}
            return self._sessions.resolve(params, item)
        except (Exception, pytest.fail.Exception):  # noqa: BLE001 - a bad marker or a failing hook: the test
            return None  # will meet the same error itself, in its own setup

    # -- the background side --------------------------------------------------------------

    def _create(self, params: dict[str, Any]) -> tuple[Session, float, float]:
        started = time.monotonic()
        with self._lock:
            if self._client is None:
                self._client = self._backend.new_client()
            client = self._client
        timeout = params.pop("timeout", None)
        session_id = str(params.setdefault("sessionId", str(uuid.uuid4())))
        note_made_ahead(self._backend.shared_folder(), session_id)  # found by the safety net if we die
        session = client.create(timeout=timeout, **params)
        return session, time.monotonic() - started, started

    # -- the end -----------------------------------------------------------------------------

    def drain(self) -> None:
        """Release every session created ahead that no test took, and whatever a given-up create left."""
        tracker = self._sessions
        for nodeid, ahead in list(self._ahead.items()):
            del self._ahead[nodeid]
            try:
                session, elapsed, started = ahead.future.result(timeout=DRAIN_TIMEOUT_S)
            except Exception as exc:  # noqa: BLE001 - no session came of it (its client remembers an abandoned id)
                self._failed(nodeid, exc, DRAIN_TIMEOUT_S, "its test did not run")
                continue
            unused = tracker.adopt(session, None, f"a session created ahead for {nodeid}", elapsed, started)
            self._release(unused, f"{nodeid} did not run")
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._client is not None:
            try:
                for session_id in self._client.settle_abandoned():
                    self._report.note(f"released session {session_id}, created ahead after its create was given up")
            except SteelError:
                pass
            self._client.close()

    def _failed(self, nodeid: str, exc: Exception, waited_s: float, then: str) -> None:
        """Say why a create made ahead failed: in the background nobody else would."""
        if isinstance(exc, concurrent.futures.CancelledError):
            return  # the run ended before it began: nothing was asked of the backend
        if isinstance(exc, concurrent.futures.TimeoutError):
            why = f"no answer within {waited_s:g} s"
        else:
            why = self._backend.redact(first_line(exc))
        self._report.note(f"could not create a session ahead for {nodeid}: {why}; {then}")

    def _release(self, tracked: TrackedSession, why: str) -> None:
        try:
            self._sessions.release(tracked)
        except SteelError:
            return  # reported as unreleased by the tracker
        self._report.note(f"released session {tracked.id}, created ahead and not used: {why}")

    def _wait_limit(self) -> float:
        return 3 * self._settings.http_timeout.value

    @staticmethod
    def _fresh(params: dict[str, Any], started: float) -> bool:
        timeout_ms = params.get("timeout")
        if not isinstance(timeout_ms, int):
            return True
        return (time.monotonic() - started) * 1000 <= (1 - FRESH_ENOUGH) * timeout_ms


def upcoming(item: pytest.Item) -> list[pytest.Item]:
    """The tests this process will run after ``item``, as far as it knows: under xdist only the next one."""
    following = item.stash.get(NEXT_ITEM_KEY, None)
    if following is None:
        return []
    if hasattr(item.config, "workerinput"):
        return [following]
    session = item.session
    index = session.stash.get(_INDEX_KEY, None)
    if index is None or len(index) != len(session.items):
        index = session.stash[_INDEX_KEY] = {id(it): n for n, it in enumerate(session.items)}
    start = index.get(id(following))
    if start is None:
        return [following]
    return session.items[start : start + LOOK_AT]
