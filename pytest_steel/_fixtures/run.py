"""One test run's Steel state, made together when a test first needs Steel.

- ``backend`` (``BackendAccess``): the client, the embedded server and the xdist broker, concurrency;
- ``sessions`` (``SessionTracker``): the sessions this process created, and the end-of-run sweep;
- ``report`` (``RunReport``): what the run will say about them;
- ``endpoints`` (``CDPEndpoints``): where Playwright connects to each session;
- ``prefetcher`` (``Prefetcher``): the sessions created ahead for the next tests, if any.

``run_of(config)`` makes it on first need; ``started_run(config)`` asks without making
it. The module itself is light (its parts are imported as the run is made), so that the
plugin can ask at start-up, and a run that never needed Steel loads none of them. Its
settings are read as everywhere else, with ``settings_of(config)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from .._config.settings import settings_of

if TYPE_CHECKING:
    from .._browser.expose import LocalExposure
    from .._client.client import SteelClient
    from .._client.profile import BackendProfile
    from .prefetch import Prefetcher


class SteelRun:
    def __init__(self, config: pytest.Config) -> None:
        from .._reporting.report import RunReport
        from .._sessions.backend import BackendAccess
        from .._sessions.cdp_urls import CDPEndpoints
        from .._sessions.tracker import SessionTracker

        settings = settings_of(config)
        self.config = config
        self.report = RunReport()
        self.backend = BackendAccess(settings, getattr(config, "workerinput", None), say=self.report.note)
        self.sessions = SessionTracker(config, self.backend, self.report)
        self.endpoints = CDPEndpoints(self.backend)
        self._prefetcher: Prefetcher | None = None
        self._prefetch_decided = False
        self._finished = False

    @classmethod
    def of(cls, config: pytest.Config) -> SteelRun:
        """The run's state, made when something first needs it."""
        run = config.stash.get(RUN_KEY, None)
        if run is None:
            run = config.stash[RUN_KEY] = cls(config)
        return run

    @property
    def is_worker(self) -> bool:
        return hasattr(self.config, "workerinput")

    @property
    def prefetcher(self) -> Prefetcher | None:
        """--steel-prefetch's sessions ahead, decided when a test first wants its own session."""
        if not self._prefetch_decided:
            from .prefetch import Prefetcher

            self._prefetcher = Prefetcher.for_run(settings_of(self.config), self.backend, self.sessions, self.report)
            self._prefetch_decided = True
        return self._prefetcher

    @property
    def prefetcher_if_decided(self) -> Prefetcher | None:
        """The prefetcher, without deciding (deciding may ask the backend about its limits)."""
        return self._prefetcher

    # -- what a test's report reads (``_reporting.test_reports.RunView``) --------------------

    @property
    def profile(self) -> BackendProfile:
        """The backend's quirks, detected from its first answers where the configuration could not tell."""
        return self.backend.profile

    @property
    def secret(self) -> str | None:
        return self.backend.secret

    @property
    def backend_unavailable(self) -> bool:
        return self.backend.health.unavailable

    @property
    def files_api(self) -> bool | None:
        return self.endpoints.files_api

    def client(self) -> SteelClient:
        return self.backend.client()

    def exposure_for(self, node: pytest.Item | pytest.Collector) -> LocalExposure | None:
        return self.endpoints.exposure_for(node)

    def redact(self, text: str) -> str:
        """``text`` without the API key, for anything shown that came from elsewhere."""
        return self.backend.redact(text)

    def finish(self) -> None:
        """Release what tests left live, release-all on the controller, then stop the backend; once."""
        if self._finished:
            return
        self._finished = True
        try:
            if self._prefetcher is not None:
                self._prefetcher.drain()  # before the sweep: what no test took is released and counted
            self.sessions.sweep(safety_net="off" if self.is_worker else settings_of(self.config).safety_net)
        finally:
            self.endpoints.close()
            if self.backend.used and self.backend.rate is not None:
                self.report.add_traffic(self.backend.rate.counts())
            self.backend.close()
        if self.is_worker:  # the controller reports for the whole run
            output = self.config.workeroutput  # type: ignore[attr-defined]
            from .._reporting.report import WORKER_OUTPUT_KEY

            output[WORKER_OUTPUT_KEY] = self.report.to_worker_output(self.backend.used)


RUN_KEY = pytest.StashKey[SteelRun]()  # on the config: made when a test first needs Steel


def started_run(config: pytest.Config) -> SteelRun | None:
    """The run's Steel state if anything has needed Steel so far; never makes it (``SteelRun.of`` does)."""
    return config.stash.get(RUN_KEY, None)


def run_of(config: pytest.Config) -> SteelRun:
    """The run's Steel state, made on first need (``started_run`` asks without making it)."""
    return SteelRun.of(config)
