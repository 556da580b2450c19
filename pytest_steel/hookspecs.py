"""Hooks other plugins and conftest files implement to adjust and observe Steel sessions.

Registered through ``pytest_addhooks``. ``node`` is the test item (per-test
sessions) or the module (per-module sessions); it is None for sessions the
plugin finds at the end of the run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ._client.models import Session


@pytest.hookspec
def pytest_steel_session_params(
    params: dict[str, Any], node: pytest.Item | pytest.Collector, config: pytest.Config
) -> None:
    """Adjust the create parameters of a session in place, just before it is created.

    ``params`` holds ``timeout`` (ms) and any Steel create field, after
    ``steel_session_params`` and the ``steel`` marker have been applied. With
    ``--steel-prefetch`` it also runs for a test before the test starts, to create its
    session ahead, and again when it starts, to check that session still fits: give
    the same answer for the same test both times.
    """


@pytest.hookspec
def pytest_steel_session_created(session: Session, node: pytest.Item | pytest.Collector, config: pytest.Config) -> None:
    """A session is live and about to be handed to ``node``."""


@pytest.hookspec
def pytest_steel_session_ended(
    session: Session, node: pytest.Item | pytest.Collector | None, config: pytest.Config
) -> None:
    """A session the plugin tracked is over: released (``session.status == "released"``) or found failed.

    ``session.release_reason`` says why when the backend reports it (``timeout``,
    ``browser_crashed``, ...).
    """
