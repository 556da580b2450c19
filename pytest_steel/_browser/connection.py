"""A Playwright browser connected over CDP to one tracked session, and what the artifacts need to know of it."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from .._client.errors import SteelError, SteelSessionError, first_line
from . import pid_folders
from .uploads import remember

if TYPE_CHECKING:
    from playwright import async_api
    from playwright.sync_api import Browser, BrowserContext, Playwright

    from .._client.client import SteelClient
    from .._client.models import Session
    from .expose import LocalExposure

CONNECT_TIMEOUT_MS = 30_000


class ConnectedSession(Protocol):
    """What a connection reads and tells of the session it connects to (``_sessions.lifecycle`` has the type).

    Named here so that this layer, below the run's sessions, needs nothing from above it.
    """

    @property
    def id(self) -> str: ...

    @property
    def session(self) -> Session: ...

    @property
    def download_failures(self) -> list[str]: ...

    def connection_lost(self) -> None: ...

    def close_connection(self) -> None: ...


_DRIVER_DIR_PREFIX = "pytest-steel-playwright-"  # then the owning process's pid, a dash, mkdtemp's letters


class PlaywrightDriver:
    """The process's Playwright sync API: started on first need, and stopped again for async tests.

    Playwright's sync API keeps the thread's asyncio loop marked as running for as long
    as its driver runs, which stops any later async test (pytest-asyncio runs those in a
    loop of its own). So the driver runs only while sync connections need it: an async
    fixture asks for room (``make_room_for_async``), and the next sync one starts it again.
    When pytest-playwright is active it is pytest-playwright's driver (two sync drivers cannot
    share a thread), which is not ours to stop: ``borrow`` fetches it, on first need too.

    First need is a test's first connection, never earlier: a running driver holds the thread's
    loop, so a user's session fixture that runs its own loop (an app started with
    ``loop.run_until_complete``) must come first, whatever order pytest sets session fixtures up in.
    ``on_start`` is told when ours starts, so that it stops before those fixtures are torn down.
    """

    def __init__(
        self, borrow: Callable[[], Playwright] | None = None, on_start: Callable[[], None] | None = None
    ) -> None:
        self._playwright: Playwright | None = None
        self._borrow = borrow
        self._on_start = on_start
        self._ours = borrow is None
        self._stack = contextlib.ExitStack()
        self.open: set[Connection] = set()  # sync connections that need the driver running

    def get(self) -> Playwright:
        if self._playwright is None and self._borrow is not None:
            self._playwright = self._borrow()
        if self._playwright is None:
            from playwright.sync_api import sync_playwright

            started = self._stack.enter_context(driver_tmpdir())
            self._playwright = sync_playwright().start()
            started()
            if self._on_start is not None:
                self._on_start()
        return self._playwright

    def make_room_for_async(self, nodeid: str) -> None:
        """Stop the sync driver before an async test; a clear error when sync connections still need it."""
        if self._playwright is None:
            return
        if not self._ours or self.open:
            why = "pytest-playwright's sync driver" if not self._ours else "a sync connection to a Steel session"
            raise SteelError(
                f"{nodeid} needs the thread's event loop for Playwright's async API, but {why} holds it "
                "(Playwright's sync API marks the loop running while it runs). Keep sync and async Steel "
                "fixtures in separate modules with per-test sessions, or in separate pytest runs"
            )
        self.stop()

    def stop(self) -> None:
        try:
            if self._playwright is not None and self._ours:
                playwright, self._playwright = self._playwright, None
                playwright.stop()
        finally:
            self._stack.close()  # its temp folder, even when the driver did not stop cleanly


class Connection:
    """One CDP connection: a dropped connection is the session's news (``connection_lost``), a close is ours."""

    def __init__(
        self,
        driver: PlaywrightDriver,
        client: SteelClient,
        tracked: ConnectedSession,
        slow_mo: float = 0,
        url: str | None = None,
        exposure: LocalExposure | None = None,
        is_local: bool = False,
    ) -> None:
        from playwright.sync_api import Error as PlaywrightError

        playwright = driver.get()
        self._driver = driver
        self.tracked = tracked
        self.tracing = False  # its context records a Playwright trace (in chunks, one per test)
        self._context: BrowserContext | None = None
        failure: str | None = None
        try:
            self.browser: Browser = playwright.chromium.connect_over_cdp(
                url or client.cdp_url(tracked.session),
                timeout=CONNECT_TIMEOUT_MS,
                slow_mo=slow_mo or None,
                **local_paths(is_local),
            )
        except PlaywrightError as exc:
            failure = client.redact(first_line(exc))
        if failure is not None:  # raised outside the except block, so no local holds the unredacted error
            raise connect_error(tracked, failure, client)
        self.browser.on("disconnected", lambda _: tracked.connection_lost())
        remember(self.browser, client, tracked.id, is_local)
        driver.open.add(self)
        if exposure is not None:
            exposure.attach(self.browser)

    @property
    def context(self) -> BrowserContext:
        """The session's default context: Steel opens one, with a page, for every session."""
        if self._context is None:
            contexts = self.browser.contexts
            self._context = contexts[0] if contexts else self.browser.new_context()
        return self._context

    def close(self) -> None:
        """Disconnect on purpose; a connection that already dropped is noted as lost first."""
        from playwright.sync_api import Error as PlaywrightError

        if not self.browser.is_connected():
            self.tracked.connection_lost()  # the event may not have been dispatched yet
        self.tracked.close_connection()
        self._driver.open.discard(self)
        if self.browser.is_connected():
            try:
                self.browser.close()
            except PlaywrightError:
                pass  # the connection went down under us: the session's release is what matters


