"""The live view: what a session's browser shows, streamed to its viewer page while someone watches.

The viewer page opens ``/sessions/{id}/live`` (a WebSocket, behind the API key like the
page itself). For each watcher the server runs a ``Screencast`` of the session's newest
page on a CDP client of its own. Nothing runs while nobody watches; when the watcher
leaves, detaching the client stops the screencast. When the session ends, the watcher is
told how, and the socket closes.

Messages to the page, JSON: ``{"type": "state", "status", "timeLeftMs", "url", "title",
"pages"}`` when something changes, ``{"type": "frame", "data"}`` (base64 JPEG), and
``{"type": "ended", "status", "reason"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .._chromium_procs.cdp import CDPConnection, CDPError
from .._chromium_procs.screencast import Screencast

if TYPE_CHECKING:
    from .._session_state import LocalSession

log = logging.getLogger("pytest_steel.local")


class LiveView:
    """One watcher of one session."""

    def __init__(self, session: LocalSession, cdp: CDPConnection, socket: web.WebSocketResponse) -> None:
        self._session = session
        self._socket = socket
        self._cast = Screencast(cdp, self._frame, self._changed)

    async def run(self) -> None:
        """Stream until the watcher leaves or the session ends."""
        ended = asyncio.ensure_future(self._session.ended.wait())
        left = asyncio.ensure_future(self._watcher_left())
        follow = asyncio.ensure_future(self._cast.run())
        try:
            await asyncio.wait([ended, left, follow], return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._cast.stop()
            for task in (ended, left, follow):
                task.cancel()
        if follow.done() and not follow.cancelled() and follow.exception() is not None:
            log.debug("live view of session %s: %s", self._session.id, follow.exception())
        if self._session.ended.is_set():
            reason = self._session.release_reason.value if self._session.release_reason else None
            await self._send({"type": "ended", "status": self._session.status.value, "reason": reason})

    async def _watcher_left(self) -> None:
        async for _ in self._socket:  # the page sends nothing; this ends when it goes
            pass

    async def _frame(self, data: str) -> None:
        await self._send({"type": "frame", "data": data})

    async def _changed(self) -> None:
        await self._send(self._state())

    def _state(self) -> dict[str, Any]:
        shown = self._cast.shown
        session = self._session
        return {
            "type": "state",
            "status": session.status.value,
            "timeLeftMs": max(session.params.timeout_ms - session.duration_ms, 0),
            "url": shown.get("url", ""),
            "title": shown.get("title", ""),
            "pages": [{"url": p.get("url", ""), "title": p.get("title", "")} for p in self._cast.pages.values()],
        }

    async def _send(self, message: dict[str, Any]) -> None:
        if not self._socket.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self._socket.send_json(message)


async def live(request: web.Request, session: LocalSession) -> web.StreamResponse:
    """The WebSocket behind the viewer page's live view."""
    socket = web.WebSocketResponse(heartbeat=20.0)
    await socket.prepare(request)
    browser = session.browser
    if not session.is_live or browser is None:
        reason = session.release_reason.value if session.release_reason else None
        await socket.send_json({"type": "ended", "status": session.status.value, "reason": reason})
        await socket.close()
        return socket
    try:
        cdp = await CDPConnection.open(browser.pipe)
    except CDPError:
        await socket.close(code=1011, message=b"browser unreachable")
        return socket
    try:
        await LiveView(session, cdp, socket).run()
    except CDPError as exc:
        log.debug("live view of session %s ended: %s", session.id, exc)
    finally:
        await cdp.close()
        await socket.close()
    return socket
