"""The Steel API's data: typed session snapshots, and create fields as the wire spells them (stdlib only)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .wire import SessionStatus

_IRREGULAR = {"indexed_db": "indexedDB"}  # wire names that plain camel-casing would miss


def _camel(name: str) -> str:
    if name in _IRREGULAR:
        return _IRREGULAR[name]
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


# Wire keys whose values are the user's own data (storage keys and values, indexedDB records): kept as given.
_OPAQUE = frozenset({"localStorage", "sessionStorage", "key", "value", "extra", "userPreferences"})
_BY_HOST = frozenset({"indexedDB"})  # maps whose keys are host names, over values in Steel's shape


def wire_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Create fields as the wire spells them, at every level: ``block_ads`` and ``blockAds`` are both accepted.

    Nested Steel objects are converted too (``session_context={"local_storage": ...}``,
    a cookie's ``http_only``), but never the user's own data inside them: storage keys,
    storage values and indexedDB records go out as given.
    """
    wired: dict[str, Any] = {}
    for key, value in fields.items():
        name = _camel(key) if "_" in key else key
        if name in _OPAQUE:
            wired[name] = value
        elif name in _BY_HOST and isinstance(value, Mapping):
            wired[name] = {host: _wire_value(v) for host, v in value.items()}
        else:
            wired[name] = _wire_value(value)
    return wired


def _wire_value(value: Any) -> Any:
    if isinstance(value, dict) and type(value) is not dict:  # a SessionContext stays one: its repr hides it
        return type(value)(wire_fields(value))
    if isinstance(value, Mapping):
        return wire_fields(value)
    if isinstance(value, list):
        return [_wire_value(v) for v in value]
    return value


def _parse_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass(frozen=True)
class Session:
    """A Steel session as the API last described it (a snapshot: call ``retrieve`` for news)."""

    id: str
    status: SessionStatus | str
    timeout: int | None = None
    created_at: datetime | None = None
    duration: int | None = None
    websocket_url: str | None = None
    debug_url: str | None = None
    session_viewer_url: str | None = None
    release_reason: str | None = None
    headless: bool | None = None
    dimensions: Mapping[str, int] | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    # Create fields the backend took but does not act on (known only on the create's answer): "timeout" when a
    # server such as steel-browser reports timeout 0, and what steel-local lists in x-steel-ignored-fields.
    ignored_fields: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_wire(cls, body: Mapping[str, Any]) -> Session:
        status = body.get("status")
        try:
            status = SessionStatus(status)
        except ValueError:
            status = str(status)  # steel-browser also says "idle"
        return cls(
            id=str(body.get("id")),
            status=status,
            timeout=body.get("timeout"),
            created_at=_parse_datetime(body.get("createdAt")),
            duration=body.get("duration"),
            websocket_url=body.get("websocketUrl"),
            debug_url=body.get("debugUrl"),
            session_viewer_url=body.get("sessionViewerUrl"),
            release_reason=body.get("releaseReason"),
            headless=body.get("headless"),
            dimensions=body.get("dimensions"),
            raw=dict(body),
        )

    @property
    def is_live(self) -> bool:
        return self.status == SessionStatus.LIVE

    def describe_state(self) -> str:
        """``live``, ``released (timeout)``, ``failed (browser_crashed)``."""
        return f"{self.status} ({self.release_reason})" if self.release_reason else str(self.status)


@dataclass(frozen=True)
class ReleaseResult:
    success: bool
    message: str | None

    @property
    def already_ended(self) -> bool:
        """The backend says the session had ended before this release (steel-local: "was already released")."""
        return bool(self.message) and " already " in f" {self.message.lower()} "


@dataclass(frozen=True)
class SessionPage:
    """One answer of ``GET /v1/sessions``: the sessions, and the paging fields when the server sends them."""

    sessions: list[Session]
    next_cursor: str | None = None
    total_count: int | None = None
    paged: bool = False  # the answer had Steel's paging fields at all (a self-hosted steel-browser's has none)

    @classmethod
    def from_wire(cls, body: Mapping[str, Any]) -> SessionPage:
        return cls(
            sessions=[Session.from_wire(item) for item in body.get("sessions") or []],
            next_cursor=body.get("nextCursor"),
            total_count=body.get("totalCount"),
            paged="nextCursor" in body or "totalCount" in body,
        )


@dataclass(frozen=True)
class SessionFile:
    """A file in a session's files area: its path there (relative), size in bytes and last change."""

    path: str
    size: int
    last_modified: datetime | None = None

    @classmethod
    def from_wire(cls, body: Mapping[str, Any]) -> SessionFile:
        return cls(str(body["path"]), int(body.get("size") or 0), _parse_datetime(body.get("lastModified")))
