"""One session's state on the local server, as the manager keeps it and the API shows it.

``LocalSession`` is written by ``SessionManager`` alone (``_session_manager.py``); the routes
read it, and ``to_wire`` is its JSON as the official Session model has it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import TYPE_CHECKING, Any, Protocol

from .._client.wire import RECORD_VIDEO_FIELD, ReleaseReason, SessionStatus
from ._http_errors import SessionConflict, SessionNotFound
from ._session_params import CreateParams

if TYPE_CHECKING:
    from ._chromium_procs.browser_process import BrowserProcess
    from ._chromium_procs.recorder import Recorder
    from ._chromium_procs.session_context import ContextAgent
    from ._session_files import FilesArea


class AttachedClient(Protocol):
    """A CDP client connected through the relay; closed when its session ends."""

    async def close(self, *, code: int = ..., message: bytes = ...) -> bool: ...


class LocalSession:
    """One session's record; outlives its browser so that it can still be retrieved and listed."""

    def __init__(self, session_id: str, params: CreateParams, browser: BrowserProcess, seq: int) -> None:
        self.id = session_id
        self.params = params
        self.browser: BrowserProcess | None = browser
        self.seq = seq
        self.created_at = dt.datetime.now(dt.timezone.utc)
        self._started = time.monotonic()
        self._ended: float | None = None
        self.status = SessionStatus.LIVE
        self.release_reason: ReleaseReason | None = None
        self.clients: set[AttachedClient] = set()
        self.last_activity = self._started
        self.ended = asyncio.Event()
        self.deadline_timer: asyncio.TimerHandle | None = None
        self.inactivity_timer: asyncio.TimerHandle | None = None
        self.context_agent: ContextAgent | None = None  # restoring sessionContext storage into its pages
        self.recorder: Recorder | None = None  # with recordVideo: its pages on video, kept after it ends
        self.files: FilesArea | None = None  # uploads and its pages' downloads, removed when it ends
        self.files_ready: asyncio.Future[None] | None = None  # its browser's downloads pointed at ``files``

    @property
    def is_live(self) -> bool:
        return self.status is SessionStatus.LIVE

    @property
    def duration_ms(self) -> int:
        end = self._ended if self._ended is not None else time.monotonic()
        return int((end - self._started) * 1000)

    def touch(self) -> None:
        self.last_activity = time.monotonic()

    def mark_ended(self, status: SessionStatus, reason: ReleaseReason) -> None:
        self.status = status
        self.release_reason = reason
        self._ended = time.monotonic()
        for timer in (self.deadline_timer, self.inactivity_timer):
            if timer is not None:
                timer.cancel()
        self.deadline_timer = self.inactivity_timer = None

    def ended_recorder(self) -> Recorder:
        """Its recorder, once its video can be complete; the errors say why not."""
        if self.recorder is None:
            raise SessionNotFound(f"session {self.id} was not recorded: create it with {RECORD_VIDEO_FIELD}: true")
        if self.is_live:
            raise SessionConflict(f"session {self.id} is live: its recording is complete once it is released")
        return self.recorder

    def to_wire(self, http_base: str, ws_base: str) -> dict[str, Any]:
        """Every field the official Session model requires, plus the optional ones we know."""
        p = self.params
        return {
            "id": self.id,
            "createdAt": self.created_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "status": self.status.value,
            "timeout": p.timeout_ms,
            "duration": self.duration_ms,
            "creditsUsed": 0,
            "eventCount": 0,
            "proxyBytesUsed": 0,
            "proxySource": None,
            "websocketUrl": f"{ws_base}/?sessionId={self.id}",
            "debugUrl": f"{http_base}/sessions/{self.id}/debug",
            "sessionViewerUrl": f"{http_base}/sessions/{self.id}",
            "dimensions": {"width": p.width, "height": p.height},
            "optimizeBandwidth": {},
            "releaseReason": self.release_reason.value if self.release_reason else None,
            "headless": p.headless,
            "userAgent": p.user_agent,
            "inactivityTimeout": p.inactivity_timeout_ms,
            "isSelenium": False,
            "solveCaptcha": False,
        }
