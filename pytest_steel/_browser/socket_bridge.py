"""A page's WebSocket to the test machine's app, carried by the Playwright driver's connection to the page.

Playwright's ``route_web_socket`` hands the page's socket to a handler; its own
``connect_to_server`` would connect from the browser, which runs elsewhere. So the
handler connects from here instead (aiohttp, in the loop Playwright's handlers run in)
and passes every message both ways, in order, text as text and bytes as bytes; either
side's close closes the other.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

_CLOSED = object()


class SocketBridge:
    """One page socket and its twin to the local app."""

    def __init__(self, route: Any) -> None:
        self._route = route
        self._to_app: asyncio.Queue[Any] = asyncio.Queue()

    @classmethod
    def start(cls, route: Any) -> SocketBridge:
        """Take over ``route`` (Playwright's WebSocketRoute, sync or async API) and connect to its URL from here."""
        bridge = cls(route)
        route.on_message(bridge._to_app.put_nowait)
        route.on_close(lambda *_: bridge._to_app.put_nowait(_CLOSED))
        task = asyncio.get_running_loop().create_task(bridge._run())
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # never an unretrieved exception
        return bridge

    async def _run(self) -> None:
        from aiohttp import ClientError, ClientSession, WSMsgType

        try:
            async with ClientSession() as http, http.ws_connect(self._route.url, max_msg_size=0) as app:
                writer = asyncio.ensure_future(self._write(app))
                try:
                    async for message in app:
                        if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                            self._route.send(message.data)
                finally:
                    writer.cancel()
                code = app.close_code or 1000
        except (ClientError, OSError):
            code = 1011
        await self._close_page(code)

    async def _write(self, app: Any) -> None:
        while (message := await self._to_app.get()) is not _CLOSED:
            if isinstance(message, str):
                await app.send_str(message)
            else:
                await app.send_bytes(message)
        await app.close()

    async def _close_page(self, code: int) -> None:
        # The sync API's close waits on the loop this runs in: the underlying object's coroutine, awaited here.
        closer = getattr(self._route, "_impl_obj", self._route)
        with contextlib.suppress(Exception):
            await closer.close(code=code if code in (1000, 1011) or 3000 <= code < 5000 else 1000)
