"""Releasing a test's sessions at its teardown, and the error of one that ended on its own under the test."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from .._client.errors import SteelSessionError

if TYPE_CHECKING:
    from .._sessions.lifecycle import TrackedSession
    from .run import SteelRun


def release_own(run: SteelRun, tracked: TrackedSession) -> None:
    """Release a session of the test's own, after keeping its downloads (its files go with it)."""
    if isinstance(tracked.node, pytest.Item) and tracked.final is None and not run.backend.health.unavailable:
        from .._config.settings import settings_of
        from .._reporting.downloads import keep_downloads

        keep_downloads(run.backend.client(), tracked.node, settings_of(run.config), tracked)
    run.sessions.release(tracked)


def release_and_raise_if_ended(run: SteelRun, tracked: TrackedSession) -> None:
    """Release a test's own session; one that ended on its own under the test is the test's error."""
    release_own(run, tracked)
    raise_if_it_ended_under_the_test(tracked)


def raise_if_it_ended_under_the_test(tracked: TrackedSession) -> None:
    """A session that ended on its own (crash, timeout) and no report has said so: the teardown's error."""
    if tracked.owes_error and tracked.mark_reported():
        raise session_error(tracked)


def session_error(tracked: TrackedSession) -> SteelSessionError:
    """The error a test gets when its session ended on its own under it."""
    from .._reporting.report import describe_end

    final = tracked.final
    return SteelSessionError(
        describe_end(tracked),
        session_id=tracked.id,
        status=str(final.status) if final is not None else "live",
        release_reason=final.release_reason if final is not None else None,
    )
