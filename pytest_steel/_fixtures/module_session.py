"""A shared session, held for its module (or for the whole run) and handed to each of its tests.

pytest caches a module-scoped fixture's value until the module ends, and offers no
public way to drop it early. So the module-scoped fixture holds a ``ModuleSession``
(pytest-django's pattern: one long-lived holder, checked per test), and the session
fixtures ask it for the session of each test: the same one while it lives, a fresh
one for the next test once it has died or lost its browser connection.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from .._client.errors import SteelError
from .._config.markers import SteelMarks
from .._config.settings import settings_of
from .connect import connect
from .release import raise_if_it_ended_under_the_test

if TYPE_CHECKING:
    from .._browser.connection import Connection, PlaywrightDriver
    from .._sessions.lifecycle import TrackedSession
    from .run import SteelRun


class ModuleSession:
    """Made on first need, replaced for the next test when it died, released after the module (or the run)."""

    def __init__(self, run: SteelRun, module: pytest.Collector, params: Callable[[], dict[str, Any]]) -> None:
        self._run = run
        self._module = module
        self._params = params  # steel_session_params and the module's marker, read when a session is made
        self._tracked: TrackedSession | None = None
        self._connection: Connection | None = None
        self._test: pytest.Item | None = None

    def for_test(self, item: pytest.Item, own_session: bool) -> TrackedSession:
        """The module's session for ``item``, replaced first if it died under an earlier test.

        ``own_session``: the test also has a per-test session, which its marker configures.
        Otherwise a test-level marker would change nothing, and is refused.
        """
        if not own_session:
            SteelMarks.of(item).reject_below(self._module)
        if self._test is not item:
            self._test = item
            if self._tracked is not None and not self._tracked.is_usable:
                self._discard()
        return self.ensure()

    @property
    def _owner(self) -> str | None:
        """How reports name the session: its module's id, or the run's for the one session of the run."""
        return "the run (--steel-session-scope session)" if isinstance(self._module, pytest.Session) else None

    @property
    def tracked(self) -> TrackedSession | None:
        return self._tracked

    def ensure(self) -> TrackedSession:
        """The shared session, made now if there is none (a session-scoped ``browser`` asks before any test)."""
        if self._tracked is None:
            self._tracked = self._run.sessions.create(self._params(), self._module, owner=self._owner)
        return self._tracked

    def connection(self, playwright: PlaywrightDriver) -> Connection:
        """The module's browser connection, made on first need (after ``for_test``)."""
        assert self._tracked is not None, "for_test() first"
        if self._connection is None:
            self._connection = connect(self._run, playwright, self._tracked, self._module)
        return self._connection

    def _discard(self) -> None:
        """Let a dead session go; its own error was reported with the test that saw it."""
        try:
            self.close()
        except SteelError:
            pass

    def close(self) -> None:
        """Disconnect and release; a session that ended on its own, unreported so far, is this teardown's error."""
        tracked, connection = self._tracked, self._connection
        self._tracked = self._connection = None
        if tracked is None:
            return
        if connection is not None:
            connection.close()
        self._run.sessions.release(tracked)
        raise_if_it_ended_under_the_test(tracked)


def shared_holder(request: pytest.FixtureRequest) -> ModuleSession:
    """The holder of the session tests share: the module's, or the run's under --steel-session-scope session."""
    scope = settings_of(request.config).session_scope.value
    return request.getfixturevalue("_steel_run_session" if scope == "session" else "_steel_module")
