"""Whether the run's backend can be asked: condemned after what it said, and given another chance.

An unreachable backend or a rejected key condemns it at once, and so does a call that
got no answer in time when a quick health check after it got none either (a hung
backend, recognised at its first hang); two timeouts in a row too. Later tests then
fail fast instead of each waiting out its own timeout, and one quick health probe lets
a restarted server back in. Releases that hang get a short
budget until one answers again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .._client.errors import (
    SteelAPIError,
    SteelAuthenticationError,
    SteelConnectionError,
    SteelError,
    SteelHungError,
    SteelTimeoutError,
    SteelUnreachableError,
)

if TYPE_CHECKING:
    from .._client.client import SteelClient

TIMEOUTS_THAT_CONDEMN = 2  # calls in a row that got no answer in time
HUNG_RELEASE_TIMEOUT = 2.0  # seconds a release may take once one release got no answer in time
PROBE_TIMEOUT = 1.0  # seconds the health probe of a condemned backend may take


class BackendHealth:
    """What the backend's answers said of it so far; the one owner of "condemned"."""

    def __init__(self, say: Callable[[str], None], client: Callable[[], SteelClient | None]) -> None:
        self._say = say  # a line for the run's summary
        self._client = client  # the run's client, if one was made
        self._unavailable: SteelError | None = None
        self._timeouts_in_a_row = 0
        self._releases_hang = False  # a release got no answer in time, and none has answered since

    @property
    def unavailable(self) -> bool:
        return self._unavailable is not None

    def mark_unavailable(self, exc: SteelError) -> None:
        """An unreachable backend or a rejected key: later tests fail fast, and the summary says it once."""
        if self._unavailable is None:
            self._unavailable = exc
            self._say(f"the Steel backend was unavailable, so tests needing a session errored: {exc}")

    def why_unavailable(self) -> str | None:
        """The error that condemned the backend, while it stays condemned."""
        return str(self._unavailable) if self._unavailable is not None else None

    def failed(self, exc: SteelError) -> None:
        """A call failed: decide what that says about the backend."""
        if isinstance(exc, (SteelUnreachableError, SteelAuthenticationError, SteelHungError)):
            self.mark_unavailable(exc)
        elif isinstance(exc, SteelTimeoutError):
            self._timeouts_in_a_row += 1
            if self._timeouts_in_a_row >= TIMEOUTS_THAT_CONDEMN:
                self.mark_unavailable(exc)

    def answered(self) -> None:
        """A call got an answer: the backend is not stuck."""
        self._timeouts_in_a_row = 0

    def release_timeout(self) -> float | None:
        """The time a release may take: the client's default, or a short one while releases hang.

        A backend can answer creates and hang on releases; waiting a full answer's time for
        each would cost every test that long. The sessions left are reported all the same.
        """
        return HUNG_RELEASE_TIMEOUT if self._releases_hang else None

    def release_answered(self, answered: bool) -> None:
        self._releases_hang = not answered

    def probe(self) -> bool:
        """Whether the backend can be asked: if condemned, one quick health probe decides (a restarted server)."""
        if self._unavailable is None:
            return True
        client = self._client()
        if isinstance(self._unavailable, SteelAuthenticationError) or client is None:
            return False  # a rejected key does not come back by itself; a server that never started neither
        try:
            client.health(call_timeout=PROBE_TIMEOUT)
        except SteelConnectionError:
            return False
        except SteelAPIError:
            pass  # it answered: a server without a health route is up all the same
        self._say(f"the Steel backend answered again after: {self._unavailable}")
        self._unavailable, self._timeouts_in_a_row = None, 0
        return True
