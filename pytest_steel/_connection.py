"""A Playwright browser connected over CDP to one tracked session, and what the artifacts need to know of it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._errors import SteelSessionError, first_line

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Playwright

    from ._client import SteelClient
    from ._lifecycle import TrackedSession

CONNECT_TIMEOUT_MS = 30_000


class Connection:
    """One CDP connection: a dropped connection is the session's news (``connection_lost``), a close is ours."""

    def __init__(
        self, playwright: Playwright, client: SteelClient, tracked: TrackedSession, slow_mo: float = 0
    ) -> None:
        from playwright.sync_api import Error as PlaywrightError

        self.tracked = tracked
        self.tracing = False  # its context records a Playwright trace (in chunks, one per test)
        self._context: BrowserContext | None = None
        failure: str | None = None
        try:
            self.browser: Browser = playwright.chromium.connect_over_cdp(
                client.cdp_url(tracked.session), timeout=CONNECT_TIMEOUT_MS, slow_mo=slow_mo or None
            )
        except PlaywrightError as exc:
            failure = client.redact(first_line(exc))
        if failure is not None:  # raised outside the except block, so no local holds the unredacted error
            raise SteelSessionError(
                f"could not connect Playwright to Steel session {tracked.id}: {failure}",
                session_id=tracked.id,
                status=str(tracked.session.status),
            )
        self.browser.on("disconnected", lambda _: tracked.connection_lost())

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
        if self.browser.is_connected():
            try:
                self.browser.close()
            except PlaywrightError:
                pass  # the connection went down under us: the session's release is what matters
