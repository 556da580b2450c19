"""The viewer's way in without the key in its URL: a one-time token, exchanged for a cookie.

A person's browser cannot send the key header, and a key in a URL shows wherever the URL
goes: in the process list while the browser ``--steel-debug`` opens runs, in its history,
in a terminal's scrollback. So a client that holds the key asks ``POST /v1/viewer-tokens``
for a token that opens the viewer once, within a short time (``ttlMs``, default 60 s, at
most 10 minutes). A viewer page asked with ``?viewerToken=`` spends it, sets a cookie and
redirects to the same page without it; one asked with ``?apiKey=`` (a person typing the
key) is let in the same way, so the key leaves the address bar at once.

The cookie (HttpOnly, SameSite=Strict, path ``/sessions/``, named for the server's port, a
random value of the server's own, never the key) lets in the viewer pages and their live
WebSocket, nothing else: the REST API and the CDP endpoint still want the key. A request
the cookie lets in must come from the server's own pages where it says where it comes from
(``Origin``): another page on this machine, open in the same browser, may not watch.
"""

from __future__ import annotations

import hmac
import secrets
import time

from aiohttp import web

from ..._client.wire import API_KEY_QUERY
from .._http_errors import InvalidRequest
from .params import parse_json_object

TOKEN_QUERY = "viewerToken"
DEFAULT_TTL_MS = 60_000
MAX_TTL_MS = 600_000
MAX_TOKENS = 256  # unspent at once: the oldest goes first past this
VIEWER_PATHS = "/sessions/"


class ViewerAccess:
    """The server's unspent viewer tokens and its viewer cookie's value."""

    def __init__(self) -> None:
        self._cookie_value = secrets.token_urlsafe(32)
        self._tokens: dict[str, float] = {}  # token -> deadline (time.monotonic)

    def mint(self, ttl_ms: int) -> str:
        now = time.monotonic()
        self._tokens = {token: deadline for token, deadline in self._tokens.items() if deadline > now}
        while len(self._tokens) >= MAX_TOKENS:
            del self._tokens[next(iter(self._tokens))]
        token = secrets.token_urlsafe(24)
        self._tokens[token] = now + ttl_ms / 1000
        return token

    def _spend(self, token: str) -> bool:
        deadline = self._tokens.pop(token, None)
        return deadline is not None and deadline > time.monotonic()

    def _admits(self, request: web.Request) -> bool:
        given = request.cookies.get(_cookie_name(request), "")
        if not given or not hmac.compare_digest(given.encode(), self._cookie_value.encode()):
            return False
        origin = request.headers.get("Origin")
        return origin is None or origin == f"{request.scheme}://{request.host}"

    def entry(self, request: web.Request, key: str) -> web.StreamResponse | bool:
        """A viewer route asked without the key header: let in (True), a redirect that sets the cookie, or refused."""
        token, typed = request.query.get(TOKEN_QUERY), request.query.get(API_KEY_QUERY)
        if token is None and typed is None:
            return self._admits(request)
        if typed is not None and not hmac.compare_digest(typed.encode(), key.encode()):
            return False  # a wrong key typed: said so, whatever the cookie
        # A spent token with the cookie is the same person opening the link again: let in, and not spent twice.
        if typed is None and not self._admits(request) and not (token is not None and self._spend(token)):
            return False
        if request.method != "GET" or request.headers.get("Upgrade", "").lower() == "websocket":
            return True  # a script's socket: no page to go back to
        clean = request.rel_url.with_query([(k, v) for k, v in request.rel_url.query.items() if k not in _SECRETS])
        response = web.Response(status=303, headers={"Location": str(clean), "Cache-Control": "no-store"})
        response.set_cookie(
            _cookie_name(request), self._cookie_value, path=VIEWER_PATHS, httponly=True, samesite="Strict"
        )
        return response


_SECRETS = (TOKEN_QUERY, API_KEY_QUERY)


def _cookie_name(request: web.Request) -> str:
    """Cookies ignore ports: two servers on one host each keep their own."""
    # The port this server listens on (``request.url`` is not used: aiohttp 3.9 with a newer yarl cannot build it).
    sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
    return f"steel-viewer-{sockname[1] if isinstance(sockname, tuple) and len(sockname) > 1 else 0}"


VIEWER: web.AppKey[ViewerAccess] = web.AppKey("viewer_access", ViewerAccess)


async def mint_viewer_token(request: web.Request) -> web.Response:
    """``POST /v1/viewer-tokens`` (behind the key): a token that opens the viewer once, within ``ttlMs``."""
    ttl = parse_json_object(await request.read()).get("ttlMs", DEFAULT_TTL_MS)
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not 1_000 <= ttl <= MAX_TTL_MS:
        raise InvalidRequest(f"ttlMs must be a whole number of milliseconds from 1000 to {MAX_TTL_MS}", "ttlMs")
    token = request.app[VIEWER].mint(ttl)
    return web.json_response({"token": token, "query": TOKEN_QUERY, "expiresInMs": ttl})
