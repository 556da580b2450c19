"""One session's life as this process sees it: the only type that changes a tracked session's state.

::

    live ──connection_lost()──▶ disconnected
     │                              │
     └──────── end(final) ──────────┴──▶ ended ──mark_reported()──▶ (reported)

``end`` records the backend's final snapshot and whether the session ended on its
own (crash, timeout, someone else's release) or by our release; a session that
ended on its own owes its test an error until ``mark_reported`` says one was given.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

from .._client.profile import kept_timeout_ms

if TYPE_CHECKING:
    from .._client.models import Session


LOST_WITH_BACKEND = "backend_unreachable"  # the release reason of a session whose backend stopped answering


class Phase(enum.Enum):
    LIVE = "live"
    DISCONNECTED = "disconnected"  # its browser connection dropped; the session itself may be live
    ENDED = "ended"


@dataclass(eq=False)
class TrackedSession:
    """A session this process created, from its create response to its end."""

    session: Session  # as created
    node: pytest.Item | pytest.Collector | None  # the test or module it was made for
    owner: str  # that node's id, for reports
    by_fixture: bool = False  # made by a fixture, which releases it (else the run's sweep does)
    started: float = field(default_factory=time.monotonic)
    phase: Phase = Phase.LIVE
    final: Session | None = None  # the backend's last word, once ended
    on_its_own: bool = False  # crashed, timed out, or released by someone else
    reported: bool = False  # a test report already says how it ended
    closing: bool = False  # its fixture is disconnecting on purpose: a disconnect now is no loss
    lost_connection: bool = False  # its browser connection dropped while a fixture held it
    unreleased: bool = False  # our release failed, and the backend could not say it ended: it may meter on
    download_failures: list[str] = field(default_factory=list)  # downloads the relay could not bring back
    number: int = 1  # its test's session 1 (its own), or 2, 3... (steel_new_session's): its artifacts' names say

    def seconds_left(self) -> float | None:
        """Until the session's own timeout ends it, by this process's clock; None when its timeout is unknown."""
        timeout_ms = kept_timeout_ms(self.session.timeout)
        if timeout_ms is None:
            return None
        return max(timeout_ms / 1000 - (time.monotonic() - self.started), 0.0)

    def may_have_ended(self) -> bool:
        """Whether something says the session ended on its own: its connection dropped, or its timeout passed."""
        left = self.seconds_left()
        return self.lost_connection or self.phase is not Phase.LIVE or (left is not None and left < 1.0)

    @property
    def id(self) -> str:
        return self.session.id

    @property
    def is_over(self) -> bool:
        return self.phase is Phase.ENDED

    @property
    def is_usable(self) -> bool:
        """Live and still connected: a per-module session in any other phase is replaced."""
        return self.phase is Phase.LIVE

    @property
    def owes_error(self) -> bool:
        """It ended on its own and no report has said so yet."""
        return self.is_over and self.on_its_own and not self.reported

    def connection_lost(self) -> None:
        """Its browser connection dropped while a fixture held it (unless the fixture was closing it)."""
        if self.closing:
            return
        self.lost_connection = True
        if self.phase is Phase.LIVE:
            self.phase = Phase.DISCONNECTED

    def close_connection(self) -> None:
        """The fixture is about to disconnect on purpose."""
        self.closing = True

    def end(self, final: Session, *, on_its_own: bool) -> bool:
        """It is over; False if it already was (the first word on how it ended stands)."""
        if self.is_over:
            return False
        self.phase, self.final, self.on_its_own = Phase.ENDED, final, on_its_own
        return True

    def could_not_release(self) -> None:
        """Our release failed and nothing showed the session ended: no longer ours to track, maybe still live."""
        self.unreleased = True

    def released_anyway(self) -> None:
        """Our release ran (and may have failed) before we saw the end: the end is not the test's concern."""
        self.on_its_own = False

    def mark_reported(self) -> bool:
        """A report now says how it ended; False if one already did."""
        if self.reported:
            return False
        self.reported = True
        return True

    def lifetime_ms(self) -> float:
        """The backend's ``duration`` when it reports one, else measured here from creation."""
        said = self.final.duration if self.final is not None else None
        if isinstance(said, int) and said > 0:
            return float(said)
        return (time.monotonic() - self.started) * 1000


ITEM_SESSIONS_KEY = pytest.StashKey[list[TrackedSession]]()  # on a test: the sessions it used, for its report
