"""Teardown put off until every fixture of the test is torn down (``--steel-playwright``).

pytest-playwright's artifacts recorder may be set up before ``browser`` (its own
autouse fixture asks for it when tracing) and so torn down after it: it still needs
the browser connected to save a video. So under ``--steel-playwright`` the disconnect
and the release of a test's own session wait; ``plugin.py``'s teardown hook runs them.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .._config.settings import settings_of
from .._config.stash import AFTER_TEST_KEY


def deferred_until_torn_down(request: pytest.FixtureRequest, finish: Callable[[], None]) -> bool:
    """Whether ``finish`` was put off until the test's fixtures are all torn down (under --steel-playwright)."""
    if not settings_of(request.config).playwright.value:
        return False
    request.node.stash.setdefault(AFTER_TEST_KEY, []).append(finish)
    return True


def run_deferred(item: pytest.Item) -> BaseException | None:
    """Run what the test's fixtures put off, last first; the first error, if any, is the teardown's."""
    error: BaseException | None = None
    finishes: list[Callable[[], None]] = item.stash.get(AFTER_TEST_KEY, [])
    for finish in reversed(finishes):
        try:
            finish()
        except Exception as exc:  # noqa: BLE001 - each must run; the first error is reported
            error = error or exc
    item.stash[AFTER_TEST_KEY] = []
    return error
