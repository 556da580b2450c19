"""The public API's types, checked by ``mypy --strict`` in CI (not collected by pytest: no ``test_`` name).

Every name ``pytest_steel`` exports, and what its calls return. A change that loses a type
(an ``Any`` where a ``Session`` was) fails ``assert_type`` here, and so fails CI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typing_extensions import assert_type

import pytest_steel
from pytest_steel import (
    AsyncSteelClient,
    ReleaseReason,
    ReleaseResult,
    Session,
    SessionContext,
    SessionFile,
    SessionStatus,
    SteelAPIError,
    SteelClient,
    SteelError,
    SteelFilesUnsupportedError,
    context_from_storage_state,
    storage_state_from_context,
)


def sync_client(client: SteelClient, path: Path) -> None:
    session = client.create(timeout=60_000, block_ads=True)
    assert_type(session, Session)
    assert_type(session.id, str)
    assert_type(session.status, SessionStatus | str)  # a status a newer backend adds stays readable
    assert_type(client.retrieve(session.id), Session)
    assert_type(client.list(SessionStatus.LIVE), list[Session])
    assert_type(client.release(session.id), ReleaseResult)
    assert_type(client.release(session.id, call_timeout=5.0), ReleaseResult)
    assert_type(client.release_all(), ReleaseResult)
    assert_type(client.context(session.id), SessionContext)
    assert_type(client.health(), dict[str, Any])
    assert_type(client.health(call_timeout=1.0), dict[str, Any])
    assert_type(client.files.list(session.id), list[SessionFile])
    assert_type(client.files.upload(session.id, path, path="a.txt"), SessionFile)
    assert_type(client.files.download(session.id, "a.txt"), bytes)
    assert_type(client.files.download_to(session.id, "a.txt", path), Path)
    assert_type(client.files.download_archive(session.id), bytes)
    assert_type(client.files.delete(session.id, "a.txt"), None)


async def async_client(client: AsyncSteelClient) -> None:
    session = await client.create()
    assert_type(session, Session)
    assert_type(await client.list(), list[Session])
    assert_type(await client.release(session.id), ReleaseResult)
    assert_type(await client.health(call_timeout=1.0), dict[str, Any])
    assert_type(await client.files.list(session.id), list[SessionFile])


def errors_and_helpers(error: SteelAPIError, state: dict[str, Any]) -> None:
    assert_type(error.status_code, int)
    assert isinstance(error, SteelError)
    assert issubclass(SteelFilesUnsupportedError, SteelError)
    assert_type(context_from_storage_state(state), SessionContext)
    assert_type(storage_state_from_context(SessionContext()), dict[str, Any])
    assert isinstance(ReleaseReason.TIMEOUT, ReleaseReason)
    assert_type(pytest_steel.__version__, str)
