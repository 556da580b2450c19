"""Session lifecycle for the local server: live, then released or failed, exactly once.

Each live session owns one BrowserProcess. A session ends by request, by its
timeout (a loop timer, so it is on time to the millisecond rather than to a
polling period), by inactivity, or by its browser dying (watched by awaiting the
process, not by polling). Ending always closes attached CDP clients and kills the
browser's process group before it is reported done; reaping the processes and removing
their directories follow in the background, and shutdown waits for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from pathlib import Path
from typing import Any

from .._browser.chromium import ChromiumSet
from .._client.wire import RECORD_VIDEO_FIELD, ReleaseReason, SessionStatus
from ._chromium_procs.browser_process import BrowserProcess
from ._chromium_procs.cdp import CDPError
from ._chromium_procs.pool import BrowserPool, LaunchSpec
from ._chromium_procs.recorder import KEPT_FOR_S, Recorder
from ._chromium_procs.session_context import ContextAgent, read_context
from ._chromium_procs.watchdog import Watchdog
from ._http_errors import (
    AtCapacity,
    InvalidRequest,
    LaunchFailed,
    ServerClosing,
    SessionConflict,
    SessionError,
    SessionGone,
    SessionNotFound,
)
from ._registry import SessionRegistry
from ._session_files import DEFAULT_MAX_FILES_MB, FilesArea
from ._session_params import CreateParams
from ._session_state import LocalSession

log = logging.getLogger("pytest_steel.local")


class SessionManager:
    """Creates, tracks and ends the server's sessions.

    It is the one writer of every session's state on the server: each step of the
    lifecycle (launch, watch the browser, inactivity, end) is a method here. Which
    sessions exist, and for how long the ended ones are remembered, is ``registry``'s.
    """

    def __init__(
        self,
        chromium: ChromiumSet,
        *,
        root: Path,
        owner: str,
        watchdog: Watchdog | None,
        max_sessions: int,
        history: int = 1000,
        startup_timeout: float = 30.0,
        pool_size: int = 0,
        expected_sessions: int | None = None,
        ffmpeg: Path | None = None,
        ffmpeg_missing: str = "this server has no ffmpeg",
        max_files_mb: int = DEFAULT_MAX_FILES_MB,
    ) -> None:
        self._chromium = chromium
        self.ffmpeg = ffmpeg  # for recordings; None: a create that asks for one is refused, saying why
        self._ffmpeg_missing = ffmpeg_missing
        self.max_files_bytes = max_files_mb * 2**20  # each session's files area
        self._root = root
        self._owner = owner
        self._watchdog = watchdog
        self.max_sessions = max_sessions
        self._startup_timeout = startup_timeout
        self.registry: SessionRegistry[LocalSession] = SessionRegistry(history)
        self._starting: set[str] = set()
        self._no_launches = asyncio.Event()
        self._no_launches.set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False
        default = CreateParams()
        self.pool = BrowserPool(
            self._launch,
            pool_size,
            LaunchSpec(default.headless, default.width, default.height, default.user_agent),
            expected_sessions,
        )

    # -- lifecycle ---------------------------------------------------------------

    async def create(self, params: CreateParams) -> LocalSession:
        if self._closing:
            raise ServerClosing("the server is shutting down")
        session_id = params.session_id or str(uuid.uuid4())
        if session_id in self._starting:
            raise SessionConflict(f"a session with id {session_id} already exists")
        self.registry.check_new(session_id)
        if params.record_video and self.ffmpeg is None:
            raise InvalidRequest(f"{RECORD_VIDEO_FIELD} cannot be honoured: {self._ffmpeg_missing}", RECORD_VIDEO_FIELD)
        if self.registry.live_count + len(self._starting) >= self.max_sessions:
            raise AtCapacity(
                f"at capacity: {self.max_sessions} sessions are live or starting (--max-sessions); "
                "release one or retry later",
                headers={"Retry-After": "1"},
            )
        spec = LaunchSpec(params.headless, params.width, params.height, params.user_agent)
        started = time.monotonic()
        # Counted against --max-sessions from here until the session is in the registry (and then while it
        # is live) or the create has failed: whatever the create awaits on the way (a launch, the files
        # area, a context, a recording), no other create is admitted in its place.
        self._starting.add(session_id)
        self._no_launches.clear()
        try:
            session = await self._start(session_id, params, spec)
        finally:
            self._starting.discard(session_id)
            if not self._starting:
                self._no_launches.set()
        if self._closing:  # shutdown began while the browser launched
            await self.release(session, ReleaseReason.USER_REQUESTED)
            raise ServerClosing("the server is shutting down")
        log.info(
            "session %s live (pid %d, %s, %.0f ms)",
            session_id,
            session.browser.pid if session.browser else 0,
            session.browser.chromium.path.name if session.browser else "-",
            (time.monotonic() - started) * 1000,
        )
        return session

    async def _start(self, session_id: str, params: CreateParams, spec: LaunchSpec) -> LocalSession:
        """Launch (or take) the browser and set up what the session asked for; the session, in the registry."""
        try:
            browser = await self.pool.take(spec) or await self._launch(spec)
        except BaseException as exc:
            self.pool.gave_back()
            if isinstance(exc, RuntimeError):
                raise LaunchFailed(f"the browser for session {session_id} did not start: {exc}") from None
            raise
        files: FilesArea | None = None
        ready: asyncio.Future[None] | None = None
        try:
            files = _files_area(self._root / "files", self.max_files_bytes, session_id)
            # Pointing the browser's downloads at the area is a CDP round trip: it goes on while the create
            # does and is answered, and the relay awaits it before a client's first command reaches the browser.
            ready = asyncio.ensure_future(files.receive_downloads(browser.pipe))
            ready.add_done_callback(_log_files_failure)
            agent = await _restore(session_id, browser, params.context) if params.context else None
            recorder = None
            if params.record_video:
                assert self.ffmpeg is not None
                recorder = await _record(
                    self.ffmpeg, self._root / "recordings", self._owner, session_id, browser, params, agent
                )
        except BaseException:
            self.pool.gave_back()
            if ready is not None:
                ready.cancel()
            browser.kill()  # whatever failed (or the client went away): the browser goes with the create
            if files is not None:
                files.remove()
            self._spawn(browser.close())
            raise
        session = LocalSession(session_id, params, browser, self.registry.next_seq())
        session.context_agent = agent
        session.recorder = recorder
        session.files = files
        session.files_ready = ready
        self.registry.add(session)
        session.deadline_timer = asyncio.get_running_loop().call_later(
            params.timeout_ms / 1000, self._end_soon, session, ReleaseReason.TIMEOUT
        )
        if params.inactivity_timeout_ms is not None:
            self._arm_inactivity(session)
        self._spawn(self._watch_browser(session, browser))
        return session

    async def _launch(self, spec: LaunchSpec) -> BrowserProcess:
        """A new browser for ``spec``, on demand or for the pool; RuntimeError when it cannot start."""
        chromium = self._chromium.for_session(headless=spec.headless)
        return await BrowserProcess.launch(
            chromium,
            parent_dir=self._root,
            owner=self._owner,
            headless=spec.headless,
            width=spec.width,
            height=spec.height,
            user_agent=spec.user_agent,
            startup_timeout=self._startup_timeout,
            watchdog=self._watchdog,
        )

    def _arm_inactivity(self, session: LocalSession) -> None:
        """Fire when the window since the last activity closes; activity itself only stamps a time."""
        assert session.params.inactivity_timeout_ms is not None
        session.inactivity_timer = None
        idle_for = time.monotonic() - session.last_activity
        remaining = session.params.inactivity_timeout_ms / 1000 - idle_for
        if remaining <= 0:
            self._end_soon(session, ReleaseReason.INACTIVITY_TIMEOUT)
        elif session.is_live:
            session.inactivity_timer = asyncio.get_running_loop().call_later(remaining, self._arm_inactivity, session)

    def _end_soon(self, session: LocalSession, reason: ReleaseReason) -> None:
        if session.is_live:
            self._spawn(self.release(session, reason))

    async def _watch_browser(self, session: LocalSession, browser: BrowserProcess) -> None:
        code = await browser.wait()
        if session.is_live:
            log.warning(
                "session %s failed: its browser (pid %d) exited with code %s",
                session.id,
                browser.pid,
                code,
            )
            await self._end(session, SessionStatus.FAILED, ReleaseReason.BROWSER_CRASHED)

    async def release(self, session: LocalSession, reason: ReleaseReason = ReleaseReason.USER_REQUESTED) -> bool:
        """End a live session; False when it had already ended (which is not an error)."""
        if not session.is_live:
            await session.ended.wait()
            return False
        await self._end(session, SessionStatus.RELEASED, reason)
        log.info("session %s released (%s, %d ms)", session.id, reason.value, session.duration_ms)
        return True

    async def context(self, session: LocalSession) -> dict[str, Any]:
        """A live session's context in Steel's shape (cookies, localStorage, sessionStorage, indexedDB)."""
        browser = session.browser
        if not session.is_live or browser is None:
            raise SessionGone(f"session {session.id} is {session.status.value}; its context went with its browser")
        indexed_db = (session.params.context or {}).get("indexedDB", {})
        try:
            return await read_context(browser.pipe, session.context_agent, indexed_db)
        except CDPError as exc:
            raise SessionError(f"could not read the context of session {session.id}: {exc}") from None

    async def recording(self, session: LocalSession) -> Path:
        """An ended session's video, once complete; the errors say why there is none."""
        recorder = session.ended_recorder()
        path = await recorder.wait()
        if path is None:
            raise SessionNotFound(f"session {session.id} has no recording: {recorder.error}")
        return path

    async def discard_recording(self, session: LocalSession) -> None:
        await session.ended_recorder().discard()

    async def _end(self, session: LocalSession, status: SessionStatus, reason: ReleaseReason) -> None:
        session.mark_ended(status, reason)
        clients, session.clients = session.clients, set()
        browser, session.browser = session.browser, None
        agent, session.context_agent = session.context_agent, None
        files, session.files = session.files, None
        if agent is not None:
            await agent.close()
        if session.recorder is not None:
            if browser is not None and status is SessionStatus.RELEASED:
                await session.recorder.last_look()  # the video ends on the screen as the session ended
            self._spawn(session.recorder.finish())  # the file completes after the answer; fetching it waits
            asyncio.get_running_loop().call_later(KEPT_FOR_S, self._expire, session.recorder)
        if browser is not None:
            # Killed now, reaped and its directories removed after the answer: a release costs the test
            # no waiting on the kernel or the disk. Shutdown waits for the clean-up, so nothing is left.
            browser.kill()
            self._spawn(browser.close())
        if files is not None:  # after the kill: no download is still being written into it
            files.remove()
        closing = [c.close(code=1001, message=f"session {status.value}".encode()) for c in clients]
        try:
            await asyncio.gather(*closing, return_exceptions=True)
        finally:
            session.ended.set()
            for dropped in self.registry.trim():
                if dropped.recorder is not None:
                    self._spawn(dropped.recorder.discard())

    async def release_all(self, reason: ReleaseReason = ReleaseReason.USER_REQUESTED) -> int:
        results = await asyncio.gather(*(self.release(s, reason) for s in self.registry.live()))
        return sum(results)

    def _expire(self, recorder: Recorder) -> None:
        if not self._closing:
            self._spawn(recorder.discard(f"it was deleted {KEPT_FOR_S / 60:.0f} min after the session ended"))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def shutdown(self) -> int:
        """Refuse new sessions, let launches finish, release every live session."""
        self._closing = True
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.pool.drain(), self._startup_timeout)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._no_launches.wait(), self._startup_timeout)
        released = await self.release_all()
        # What is left are releases already under way and watchers of browsers now dead: let them finish.
        if self._tasks:
            _, stuck = await asyncio.wait(list(self._tasks), timeout=self._startup_timeout)
            for task in stuck:
                task.cancel()
        return released


