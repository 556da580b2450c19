"""Hooks other plugins and conftest files implement to adjust and observe Steel sessions.

Registered through ``pytest_addhooks``. ``node`` is what the session is for: the test
item (a per-test session, ``steel_new_session``), the module (a per-module session), or
the ``pytest.Session`` (a per-run session under ``--steel-session-scope session``, and
``steel_login``'s). ``pytest_steel_session_created`` and ``pytest_steel_session_ended``
also get None: for a session created ahead by ``--steel-prefetch`` that no test took,
and for one created outside any test through ``steel_client``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ._client.models import Session

SessionNode = pytest.Item | pytest.Module | pytest.Session  # what a session is for: a test, a module, the run


@pytest.hookspec
def pytest_steel_session_params(params: dict[str, Any], node: SessionNode, config: pytest.Config) -> None:
    """Adjust the create parameters of a session in place, just before it is created.

    ``params`` holds ``timeout`` (ms) and any Steel create field, after
    ``steel_session_params`` and the ``steel`` marker have been applied. With
    ``--steel-prefetch`` it also runs for a test before the test starts, to create its
    session ahead, and again when it starts, to check that session still fits: give
    the same answer for the same test both times.
    """


@pytest.hookspec
def pytest_steel_session_created(session: Session, node: SessionNode | None, config: pytest.Config) -> None:
    """A session is live and about to be handed to ``node`` (None: created ahead, or outside any test)."""


@pytest.hookspec
def pytest_steel_session_ended(session: Session, node: SessionNode | None, config: pytest.Config) -> None:
    """A session the plugin tracked is over: released (``session.status == "released"``) or found failed.

    ``session.release_reason`` says why when the backend reports it (``timeout``,
    ``browser_crashed``, ...).
    """
