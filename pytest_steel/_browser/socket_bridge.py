"""A page's WebSocket to the test machine's app, carried by the Playwright driver's connection to the page.

Playwright's ``route_web_socket`` hands the page's socket to a handler; its own
``connect_to_server`` would connect from the browser, which runs elsewhere. So the
handler connects from here instead (aiohttp, in the loop Playwright's handlers run in)
and passes every message both ways, in order, text as text and bytes as bytes; either
side's close closes the other.

Only a socket the relay let through is bridged (its grant says which document asked,
``socket_grants.SocketGrant``): the handshake carries that document's ``Origin``, the
cookies the browser keeps for the URL (as the page's own handshake would, SameSite
applied) and the page's subprotocols, so a cookie-authenticated or ``graphql-ws`` socket
works while a public page's never gets here. Bounded: sockets open per session, bytes
queued toward the app, and one message's size; past a bound the page's socket closes
with a code that says why, and the test's report says it too.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

MAX_SOCKETS = 32  # bridged sockets open at once, per session connection
MAX_MESSAGE_BYTES = 16 * 2**20  # one message, either way
MAX_QUEUED_BYTES = 32 * 2**20  # the page's messages waiting for the app
POLICY, TOO_BIG, TRY_LATER, APP_FAILED = 1008, 1009, 1013, 1011
_PAGE_CODES = (1000, POLICY, TOO_BIG, APP_FAILED, TRY_LATER)
_CLOSED = object()


class SocketBridge:
    """One page socket and its twin to the local app."""

    def __init__(self, route: Any, relay: Any) -> None:
        self._route = route
        self._relay = relay  # the relay's route of the session's connection (``relay.Route``), or None
        self._to_app: asyncio.Queue[Any] = asyncio.Queue()
        self._queued = 0
        self._overflow: int | None = None

    @classmethod
    def start(cls, route: Any, relay: Any) -> SocketBridge:
        """Take over ``route`` (Playwright's WebSocketRoute, sync or async API) and connect to its URL from here."""
        bridge = cls(route, relay)
        route.on_message(bridge._from_page)
        route.on_close(lambda *_: bridge._to_app.put_nowait(_CLOSED))
        task = asyncio.get_running_loop().create_task(bridge._run())
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # never an unretrieved exception
        return bridge

    def _from_page(self, message: str | bytes) -> None:
        size = len(message.encode() if isinstance(message, str) else message)
        if size > MAX_MESSAGE_BYTES:
            self._overflow = TOO_BIG
        elif self._queued + size > MAX_QUEUED_BYTES:
            self._overflow = TOO_BIG
        if self._overflow is not None:
            self._to_app.put_nowait(_CLOSED)
            return
        self._queued += size
        self._to_app.put_nowait(message)

    async def _run(self) -> None:
        url = self._route.url
        granted = await self._grant(url)
        if granted is None:
            self._note(f"a WebSocket to {url} was refused: no document that may reach this machine asked for it")
            await self._close_page(POLICY)
            return
        grant, cookie, slot = granted
        if not slot:
            self._note(f"a WebSocket to {url} was closed: more than {MAX_SOCKETS} bridged sockets open at once")
            await self._close_page(TRY_LATER)
            return
        try:
            await self._bridge(url, grant, cookie)
        finally:
            self._relay.sockets_closed()

    async def _bridge(self, url: str, grant: Any, cookie: str | None) -> None:
        from aiohttp import ClientError, ClientSession, DummyCookieJar, WSMsgType

        headers = {"Origin": grant.origin} if grant.origin else {}
        if cookie:
            headers["Cookie"] = cookie
        code = 1000
        try:
            async with (
                ClientSession(cookie_jar=DummyCookieJar(), trust_env=False) as http,
                http.ws_connect(
                    url, protocols=tuple(grant.protocols), headers=headers, max_msg_size=MAX_MESSAGE_BYTES
                ) as app,
            ):
                writer = asyncio.ensure_future(self._write(app))
                try:
                    async for message in app:
                        if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                            self._route.send(message.data)
                        elif message.type == WSMsgType.ERROR:
                            code = TOO_BIG if "size" in str(message.data).lower() else APP_FAILED
                            break
                finally:
                    writer.cancel()
                code = self._overflow or (code if code != 1000 else app.close_code or 1000)
        except (ClientError, OSError):
            code = APP_FAILED
        if code == TOO_BIG:
            self._note(
                f"a WebSocket to {url} was closed: a message over {_size(MAX_MESSAGE_BYTES)}, or over "
                f"{_size(MAX_QUEUED_BYTES)} queued toward the app"
            )
        await self._close_page(code)

    async def _grant(self, url: str) -> tuple[Any, str | None, bool] | None:
        if self._relay is None:
            return None
        with contextlib.suppress(Exception):
            return await asyncio.wrap_future(self._relay.socket_grant(url, MAX_SOCKETS))
        return None

    def _note(self, line: str) -> None:
        if self._relay is not None:
            self._relay.failures.append(line)

    async def _write(self, app: Any) -> None:
        while (message := await self._to_app.get()) is not _CLOSED:
            self._queued -= len(message.encode() if isinstance(message, str) else message)
            if isinstance(message, str):
                await app.send_str(message)
            else:
                await app.send_bytes(message)
        await app.close(code=self._overflow or 1000)

    async def _close_page(self, code: int) -> None:
        # The sync API's close waits on the loop this runs in: the underlying object's coroutine, awaited here.
        closer = getattr(self._route, "_impl_obj", self._route)
        with contextlib.suppress(Exception):
            await closer.close(code=code if code in _PAGE_CODES or 3000 <= code < 5000 else 1000, reason=None)


def _size(count: int) -> str:
    return f"{count / 2**20:g} MiB" if count >= 2**20 else f"{count} bytes"
