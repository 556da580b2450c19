"""Where Playwright connects to a session: its CDP URL, or the download relay when its browser may run elsewhere.

The embedded server's browsers share this machine's disk, so Playwright reads their
downloads where it asked for them. Every other backend (Steel Cloud, a server by base
URL) may run its browsers on another machine: their connections go through
``_browser.relay``, which brings each finished download back through the files API.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .._client.errors import SteelError

if TYPE_CHECKING:
    from .._browser.expose import LocalExposure
    from .._browser.relay import DownloadRelay
    from .._client.client import SteelClient
    from .._config.settings import Settings
    from .lifecycle import TrackedSession


class CDPEndpoints:
    """The run's connection URLs; the relay starts on the first connection that needs it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.remote = not settings.is_embedded  # the backend's browsers may not share this machine's disk
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
        """``url`` and ``exposure`` for a ``Connection`` (or ``AsyncConnection.open``) to ``tracked``."""
        exposure = self.exposure_for(node) if node is not None else None
        return {"url": self.url_for(client, tracked, exposure), "exposure": exposure}

    def url_for(self, client: SteelClient, tracked: TrackedSession, exposure: LocalExposure | None = None) -> str:
        """The URL Playwright connects to for ``tracked``; the API key is in it only when it is the session's own.

        Through the relay when the browser may run elsewhere, or when the exposure is on (the relay answers it).
        """
        direct = str(client.cdp_url(tracked.session))
        if not self.remote and exposure is None:
            return direct
        if self._relay is None:
            from .._browser.relay import DownloadRelay

            self._relay = DownloadRelay()
        session_id = tracked.id

        def fetch(path: str, local: Path) -> None:
            client.files.download_to(session_id, path, local)

        url, route = self._relay.endpoint(direct, fetch, exposure)
        tracked.download_failures = route.failures  # the test's report says what did not come back
        return url

    def close(self) -> None:
        if self._relay is not None:
            self._relay.close()
            self._relay = None
