"""A small CDP client for the server's own work on a session's browser (its context, for now).

One channel of the browser's DevTools pipe (a client of its own, see ``pipe``), flat
sessions for targets, commands awaited by id and events handed to listeners. Every
wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

from .pipe import BrowserPipe, Calls, Channel, PipeClosed

COMMAND_TIMEOUT = 10.0  # seconds

Listener = Callable[[dict[str, Any], str | None], None]  # (params, sessionId)


class CDPError(RuntimeError):
    """A command failed, timed out, or the connection is gone."""


class CDPConnection:
    def __init__(self, channel: Channel) -> None:
        self._channel = channel
        self._calls = Calls(CDPError)
        self._listeners: dict[str, list[Listener]] = {}
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def open(cls, pipe: BrowserPipe | None) -> CDPConnection:
        if pipe is None:
            raise CDPError("the browser has no DevTools pipe")
        try:
            return cls(await pipe.open_channel())
        except PipeClosed as exc:
            raise CDPError(f"cannot reach the browser: {exc}") from None

    def on(self, method: str, listener: Listener) -> None:
        self._listeners.setdefault(method, []).append(listener)

    async def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        if self._reader.done():
            raise CDPError("the browser connection is closed")
        return await self._calls.call(
            lambda message: self._channel.send(json.dumps(message)), method, params, session, timeout=COMMAND_TIMEOUT
        )

    async def _read(self) -> None:
        try:
            async for text in self._channel:
                data = json.loads(text)
                if not self._calls.answered(data):
                    for listener in self._listeners.get(data.get("method", ""), ()):
                        listener(data.get("params", {}), data.get("sessionId"))
        finally:
            self._calls.fail_all("the browser connection closed")

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._channel.close()
        self._reader.cancel()
        with contextlib.suppress(BaseException):
            await self._reader
