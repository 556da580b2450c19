"""What every route reads from the application: the session manager, the API key, the public URL.

Also the bases of the URLs the routes give out, built from the request's own scheme and Host,
so that a client reaches the relay by the address it used to reach the API; behind a front
(a TLS terminator) ``--public-url`` gives the scheme and host instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from .._session_manager import SessionManager
from .._session_state import LocalSession

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

MANAGER: web.AppKey[SessionManager] = web.AppKey("manager", SessionManager)
PUBLIC_URL: web.AppKey[str | None] = web.AppKey("public_url", object)  # type: ignore[arg-type]
API_KEY: web.AppKey[str | None] = web.AppKey("api_key", object)  # type: ignore[arg-type]


def bases(request: web.Request) -> tuple[str, str]:
    """The HTTP and WebSocket bases of the URLs given out: ``--public-url`` behind a front, else the request's own."""
    public = request.app[PUBLIC_URL]
    scheme, host = public.split("://", 1) if public else (request.scheme, request.host)
    return f"{scheme}://{host}", f"{'wss' if scheme == 'https' else 'ws'}://{host}"


def session_of(request: web.Request) -> LocalSession:
    """The session the route's ``{session_id}`` names; 404 when the server does not know it."""
    return request.app[MANAGER].registry.get(request.match_info["session_id"])
