"""Chromium's screencast of a session's newest open page, following the pages as they open and close.

The live view and the recorder both watch a session this way: a CDP client of its
own on the browser's pipe (see ``pipe``), target discovery to know the pages, and
``Page.startScreencast`` on the newest open one. Each JPEG frame is handed to the
consumer and acknowledged only once the consumer has taken it, so a slow consumer
slows the stream, never the browser. Detaching the client stops everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from .cdp import CDPConnection, CDPError

log = logging.getLogger("pytest_steel.local")

SCREENCAST = {"format": "jpeg", "quality": 70, "maxWidth": 1280, "maxHeight": 1024, "everyNthFrame": 1}

FrameSink = Callable[[str], Awaitable[None]]  # a base64 JPEG
ChangeSink = Callable[[], Awaitable[None]]


class Screencast:
    """Frames of the newest open page to ``on_frame``; ``on_change`` when the pages or the shown one change."""

    def __init__(
        self,
        cdp: CDPConnection,
        on_frame: FrameSink,
        on_change: ChangeSink | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        self._cdp = cdp
        self._on_frame = on_frame
        self._on_change = on_change
        self._options = options or SCREENCAST
        self.pages: dict[str, dict[str, Any]] = {}  # targetId -> targetInfo, oldest first
        self._shown: str | None = None  # the page being screencast
        self._cast: str | None = None  # its CDP session
        self._changed = asyncio.Event()
        self._stopped = False

    @property
    def shown(self) -> dict[str, Any]:
        """The shown page's target info (``url``, ``title``), empty when there is none."""
        return self.pages.get(self._shown or "", {})

    async def run(self) -> None:
        """Follow the pages until cancelled."""
        self._cdp.on("Target.targetCreated", self._target)
        self._cdp.on("Target.targetInfoChanged", self._target)
        self._cdp.on("Target.targetDestroyed", self._destroyed)
        self._cdp.on("Page.screencastFrame", self._frame)
        # Chromium does not report a title set as a page loads as a target change: the shown page says it.
        self._cdp.on("Page.domContentEventFired", self._loaded)
        self._cdp.on("Page.loadEventFired", self._loaded)
        await self._cdp.send("Target.setDiscoverTargets", {"discover": True})
        while True:
            await self._changed.wait()
            self._changed.clear()
            if self._stopped:
                return
            newest = next(reversed(self.pages), None)
            if newest != self._shown:
                await self._show(newest)
            if self._on_change is not None:
                await self._on_change()

    async def snapshot(self) -> str | None:
        """The shown page as it is now (a base64 JPEG like the frames), or None when no page is shown.

        A frame comes only after the page changed and was painted, so the newest one can lag what is
        on screen: the recorder asks for this last look before the browser goes.
        """
        if self._cast is None:
            return None
        params = {"format": "jpeg", "quality": self._options.get("quality", 70)}
        try:
            answer = await self._cdp.send("Page.captureScreenshot", params, self._cast)
        except CDPError:
            return None
        data = answer.get("data")
        return data if isinstance(data, str) else None

    def stop(self) -> None:
        """End ``run`` at its next step, whatever it awaits: a cancellation alone can be lost (Python 3.11's
        ``wait_for`` swallows one that arrives as its answer does)."""
        self._stopped = True
        self._changed.set()

    def _target(self, params: dict[str, Any], _: str | None) -> None:
        info = params.get("targetInfo", {})
        if info.get("type") == "page":
            self.pages[info["targetId"]] = info
            self._changed.set()

    def _destroyed(self, params: dict[str, Any], _: str | None) -> None:
        if self.pages.pop(params.get("targetId", ""), None) is not None:
            self._changed.set()

    def _frame(self, params: dict[str, Any], cdp_session: str | None) -> None:
        if cdp_session is not None and cdp_session == self._cast:
            asyncio.ensure_future(self._forward_frame(params, cdp_session))

    async def _forward_frame(self, params: dict[str, Any], cdp_session: str) -> None:
        await self._on_frame(params.get("data", ""))
        with contextlib.suppress(CDPError):  # the next frame comes once this one is acknowledged
            await self._cdp.send("Page.screencastFrameAck", {"sessionId": params.get("sessionId")}, cdp_session)

    def _loaded(self, params: dict[str, Any], cdp_session: str | None) -> None:
        if cdp_session is not None and cdp_session == self._cast:
            asyncio.ensure_future(self._read_title(cdp_session))

    async def _read_title(self, cdp_session: str) -> None:
        expression = {"expression": "[document.title, location.href]", "returnByValue": True}
        with contextlib.suppress(CDPError, KeyError, TypeError, ValueError):
            title, url = (await self._cdp.send("Runtime.evaluate", expression, cdp_session))["result"]["value"]
            shown = self.pages.get(self._shown or "")
            if shown is None or cdp_session != self._cast:
                return  # another page is shown by now
            if (shown.get("title"), shown.get("url")) != (title, url):
                shown.update(title=title, url=url)
                self._changed.set()

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
            await self._cdp.send("Page.startScreencast", self._options, self._cast)
        except CDPError as exc:  # the page closed meanwhile: the next change picks another
            log.debug("screencast: cannot show page %s: %s", target_id, exc)
