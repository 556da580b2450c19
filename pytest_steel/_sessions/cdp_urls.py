"""Where Playwright connects to a session: its CDP URL, or the download relay when its browser may run elsewhere.

A backend whose profile runs its browsers here (the embedded server) shares this
machine's disk, so Playwright reads their downloads where it asked for them. Every other
backend (Steel Cloud, a server by base URL) may run its browsers on another machine:
their connections go through ``_browser.relay``, which brings each finished download
back through the files API, when the profile has it.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

import pytest

from .._client.errors import SteelError, SteelFilesUnsupportedError

if TYPE_CHECKING:
    from .._browser.expose import LocalExposure
    from .._browser.relay import DownloadRelay
    from .._client.client import SteelClient
    from .backend import BackendAccess
    from .lifecycle import TrackedSession


class CDPEndpoints:
    """The run's connection URLs; the relay starts on the first connection that needs it."""

    def __init__(self, backend: BackendAccess) -> None:
        self.settings = backend.settings
        self._backend = backend
        self.remote = not backend.profile.browsers_here  # the backend's browsers may not share this machine's disk
        self._relay: DownloadRelay | None = None

    def exposure_for(self, node: pytest.Item | pytest.Collector) -> LocalExposure | None:
        """What of this machine the node's sessions' pages reach (option, then marker); None: nothing."""
        from .._browser.expose import LocalExposure, parse_hosts
        from .._config.markers import SteelMarks

        marks = SteelMarks.of(node)
        if not self.settings.exposes_local(marks.expose_local()):
            return None
        try:
            extra = parse_hosts(marks.expose_hosts())
        except ValueError as exc:
            raise SteelError(f"@pytest.mark.steel(expose_hosts=...): {exc}") from None
        return LocalExposure(tuple(dict.fromkeys((*self.settings.expose_hosts.value, *extra))))

    def connect_args(
        self, client: SteelClient, tracked: TrackedSession, node: pytest.Item | pytest.Collector | None = None
    ) -> dict[str, Any]:
        """``url``, ``exposure`` and ``is_local`` for a ``Connection`` (or ``AsyncConnection.open``) to ``tracked``.

        ``is_local``: the driver may hand the browser this machine's paths for a file input, at
        any size: the embedded server's browsers read them where they are, and for a remote
        backend with the files API the relay puts them into the session's files first. Only
        where Playwright has the option (1.58 and later).
        """
        exposure = self.exposure_for(node) if node is not None else None
        files_api = self.remote and self.has_files_api(client, tracked)  # asked whatever Playwright: reports use it
        local_paths = playwright_has_is_local() and (files_api or not self.remote)
        uploads = self.remote and local_paths  # the relay rewrites file inputs
        return {"url": self.url_for(client, tracked, uploads, exposure), "exposure": exposure, "is_local": local_paths}

    @property
    def files_api(self) -> bool | None:
        """Whether the backend has Steel's files API, as its profile says; None while neither it nor a listing told."""
        return self._backend.profile.has_files_api

    def has_files_api(self, client: SteelClient, tracked: TrackedSession) -> bool:
        """Whether the backend speaks Steel's files API: its profile, or else one listing of a session's files."""
        known = self._backend.profile.has_files_api
        if known is None:
            try:
                client.files.list(tracked.id)
            except SteelFilesUnsupportedError:
                known = False
            except SteelError:
                return False  # not known yet (a fault of the moment): no is_local for this connection
            else:
                known = True
            self._backend.profile = self._backend.profile.learned(has_files_api=known)
        return known

    def url_for(
        self,
        client: SteelClient,
        tracked: TrackedSession,
        uploads: bool = False,
        exposure: LocalExposure | None = None,
    ) -> str:
        """The URL Playwright connects to for ``tracked``; the API key is in it only when it is the session's own.

        Through the relay when the browser may run elsewhere, or when the exposure is on (the relay answers it).
        """
        direct = str(client.cdp_url(tracked.session))
        if not self.remote and exposure is None:
            return direct
        from .._browser.route import RemoteFiles
        from .._client.async_client import async_twin

        if self._relay is None:
            from .._browser.relay import DownloadRelay

            self._relay = DownloadRelay()
        files = RemoteFiles(lambda: async_twin(client), tracked.id)
        url, route = self._relay.endpoint(direct, files, uploads, exposure)
        tracked.download_failures = route.failures  # the test's report says what did not come back
        return url

    def close(self) -> None:
        if self._relay is not None:
            self._relay.close()
            self._relay = None


def playwright_has_is_local() -> bool:
    """Whether the installed Playwright's ``connect_over_cdp`` takes ``is_local`` (added in 1.58)."""
    from playwright.sync_api import BrowserType

    return "is_local" in inspect.signature(BrowserType.connect_over_cdp).parameters
