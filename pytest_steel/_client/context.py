"""A session's context (cookies, localStorage, sessionStorage, indexedDB) in Steel's wire shape, and Playwright's.

``SessionContext`` is the plain dict Steel's ``GET /v1/sessions/{id}/context``
answers and ``sessionContext`` takes on create, with a repr that shows counts,
never cookies or tokens. Playwright's ``storage_state`` (a dict, or the JSON file
pytest-playwright users keep) converts both ways: Steel keys storage by host name,
Playwright by origin, so going to Playwright the scheme and port come from the
cookies set for that host (else ``https`` and its default port).
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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
    if isinstance(state, (str, os.PathLike)):
        state = json.loads(Path(state).read_text())
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
    cookies, schemes = [], {}
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
