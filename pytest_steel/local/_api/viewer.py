"""The viewer: a person's pages of the server, the sessions it knows and each session, live.

The pages are files beside this module (``session_list.html``, ``viewer.html`` and the live
view's script ``viewer_live.js``), filled in by ``_fill``: every value is HTML-escaped unless it is
markup this module built itself, and the filling is one pass, so a value that looks like a
placeholder stays text. An HTML file's line breaks are for reading it: the page is sent with its
lines joined, so no space appears between its tags. Whatever a page or a client sent (a page's
title and URL, the request's Host in the CDP URL) is escaped.
"""

from __future__ import annotations

import contextlib
import html
import json
import re
from importlib import resources
from typing import Any

from aiohttp import web

from .._chromium_procs.pipe import PipeClosed
from .._session_state import LocalSession
from .live import live
from .state import MANAGER, bases, session_of

_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def _template(name: str) -> str:
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    return "".join(text.splitlines()) if name.endswith(".html") else text


_SESSION_LIST = _template("session_list.html")
_SESSION = _template("viewer.html")
# The live view: frames drawn on the canvas as they come (window.steelFrames counts them), the page's URL and
# title, the time left ticking down, and how the session ended. The viewer's cookie lets its socket in.
_LIVE_SCRIPT = _template("viewer_live.js")
_SESSION_ROW = '<tr><td><a href="/sessions/{{id}}">{{id}}</a></td><td>{{status}}</td><td>{{duration}} s</td></tr>'
_PAGE_ROW = "<li>{{title}} &mdash; <code>{{url}}</code></li>"


def _fill(template: str, markup: dict[str, str], **text: object) -> str:
    """``template`` with each ``{{name}}`` replaced: ``text`` escaped, ``markup`` as is; every name must be given."""
    values = {**{name: html.escape(str(value)) for name, value in text.items()}, **markup}
    return _PLACEHOLDER.sub(lambda match: values[match[1]], template)


def _script_string(value: str) -> str:
    """``value`` as a JavaScript string literal that cannot end the ``<script>`` element it stands in."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _html(page: str) -> web.Response:
    return web.Response(text=page, content_type="text/html")


async def _pages(session: LocalSession) -> list[dict[str, Any]]:
    if not session.is_live or session.browser is None or session.browser.pipe is None:
        return []
    with contextlib.suppress(PipeClosed):
        targets = (await session.browser.pipe.call("Target.getTargets", timeout=2.0))["targetInfos"]
        return [t for t in targets if t.get("type") == "page"]
    return []


def session_list(request: web.Request) -> web.Response:
    """``GET /``: the sessions the server knows, newest first."""
    manager = request.app[MANAGER]
    rows = "".join(
        _fill(
            _SESSION_ROW,
            {},
            id=s.id,
            status=s.status.value,
            duration=f"{s.duration_ms / 1000:.1f}",
        )
        for s in manager.registry.newest_first()
    )
    page = _fill(
        _SESSION_LIST,
        {"rows": rows},
        title="steel-local",
        live_count=manager.registry.live_count,
        max_sessions=manager.max_sessions,
    )
    return _html(page)


async def session_viewer(request: web.Request) -> web.StreamResponse:
    session = session_of(request)
    pages = await _pages(session)
    wire = session.to_wire(*bases(request))
    page_rows = "".join(_fill(_PAGE_ROW, {}, title=p.get("title") or "(untitled)", url=p.get("url", "")) for p in pages)
    script = ""
    if session.is_live:
        live_url = _script_string(f"/sessions/{session.id}/live")
        script = f"<script>\n{_fill(_LIVE_SCRIPT, {'live_url': live_url})}</script>"
    page = _fill(
        _SESSION,
        {"pages": page_rows or "<li>none</li>", "live_script": script},
        title=f"session {session.id}",
        status=session.status.value,
        reason=f" ({session.release_reason.value})" if session.release_reason else "",
        elapsed=f"{session.duration_ms / 1000:.1f}",
        lifetime=f"{session.params.timeout_ms / 1000:g}",
        cdp_url=wire["websocketUrl"],
        session_id=session.id,
    )
    return _html(page)


async def session_live(request: web.Request) -> web.StreamResponse:
    return await live(request, session_of(request))


async def session_debug(request: web.Request) -> web.StreamResponse:
    """The viewer: a browser's own DevTools front-end would need its DevTools port, which no browser opens."""
    session = session_of(request)
    raise web.HTTPFound(f"/sessions/{session.id}")
