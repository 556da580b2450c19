"""The CDP endpoint: one client relayed to its session's browser, so the API key and lifecycle govern both.

Both ways a message is handed on in the callback that read it, as the bytes that
came: no task, queue or parse between a client's socket and the browser's pipe.
Neither side can make the server its buffer: a client that reads nothing is dropped
past ``MAX_UNSENT``, and a browser behind on its pipe stops the client being read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web

from ..._client.wire import ReleaseReason
from .._chromium_procs.cdp import CDPError
from .._chromium_procs.pipe import Channel, PipeClosed
from .._files_relay import FilesRelay
from .._http_errors import SessionGone
from .state import MANAGER
from .websocket import MAX_UNSENT, RelaySocket

log = logging.getLogger("pytest_steel.local")

_BROWSER_EXIT_GRACE = 2.0  # seconds


async def _browser_end(channel: Channel) -> None:
    async for _ in channel:  # a relay's channel forwards its messages: only the end comes this way
        pass


async def cdp_relay(request: web.Request, session_id: str) -> web.StreamResponse:
    """Relay one CDP client to its session's browser until either side ends (see the module's docstring)."""
    session = request.app[MANAGER].registry.get(session_id)
    if not session.is_live or session.browser is None:
        raise SessionGone(f"session {session.id} is {session.status.value} and accepts no connections")
    browser = session.browser
    client = await RelaySocket.accept(request)
    try:
        if browser.pipe is None:
            raise PipeClosed("the browser has no DevTools pipe")
        if session.files_ready is not None:  # the session's downloads go to its files area before any command
            try:
                await asyncio.shield(session.files_ready)
            except (CDPError, OSError, RuntimeError) as exc:
                await request.app[MANAGER].release(session, ReleaseReason.STARTUP_FAILED)
                raise PipeClosed(f"the session's files could not be set up: {exc}") from None
        upstream = await browser.pipe.open_channel()
    except PipeClosed as exc:
        await client.close(code=1011, message=f"browser unreachable: {exc}".encode())
        return client.response
    session.clients.add(client)

    files = FilesRelay(session.files, client.send_texts) if session.files is not None else None

    def to_browser(message: bytes) -> None:
        session.touch()
        upstream.send(files.command(message) if files is not None else message)

    upstream.forward_to(files.events if files is not None else client.send_texts)
    upstream.hold_back(client)
    client.receive_with(to_browser)
    browser_side_closed = False
    try:
        client_end = asyncio.ensure_future(client.wait_closed())
        browser_end = asyncio.ensure_future(_browser_end(upstream))
        ends = [client_end, browser_end]
        done, pending = await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
        browser_side_closed = browser_end in done
        for task in pending:
            task.cancel()
        for task in ends:
            with contextlib.suppress(BaseException):
                await task
    finally:
        session.clients.discard(client)
        if files is not None:
            files.close()
        await upstream.close()
        if client.fell_behind:
            log.warning(
                "session %s: a CDP client left %d MB unread; its connection was closed, as Chromium's own "
                "DevTools server closes one",
                session.id,
                MAX_UNSENT // 2**20,
            )
        if session.is_live and not client.closed and browser_side_closed:
            # The socket closes a moment before the browser's exit is seen: let the session
            # reach its final state first, so a client that looks it up finds "failed".
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(session.ended.wait(), _BROWSER_EXIT_GRACE)
        if not client.closed:
            reason = "browser connection lost" if session.is_live else f"session {session.status.value}"
            await client.close(code=1001, message=reason.encode())
    return client.response