def local_paths(is_local: bool) -> dict[str, Any]:
    """``is_local=True`` when asked (the relay rewrites file inputs): not passed at all otherwise, so that
    a Playwright older than 1.58, which has no such argument, connects as it always did."""
    return {"is_local": True} if is_local else {}


def connect_error(tracked: ConnectedSession, failure: str, client: SteelClient | None = None) -> SteelSessionError:
    from .relay import UNREACHABLE

    relayed = [line for line in tracked.download_failures if line.startswith(UNREACHABLE)]
    if relayed:  # Playwright says only that the target closed; the relay knows why the connection did not open
        failure = f"{failure} ({client.redact(relayed[-1]) if client is not None else relayed[-1]})"
    return SteelSessionError(
        f"could not connect Playwright to Steel session {tracked.id}: {failure}",
        session_id=tracked.id,
        status=str(tracked.session.status),
    )


class AsyncConnection:
    """``Connection``'s async twin: its own async Playwright driver in the test's loop, or one it is lent."""

    def __init__(self, tracked: ConnectedSession) -> None:
        self.tracked = tracked
        self.tracing = False
        self._stack = contextlib.ExitStack()
        self._playwright: async_api.Playwright | None = None
        self.browser: async_api.Browser

    @classmethod
    async def open(
        cls,
        client: SteelClient,
        tracked: ConnectedSession,
        slow_mo: float = 0,
        playwright: async_api.Playwright | None = None,
        url: str | None = None,
        exposure: LocalExposure | None = None,
        is_local: bool = False,
    ) -> AsyncConnection:
        """Connect; with ``playwright`` given (pytest-playwright-asyncio's), on that driver, which it leaves running."""
        from playwright.async_api import Error as PlaywrightError
        from playwright.async_api import async_playwright

        self = cls(tracked)
        if playwright is None:
            started = self._stack.enter_context(driver_tmpdir())
            try:
                self._playwright = await async_playwright().start()
            except BaseException:
                self._stack.close()
                raise
            started()
        driver = playwright or self._playwright
        assert driver is not None
        failure: str | None = None
        try:
            self.browser = await driver.chromium.connect_over_cdp(
                url or client.cdp_url(tracked.session),
                timeout=CONNECT_TIMEOUT_MS,
                slow_mo=slow_mo or None,
                **local_paths(is_local),
            )
        except PlaywrightError as exc:
            failure = client.redact(first_line(exc))
        if failure is not None:
            await self._stop()
            raise connect_error(tracked, failure, client)
        self.browser.on("disconnected", lambda _: tracked.connection_lost())
        remember(self.browser, client, tracked.id, is_local)
        if exposure is not None:
            await exposure.attach_async(self.browser)
        return self

    @property
    def context(self) -> async_api.BrowserContext:
        """The session's default context (Steel opens one, with a page, for every session)."""
        return self.browser.contexts[0]

    async def close(self) -> None:
        """Disconnect on purpose; stop this connection's own driver and remove its temp folder, if it has one."""
        from playwright.async_api import Error as PlaywrightError

        if not self.browser.is_connected():
            self.tracked.connection_lost()
        self.tracked.close_connection()
        try:
            if self.browser.is_connected():
                await self.browser.close()
        except PlaywrightError:
            pass  # the connection went down under us: the session's release is what matters
        await self._stop()

    async def _stop(self) -> None:
        try:
            if self._playwright is not None:
                await self._playwright.stop()
        finally:
            self._stack.close()


@contextlib.contextmanager
def driver_tmpdir() -> Iterator[Callable[[], None]]:
    """A TMPDIR for a Playwright driver about to start, removed once the block ends (after the driver stops).

    The driver makes a playwright-artifacts-* folder per CDP connection in its TMPDIR and
    does not always remove it. The driver reads TMPDIR once, when it starts: call the
    given function then, and the tests get their own TMPDIR back.

    A run killed with SIGKILL removes nothing: its folder is named with its pid, and the
    next run removes the folders of processes that are gone.
    """
    path = pid_folders.make(_DRIVER_DIR_PREFIX)
    previous = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = path

    def started() -> None:
        if os.environ.get("TMPDIR") != path:
            return
        if previous is None:
            del os.environ["TMPDIR"]
        else:
            os.environ["TMPDIR"] = previous

    try:
        yield started
    finally:
        started()
        shutil.rmtree(path, ignore_errors=True)
