"""The Steel API's data: typed session snapshots, create fields as the wire spells them, a session's context.

A session's context (cookies, localStorage, sessionStorage, indexedDB) is kept in
Steel's wire shape: ``SessionContext`` is the plain dict Steel's ``GET
/v1/sessions/{id}/context`` answers and ``sessionContext`` takes on create, with a repr
that shows counts, never cookies or tokens. Playwright's ``storage_state`` (a dict, or
the JSON file pytest-playwright users keep) converts both ways: Steel keys storage by
host name, Playwright by origin, so going to Playwright the scheme and port come from
the cookies set for that host (else ``https`` and its default port). Stdlib only.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .profile import release_says_already_ended
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
    # Create fields the backend took but does not act on (known only on the create's answer, read by
    # ``profile.ignored_fields``): a timeout answered as 0, and what the server lists in x-steel-ignored-fields.
    ignored_fields: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_wire(cls, body: Mapping[str, Any]) -> Session:
        status = body.get("status")
        try:
            status = SessionStatus(status)
        except ValueError:
            status = str(status)  # a status a backend adds stays readable ("idle": see ``profile``)
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
        """The backend says the session had ended before this release (``profile.release_says_already_ended``)."""
        return release_says_already_ended(self.message)


@dataclass(frozen=True)
class SessionPage:
    """One answer of ``GET /v1/sessions``: the sessions, and the paging fields when the server sends them."""

    sessions: list[Session]
    next_cursor: str | None = None
    total_count: int | None = None
    paged: bool = False  # the answer had Steel's paging fields at all (``profile.detect`` reads it)

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


# -- a session's context, in Steel's shape and Playwright's ---------------------------------

_SAME_SITE = ("Strict", "Lax", "None")


class SessionContext(dict):  # type: ignore[type-arg]
    """A session's context as Steel's wire shape: a dict, whose repr shows no secret."""

    def __repr__(self) -> str:
        cookies = len(self.get("cookies") or ())
        hosts = sorted({*(self.get("localStorage") or {}), *(self.get("sessionStorage") or {})})
        return f"<SessionContext: {cookies} cookies, storage for {len(hosts)} hosts>"

    __str__ = __repr__


def as_session_context(value: object) -> SessionContext:
    """What ``sessionContext`` may be given as (a Steel context, or a Playwright storage state), as Steel's shape."""
    if isinstance(value, (str, os.PathLike)):
        value = json.loads(Path(value).read_text())
    if not isinstance(value, Mapping):
        raise TypeError(f"a session context is a dict or a storage-state file, not {type(value).__name__}")
    if "origins" in value:
        return context_from_storage_state(value)
    return SessionContext(value)


def context_from_storage_state(state: Mapping[str, Any] | str | os.PathLike[str]) -> SessionContext:
    """Playwright's ``storage_state`` (dict or file) as a Steel session context."""
    data: object = json.loads(Path(state).read_text()) if isinstance(state, (str, os.PathLike)) else state
    if not isinstance(data, Mapping):
        where = f"the file {os.fspath(state)!r}" if isinstance(state, (str, os.PathLike)) else "it"
        raise TypeError(f"a storage state is a JSON object with cookies and origins; {where} holds none")
    state = data
    cookies = []
    for cookie in state.get("cookies") or ():
        steel = {k: cookie[k] for k in ("name", "value", "domain", "path", "httpOnly", "secure") if k in cookie}
        if cookie.get("sameSite") in _SAME_SITE:
            steel["sameSite"] = cookie["sameSite"]
        expires = cookie.get("expires", -1)
        if isinstance(expires, (int, float)) and expires >= 0:
            steel["expires"] = expires
        else:
            steel["session"] = True
        cookies.append(steel)
    local: dict[str, dict[str, str]] = {}
    for origin in state.get("origins") or ():
        host = urllib.parse.urlsplit(origin.get("origin", "")).hostname
        if host:
            items = {item["name"]: item["value"] for item in origin.get("localStorage") or ()}
            local.setdefault(host, {}).update(items)
    return SessionContext(cookies=cookies, localStorage=local)


def storage_state_from_context(context: Mapping[str, Any]) -> dict[str, Any]:
    """A Steel session context as Playwright's ``storage_state`` (for ``browser_context_args``)."""
    cookies: list[dict[str, Any]] = []
    schemes: dict[str, tuple[str, int | None]] = {}
    for cookie in context.get("cookies") or ():
        domain = str(cookie.get("domain", "")).lstrip(".")
        secure = cookie.get("sourceScheme") == "Secure" or bool(cookie.get("secure"))
        port = cookie.get("sourcePort")
        schemes.setdefault(domain, ("https" if secure else "http", int(port) if port and port > 0 else None))
        cookies.append(
            {
                "name": cookie["name"],
                "value": cookie["value"],
                "domain": cookie.get("domain", ""),
                "path": cookie.get("path", "/"),
                "expires": -1 if cookie.get("session") or "expires" not in cookie else cookie["expires"],
                "httpOnly": bool(cookie.get("httpOnly")),
                "secure": bool(cookie.get("secure")),
                "sameSite": cookie.get("sameSite") or "Lax",
            }
        )
    origins = []
    for host, items in (context.get("localStorage") or {}).items():
        scheme, port = schemes.get(host, ("https", None))
        origin = f"{scheme}://{host}" + (f":{port}" if port and port != {"http": 80, "https": 443}[scheme] else "")
        origins.append({"origin": origin, "localStorage": [{"name": k, "value": v} for k, v in items.items()]})
    return {"cookies": cookies, "origins": origins}
