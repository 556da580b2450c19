"""The live view: what a session's browser shows, streamed to its viewer page while someone watches.

The viewer page opens ``/sessions/{id}/live`` (a WebSocket, behind the API key like the
page itself). For each watcher the server opens a channel of the browser's pipe (a CDP
client of its own, see ``_pipe``), follows the session's pages with target discovery,
and runs Chromium's screencast on the newest open page: JPEG frames, each acknowledged
before Chromium sends the next, so a slow watcher slows the stream, not the browser.
Nothing runs while nobody watches; when the watcher leaves, detaching the channel stops
the screencast. When the session ends, the watcher is told how, and the socket closes.

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

from ._cdp import CDPConnection, CDPError

if TYPE_CHECKING:
    from ._sessions import LocalSession

log = logging.getLogger("pytest_steel.local")

SCREENCAST = {"format": "jpeg", "quality": 70, "maxWidth": 1280, "maxHeight": 1024, "everyNthFrame": 1}


class LiveView:
    """One watcher of one session."""

    def __init__(self, session: LocalSession, cdp: CDPConnection, socket: web.WebSocketResponse) -> None:
        self._session = session
        self._cdp = cdp
        self._socket = socket
        self._pages: dict[str, dict[str, Any]] = {}  # targetId -> targetInfo, oldest first
        self._shown: str | None = None  # the page being screencast
        self._cast: str | None = None  # its CDP session
        self._changed = asyncio.Event()

    async def run(self) -> None:
        """Stream until the watcher leaves or the session ends."""
        self._cdp.on("Target.targetCreated", self._target)
        self._cdp.on("Target.targetInfoChanged", self._target)
        self._cdp.on("Target.targetDestroyed", self._destroyed)
        self._cdp.on("Page.screencastFrame", self._frame)
        # Chromium does not report a title set as a page loads as a target change: the shown page says it.
        self._cdp.on("Page.domContentEventFired", self._loaded)
        self._cdp.on("Page.loadEventFired", self._loaded)
        await self._cdp.send("Target.setDiscoverTargets", {"discover": True})
        ended = asyncio.ensure_future(self._session.ended.wait())
        left = asyncio.ensure_future(self._watcher_left())
        follow = asyncio.ensure_future(self._follow())
        try:
            await asyncio.wait([ended, left], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (ended, left, follow):
                task.cancel()
        if self._session.ended.is_set():
            reason = self._session.release_reason.value if self._session.release_reason else None
            await self._send({"type": "ended", "status": self._session.status.value, "reason": reason})

    async def _watcher_left(self) -> None:
        async for _ in self._socket:  # the page sends nothing; this ends when it goes
            pass

    def _target(self, params: dict[str, Any], _: str | None) -> None:
        info = params.get("targetInfo", {})
        if info.get("type") == "page":
            self._pages[info["targetId"]] = info
            self._changed.set()

    def _destroyed(self, params: dict[str, Any], _: str | None) -> None:
        if self._pages.pop(params.get("targetId", ""), None) is not None:
            self._changed.set()

    def _frame(self, params: dict[str, Any], cdp_session: str | None) -> None:
        if cdp_session is None or cdp_session != self._cast:
            return
        asyncio.ensure_future(self._forward_frame(params, cdp_session))

    def _loaded(self, params: dict[str, Any], cdp_session: str | None) -> None:
        if cdp_session is not None and cdp_session == self._cast:
            asyncio.ensure_future(self._read_title(cdp_session))

    async def _read_title(self, cdp_session: str) -> None:
        expression = {"expression": "[document.title, location.href]", "returnByValue": True}
        with contextlib.suppress(CDPError, KeyError, TypeError, ValueError):
            title, url = (await self._cdp.send("Runtime.evaluate", expression, cdp_session))["result"]["value"]
            shown = self._pages.get(self._shown or "")
            if shown is None or cdp_session != self._cast:
                return  # another page is shown by now
            if (shown.get("title"), shown.get("url")) != (title, url):
                shown.update(title=title, url=url)
                self._changed.set()

    async def _forward_frame(self, params: dict[str, Any], cdp_session: str) -> None:
        await self._send({"type": "frame", "data": params.get("data", "")})
        with contextlib.suppress(CDPError):  # the next frame comes once this one is acknowledged
            await self._cdp.send("Page.screencastFrameAck", {"sessionId": params.get("sessionId")}, cdp_session)

    async def _follow(self) -> None:
        """Show the newest open page; tell the watcher what there is, each time it changes."""
        while True:
            await self._changed.wait()
            self._changed.clear()
            newest = next(reversed(self._pages), None)
            if newest != self._shown:
                await self._show(newest)
            await self._send(self._state())

    async def _show(self, target_id: str | None) -> None:
        if self._cast is not None:
            with contextlib.suppress(CDPError):
                await self._cdp.send("Target.detachFromTarget", {"sessionId": self._cast})
        self._shown, self._cast = target_id, None
        if target_id is None:
            return
        try:
            attached = await self._cdp.send("Target.attachToTarget", {"targetId": target_id, "flatten": True})
            self._cast = attached["sessionId"]
            await self._cdp.send("Page.enable", {}, self._cast)
            await self._cdp.send("Page.startScreencast", SCREENCAST, self._cast)
        except CDPError as exc:  # the page closed meanwhile: the next change picks another
            log.debug("live view: cannot show page %s: %s", target_id, exc)

    def _state(self) -> dict[str, Any]:
        shown = self._pages.get(self._shown or "", {})
        session = self._session
        return {
            "type": "state",
            "status": session.status.value,
            "timeLeftMs": max(session.params.timeout_ms - session.duration_ms, 0),
            "url": shown.get("url", ""),
            "title": shown.get("title", ""),
            "pages": [{"url": p.get("url", ""), "title": p.get("title", "")} for p in self._pages.values()],
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
