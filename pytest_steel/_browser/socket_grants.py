"""The WebSocket half of the exposure rule: a page socket the relay lets through, and what its handshake carries.

Playwright routes a page's ``new WebSocket`` through its ``__pwWebSocketBinding``; the
relay reads the "onCreate" call (``socket_payload``), and ``intercept.Interceptor``
decides on it with the frame map: refused, the socket is told to go "passthrough", out on
the browser's own network (``passthrough``); granted, the bridge (``socket_bridge``)
connects as the asking document would, with its ``Origin`` and the cookies the browser
keeps for the URL, SameSite by site (``cookie_header``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

WEBSOCKET_BINDING = "__pwWebSocketBinding"  # Playwright's binding for routed WebSockets (1.48+)


@dataclass
class SocketGrant:
    """A page socket the relay let through: who asked, for the bridge to connect as."""

    url: str
    session: str
    origin: str | None
    protocols: list[str]


def passthrough(socket_id: Any) -> str:
    """The expression that sends a refused socket out on the browser's own network, as if no route matched."""
    return f"globalThis.__pwWebSocketDispatch({json.dumps({'id': socket_id, 'type': 'passthrough'})})"


def cookie_header(grant: SocketGrant, http_url: str, cookies: Any) -> str | None:
    """The ``Cookie`` header of the socket's handshake: the browser's cookies for the URL, SameSite applied."""
    cross_site = grant.origin is None or site(grant.origin) != site(http_url)
    kept = [
        f"{c['name']}={c['value']}"
        for c in (cookies if isinstance(cookies, list) else [])
        if isinstance(c, dict) and (not cross_site or c.get("sameSite") == "None")
    ]
    return "; ".join(kept) or None


def socket_payload(payload: Any) -> tuple[Any, str, list[str]] | None:
    """``(id, url, protocols)`` of Playwright's "onCreate" binding call, or None for any other call."""
    if not isinstance(payload, str) or "onCreate" not in payload:
        return None
    try:
        outer = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(outer, dict) or outer.get("name") not in (None, WEBSOCKET_BINDING):
        return None
    args = outer.get("serializedArgs")
    for arg in args if isinstance(args, list) else []:
        value = plain(arg)
        if isinstance(value, dict) and value.get("type") == "onCreate" and isinstance(value.get("url"), str):
            protocols = value.get("protocols")
            kept = [p for p in protocols if isinstance(p, str)] if isinstance(protocols, list) else []
            return value.get("id"), value["url"], kept
    return None


def plain(value: Any, depth: int = 0) -> Any:
    """Playwright's serialized argument as plain data (objects, arrays, strings, numbers); enough for onCreate."""
    if depth > 8 or not isinstance(value, dict):
        return value
    if isinstance(value.get("o"), list):
        return {e.get("k"): plain(e.get("v"), depth + 1) for e in value["o"] if isinstance(e, dict)}
    if isinstance(value.get("a"), list):
        return [plain(v, depth + 1) for v in value["a"]]
    if "v" in value:
        return None
    return value


def site(url: str) -> str:
    host = url.partition("://")[2].split("/", 1)[0].rsplit("@", 1)[-1]
    host = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    parts = host.lower().split(".")
    return ".".join(parts[-2:]) if len(parts) > 2 and not host.replace(".", "").isdigit() else host.lower()
