"""One driver connection's way through the relay to its session: its ``Route``, and its ``RemoteFiles``.

Apart from the relay (``relay``) so that its two halves for files, ``relay_downloads``
and ``relay_uploads``, name the route they work on without importing the relay itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from concurrent.futures import Future

    from .._client.async_client import AsyncSteelClient
    from .expose import LocalExposure
    from .intercept import Interceptor
    from .socket_grants import SocketGrant

FETCH_TIMEOUT = 300.0  # seconds one download may take to come back


class RemoteFiles:
    """A connection's way to its session's files area, and its downloads in flight.

    The async client is made on first need in the relay's own loop, which it then belongs to.
    """

    def __init__(self, make_client: Callable[[], AsyncSteelClient], session_id: str) -> None:
        self._make_client = make_client
        self._client: AsyncSteelClient | None = None
        self.session_id = session_id
        self.held: dict[str, list[str]] = {}  # guid -> its completed event, then its later events
        self.tasks: set[asyncio.Task[Any]] = set()
        self.fetch_timeout = FETCH_TIMEOUT

    @property
    def client(self) -> AsyncSteelClient:
        if self._client is None:
            self._client = self._make_client()
        return self._client

    async def download_to(self, path: str, local: Path) -> None:
        await self.client.files.download_to(self.session_id, path, local)

    async def upload(self, local: Path, path: str) -> str:
        """``local`` into the session's files at ``path``; the path the session's browser knows it by."""
        return (await self.client.files.upload(self.session_id, local, path=path)).path

    def start(self, work: Any) -> None:
        """Run ``work`` (a coroutine) as a task of this connection, cancelled if the connection ends first."""
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def aclose(self) -> None:
        """The connection ended: cancel what is still on its way (a partial file goes with it), close the client."""
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(BaseException):
                await task
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


@dataclass
class Route:
    """One driver connection's way to its session, and what it learned on the way."""

    upstream: str  # the session's CDP URL (with its key, if any): never shown
    files: RemoteFiles  # the session's files area, and the downloads and uploads on their way
    uploads: bool = False  # the driver was told the browser shares its disk: file inputs are rewritten here
    exposure: LocalExposure | None = None  # the test machine's hosts the relay answers for, if any
    folders: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)  # what the test's report should say: files, the exposure
    interceptor: Interceptor | None = None  # while the driver is connected, with an exposure
    loop: asyncio.AbstractEventLoop | None = None
    sockets: int = 0  # bridged WebSockets open

    def socket_grant(self, url: str, most: int) -> Future[tuple[SocketGrant, str | None, bool] | None]:
        """From any thread: the relay's grant for a page socket to ``url``, its cookies, and whether it has a slot."""
        if self.loop is None:
            raise RuntimeError("the session's connection is closed")
        return asyncio.run_coroutine_threadsafe(self._grant(url, most), self.loop)

    async def _grant(self, url: str, most: int) -> tuple[SocketGrant, str | None, bool] | None:
        interceptor = self.interceptor
        grant = interceptor.take_grant(url) if interceptor is not None else None
        if interceptor is None or grant is None:
            return None
        cookie = await interceptor.cookie_header(grant)
        slot = self.sockets < most
        self.sockets += slot
        return grant, cookie, slot

    def sockets_closed(self) -> None:
        """From any thread: a bridged socket with a slot ended."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self._free_slot)

    def _free_slot(self) -> None:
        self.sockets = max(0, self.sockets - 1)
