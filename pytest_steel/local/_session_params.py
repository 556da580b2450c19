"""What a session is asked for, as the server core takes it: parsed and validated by ``_api/params.py``.

The core (the manager, the registry, the files area) works with these types alone, so that it
needs nothing from the HTTP layer; turning a request's JSON into them is the API's job.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from .._client.wire import DEFAULT_DIMENSIONS, DEFAULT_TIMEOUT_MS, SessionStatus


@dataclasses.dataclass(frozen=True)
class CreateParams:
    """What a create request asks for, validated; unknown fields are dropped."""

    session_id: str | None = None
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    inactivity_timeout_ms: int | None = None
    width: int = DEFAULT_DIMENSIONS["width"]
    height: int = DEFAULT_DIMENSIONS["height"]
    user_agent: str | None = None
    headless: bool = True
    context: dict[str, Any] | None = None  # sessionContext, validated: restored into the browser on create
    record_video: bool = False  # recordVideo (this server's own field): record the session's pages to WebM


@dataclasses.dataclass(frozen=True)
class ListQuery:
    """What a list request asks for, validated: which sessions, from where, how many."""

    status: SessionStatus | None
    cursor_id: str | None
    limit: int


def canonical_uuid(value: object) -> str | None:
    """The canonical lower-case form of a UUID string, or None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None