async def _record(
    ffmpeg: Path,
    folder: Path,
    owner: str,
    session_id: str,
    browser: BrowserProcess,
    params: CreateParams,
    agent: ContextAgent | None,
) -> Recorder:
    """Start recording before the create is answered, so the video shows the test from its first step."""
    try:
        return await Recorder.start(
            ffmpeg,
            browser.pipe,
            folder / f"{session_id}.webm",
            width=params.width,
            height=params.height,
            owner=f"{owner}:recording-{session_id}",
        )
    except (CDPError, OSError) as exc:
        if agent is not None:
            await agent.close()
        await browser.close()
        raise LaunchFailed(f"could not start recording session {session_id}: {exc}") from None


async def _restore(session_id: str, browser: BrowserProcess, context: dict[str, Any]) -> ContextAgent | None:
    """Put ``sessionContext`` into the new browser before the create is answered; a failure ends the browser."""
    try:
        return await ContextAgent.start(browser.pipe, context)
    except (CDPError, OSError) as exc:
        await browser.close()
        raise LaunchFailed(f"could not restore the sessionContext of session {session_id}: {exc}") from None


def _files_area(root: Path, max_bytes: int, session_id: str) -> FilesArea:
    """The session's files area (its folder made); its browser's downloads are pointed at it by the caller."""
    try:
        return FilesArea(root / session_id, max_bytes)
    except OSError as exc:
        raise LaunchFailed(f"could not set up the files of session {session_id}: {exc}") from None


def _log_files_failure(ready: asyncio.Future[None]) -> None:
    if not ready.cancelled() and ready.exception() is not None:
        log.warning("a session's downloads could not be pointed at its files area: %s", ready.exception())
