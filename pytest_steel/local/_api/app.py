"""The HTTP face of the local server: Steel's REST routes, the CDP relay and a small viewer.

Errors are always JSON ``{"message": ..., "field"?: ...}`` with the right status,
so that clients never have to parse an HTML error page. URLs in responses are
built from the request's own scheme and Host, so a client reaches the relay by the
address it used to reach the API; behind a front (a TLS terminator) ``--public-url``
gives the scheme and host instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import html
import json
import logging
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path, PurePosixPath
from typing import Any

from aiohttp import BodyPartReader, ClientError, ClientSession, web

from ..._client.wire import (
    API_KEY_HEADER,
    API_KEY_QUERY,
    IGNORED_FIELDS_HEADER,
    SHOULD_RETRY_HEADER,
    ReleaseReason,
)
from .._browsers.cdp import CDPError
from .._browsers.pipe import Channel, PipeClosed
from .._errors import SessionError, SessionGone, SessionNotFound
from .._files import FilesArea, FilesRelay
from .._sessions import LocalSession, SessionManager
from .live import live
from .params import InvalidRequest, ignored_fields, parse_create, parse_json_object, parse_list_query
from .viewer_access import VIEWER, VIEWER_PATHS, ViewerAccess, mint_viewer_token
from .websocket import MAX_UNSENT, RelaySocket

log = logging.getLogger("pytest_steel.local")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

MANAGER: web.AppKey[SessionManager] = web.AppKey("manager", SessionManager)
PUBLIC_URL: web.AppKey[str | None] = web.AppKey("public_url", object)  # type: ignore[arg-type]
API_KEY: web.AppKey[str | None] = web.AppKey("api_key", object)  # type: ignore[arg-type]

_BROWSER_EXIT_GRACE = 2.0  # seconds


def _error(status: int, message: str, field: str | None = None, headers: dict[str, str] | None = None) -> web.Response:
    body: dict[str, Any] = {"message": message}
    if field:
        body["field"] = field
    return web.json_response(body, status=status, headers=headers)


@web.middleware
async def errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except InvalidRequest as exc:
        return _error(400, str(exc), exc.field)
    except SessionError as exc:
        headers = dict(exc.headers)
        if exc.retry is not None:
            headers[SHOULD_RETRY_HEADER] = "true" if exc.retry else "false"
        return _error(exc.status, str(exc), headers=headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error(exc.status, exc.reason, headers={k: v for k, v in exc.headers.items() if k == "Allow"})
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _error(500, "internal error in the local Steel server; see its log")


@web.middleware
async def require_api_key(request: web.Request, handler: Handler) -> web.StreamResponse:
    expected = request.app[API_KEY]
    if expected is None:
        return await handler(request)
    given = request.headers.get(API_KEY_HEADER)
    if given is None and request.path.startswith(VIEWER_PATHS):  # a person's browser: a token, then a cookie
        let_in = request.app[VIEWER].entry(request, expected)
        if isinstance(let_in, web.StreamResponse):
            return let_in
        if let_in:
            return await handler(request)
    elif given is None and request.path == "/":  # a CDP client, as on Steel Cloud; a person listing sessions
        given = request.query.get(API_KEY_QUERY)
    if given is None or not hmac.compare_digest(given.encode(), expected.encode()):
        return _error(
            401,
            f"missing or wrong API key: send the server's key in the {API_KEY_HEADER} header",
        )
    return await handler(request)


def _bases(request: web.Request) -> tuple[str, str]:
    """The HTTP and WebSocket bases of the URLs given out: ``--public-url`` behind a front, else the request's own."""
    public = request.app[PUBLIC_URL]
    scheme, host = public.split("://", 1) if public else (request.scheme, request.host)
    return f"{scheme}://{host}", f"{'wss' if scheme == 'https' else 'ws'}://{host}"


def _session_json(request: web.Request, session: LocalSession) -> web.Response:
    return web.json_response(session.to_wire(*_bases(request)))


async def create_session(request: web.Request) -> web.Response:
    body = parse_json_object(await request.read())
    params = parse_create(body)
    session = await request.app[MANAGER].create(params)
    response = _session_json(request, session)
    if ignored := ignored_fields(body):
        response.headers[IGNORED_FIELDS_HEADER] = ", ".join(ignored)
    return response


async def retrieve_session(request: web.Request) -> web.Response:
    return _session_json(request, request.app[MANAGER].registry.get(request.match_info["session_id"]))


async def list_sessions(request: web.Request) -> web.Response:
    page, next_cursor, total = request.app[MANAGER].registry.list_page(parse_list_query(dict(request.query)))
    bases = _bases(request)
    body: dict[str, Any] = {"sessions": [s.to_wire(*bases) for s in page], "nextCursor": next_cursor}
    if total is not None:
        body["totalCount"] = total
    return web.json_response(body)


async def session_context(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    return web.json_response(await manager.context(manager.registry.get(request.match_info["session_id"])))


async def session_recording(request: web.Request) -> web.StreamResponse:
    """The video of an ended session created with recordVideo (WebM), waiting for it to be complete."""
    manager = request.app[MANAGER]
    path = await manager.recording(manager.registry.get(request.match_info["session_id"]))
    return web.FileResponse(path, headers={"Content-Type": "video/webm"})


async def delete_session_recording(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    await manager.discard_recording(manager.registry.get(request.match_info["session_id"]))
    return web.json_response({"success": True})


async def release_session(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    try:
        session = manager.registry.get(request.match_info["session_id"])
    except SessionNotFound:
        manager.registry.release_unknown(request.match_info["session_id"])
        raise
    released = await manager.release(session)
    if released:
        message = f"Session {session.id} released"
    else:
        message = f"Session {session.id} was already {session.status.value}"
    return web.json_response({"success": True, "message": message})


async def release_all_sessions(request: web.Request) -> web.Response:
    count = await request.app[MANAGER].release_all()
    noun = "session" if count == 1 else "sessions"
    return web.json_response({"success": True, "message": f"Released {count} {noun}"})


# -- a session's files ------------------------------------------------------------


def _files_of(request: web.Request) -> FilesArea:
    session = request.app[MANAGER].registry.get(request.match_info["session_id"])
    if session.files is None:
        raise SessionNotFound(f"session {session.id} is {session.status.value}; its files went with it")
    return session.files


async def list_files(request: web.Request) -> web.Response:
    return web.json_response({"data": _files_of(request).listing()})


async def upload_file(request: web.Request) -> web.Response:
    """Multipart, as the SDKs send it: a ``file`` part (bytes, or a URL to fetch) and an optional ``path``."""
    files = _files_of(request)
    if not request.content_type.startswith("multipart/"):
        raise InvalidRequest("send multipart/form-data with a 'file' part and an optional 'path' part", "file")
    received: Path | None = None
    name: str | None = None
    path: str | None = None
    try:
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "path":
                path = (await part.text()).strip()
            elif part.name == "file" and received is None:
                if part.filename is None:  # a URL to fetch, as Steel Cloud takes one
                    url = (await part.text()).strip()
                    name, received = _name_from_url(url), await files.receive(_fetched(url))
                else:
                    name, received = PurePosixPath(part.filename).name, await files.receive(_chunks(part))
        if received is None:
            raise InvalidRequest("the upload has no 'file' part", "file")
        return web.json_response(files.place(received, path or name or "upload"))
    finally:
        if received is not None:
            received.unlink(missing_ok=True)


async def _chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(2**20):
        yield chunk


def _name_from_url(url: str) -> str:
    return PurePosixPath(urllib.parse.urlsplit(url).path).name or "download"


async def _fetched(url: str) -> AsyncIterator[bytes]:
    """The body at ``url``, for an upload given as a URL; 400 when it cannot be fetched."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise InvalidRequest(f"file {url[:200]!r} is neither a file part nor an http(s) URL", "file")
    try:
        async with ClientSession() as http, http.get(url) as response:
            if response.status >= 400:
                raise InvalidRequest(f"fetching {url[:200]!r} answered {response.status}", "file")
            async for chunk in response.content.iter_chunked(2**20):
                yield chunk
    except ClientError as exc:
        raise InvalidRequest(f"could not fetch {url[:200]!r}: {exc}", "file") from None


async def download_file(request: web.Request) -> web.StreamResponse:
    found = _files_of(request).existing(request.match_info["path"])
    return web.FileResponse(found, headers={"Content-Type": "application/octet-stream"})


async def delete_file(request: web.Request) -> web.Response:
    _files_of(request).delete(request.match_info["path"])
    return web.json_response({"success": True})


async def delete_all_files(request: web.Request) -> web.Response:
    _files_of(request).delete_all()
    return web.json_response({"success": True})


async def files_archive(request: web.Request) -> web.StreamResponse:
    """Every file of the session in one zip, streamed as it is made: nothing of it is left anywhere after."""
    chunks = _files_of(request).archive()
    try:
        first = await chunks.__anext__()  # a zip that cannot be made is an error answer, not a cut-off one
    except StopAsyncIteration:
        first = b""
    except OSError as exc:
        raise SessionError(str(exc)) from None
    try:
        response = web.StreamResponse(headers={"Content-Type": "application/zip"})
        await response.prepare(request)
        await response.write(first)
        async for chunk in chunks:
            await response.write(chunk)
        await response.write_eof()
        return response
    finally:
        await chunks.aclose()


async def health(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    pool = {"ready": manager.pool.ready_count, "size": manager.pool.size, "launched": manager.pool.launched}
    body = {
        "status": "ok",
        "liveSessions": manager.registry.live_count,
        "maxSessions": manager.max_sessions,
        "pool": pool,
        "recording": manager.ffmpeg is not None,
    }
    return web.json_response(body)


# -- CDP relay -----------------------------------------------------------------


async def _browser_end(channel: Channel) -> None:
    async for _ in channel:  # a relay's channel forwards its messages: only the end comes this way
        pass


async def cdp_relay(request: web.Request, session_id: str) -> web.StreamResponse:
    """Relay one CDP client to its session's browser, so the API key and lifecycle govern both.

    Both ways a message is handed on in the callback that read it, as the bytes that
    came: no task, queue or parse between a client's socket and the browser's pipe.
    Neither side can make the server its buffer: a client that reads nothing is dropped
    past ``MAX_UNSENT``, and a browser behind on its pipe stops the client being read.
    """
    session = request.app[MANAGER].registry.get(session_id)
    if not session.is_live or session.browser is None:
        raise SessionGone(f"session {session.id} is {session.status.value} and accepts no connections")
    browser = session.browser
    client = await RelaySocket.accept(request)
    try:
        if browser.pipe is None:
            raise PipeClosed("the browser has no DevTools pipe")
        if session.files_ready is not None:  # the session's downloads go to its files area before any command
            try:
                await asyncio.shield(session.files_ready)
            except (CDPError, OSError, RuntimeError) as exc:
                await request.app[MANAGER].release(session, ReleaseReason.STARTUP_FAILED)
                raise PipeClosed(f"the session's files could not be set up: {exc}") from None
        upstream = await browser.pipe.open_channel()
    except PipeClosed as exc:
        await client.close(code=1011, message=f"browser unreachable: {exc}".encode())
        return client.response
    session.clients.add(client)

    files = FilesRelay(session.files, client.send_texts) if session.files is not None else None

    def to_browser(message: bytes) -> None:
        session.touch()
        upstream.send(files.command(message) if files is not None else message)

    upstream.forward_to(files.events if files is not None else client.send_texts)
    upstream.hold_back(client)
    client.receive_with(to_browser)
    browser_side_closed = False
    try:
        client_end = asyncio.ensure_future(client.wait_closed())
        browser_end = asyncio.ensure_future(_browser_end(upstream))
        ends = [client_end, browser_end]
        done, pending = await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
        browser_side_closed = browser_end in done
        for task in pending:
            task.cancel()
        for task in ends:
            with contextlib.suppress(BaseException):
                await task
    finally:
        session.clients.discard(client)
        if files is not None:
            files.close()
        await upstream.close()
        if client.fell_behind:
            log.warning(
                "session %s: a CDP client left %d MB unread; its connection was closed, as Chromium's own "
                "DevTools server closes one",
                session.id,
                MAX_UNSENT // 2**20,
            )
        if session.is_live and not client.closed and browser_side_closed:
            # The socket closes a moment before the browser's exit is seen: let the session
            # reach its final state first, so a client that looks it up finds "failed".
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(session.ended.wait(), _BROWSER_EXIT_GRACE)
        if not client.closed:
            reason = "browser connection lost" if session.is_live else f"session {session.status.value}"
            await client.close(code=1001, message=reason.encode())
    return client.response


# -- viewer ----------------------------------------------------------------------


async def _pages(request: web.Request, session: LocalSession) -> list[dict[str, Any]]:
    if not session.is_live or session.browser is None or session.browser.pipe is None:
        return []
    with contextlib.suppress(PipeClosed):
        targets = (await session.browser.pipe.call("Target.getTargets", timeout=2.0))["targetInfos"]
        return [t for t in targets if t.get("type") == "page"]
    return []


async def root(request: web.Request) -> web.StreamResponse:
    """``/?sessionId=...`` is the CDP endpoint (as on Steel Cloud); a plain GET lists sessions."""
    session_id = request.query.get("sessionId")
    if session_id and request.headers.get("Upgrade", "").lower() == "websocket":
        return await cdp_relay(request, session_id)
    if session_id:
        raise web.HTTPFound(f"/sessions/{session_id}")
    manager = request.app[MANAGER]
    rows = "".join(
        f'<tr><td><a href="/sessions/{s.id}">{s.id}</a></td><td>{s.status.value}</td>'
        f"<td>{s.duration_ms / 1000:.1f} s</td></tr>"
        for s in manager.registry.newest_first()
    )
    return _page(
        "steel-local",
        f"<p>{manager.registry.live_count} of at most {manager.max_sessions} sessions live.</p>"
        f"<table><tr><th>session</th><th>status</th><th>duration</th></tr>{rows}</table>",
    )


async def session_viewer(request: web.Request) -> web.StreamResponse:
    session = request.app[MANAGER].registry.get(request.match_info["session_id"])
    pages = await _pages(request, session)
    wire = session.to_wire(*_bases(request))
    page_rows = "".join(
        f"<li>{html.escape(p.get('title') or '(untitled)')} &mdash; <code>{html.escape(p.get('url', ''))}</code></li>"
        for p in pages
    )
    return _page(
        f"session {session.id}",
        f"<p>Status: <b id=status>{session.status.value}</b>"
        + (f" ({session.release_reason.value})" if session.release_reason else "")
        + f", <span id=time>{session.duration_ms / 1000:.1f} s of {session.params.timeout_ms / 1000:g} s</span>.</p>"
        f"<p>CDP: <code>{html.escape(wire['websocketUrl'])}</code></p>"
        f"<h2>Live</h2><p id=shown></p><canvas id=live width=0 height=0 style='border:1px solid #ccc;max-width:100%'>"
        f"</canvas><h2>Pages</h2><ul id=pages>{page_rows or '<li>none</li>'}</ul>"
        f'<p><a href="/v1/sessions/{session.id}">JSON</a></p>'
        + (_LIVE_SCRIPT % json.dumps(f"/sessions/{session.id}/live") if session.is_live else ""),
    )


# The live view: frames drawn on the canvas as they come (window.steelFrames counts them), the page's URL and
# title, the time left ticking down, and how the session ended. The viewer's cookie lets its socket in.
_LIVE_SCRIPT = """<script>
(() => {
  const url = new URL(%s, location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  const canvas = document.getElementById("live"), draw = canvas.getContext("2d");
  const text = (id, value) => { document.getElementById(id).textContent = value; };
  let deadline = null;
  window.steelFrames = 0;
  setInterval(() => {
    if (deadline !== null) text("time", Math.max(0, Math.round((deadline - Date.now()) / 1000)) + " s left");
  }, 1000);
  const socket = new WebSocket(url);
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "frame") {
      const image = new Image();
      image.onload = () => {
        canvas.width = image.width; canvas.height = image.height;
        draw.drawImage(image, 0, 0);
        window.steelFrames += 1;
      };
      image.src = "data:image/jpeg;base64," + message.data;
    } else if (message.type === "state") {
      text("status", message.status);
      deadline = Date.now() + message.timeLeftMs;
      text("shown", (message.title || "(untitled)") + " \u2014 " + message.url);
      const list = document.getElementById("pages");
      list.replaceChildren(...message.pages.map((page) => {
        const item = document.createElement("li");
        item.textContent = (page.title || "(untitled)") + " \u2014 " + page.url;
        return item;
      }));
    } else if (message.type === "ended") {
      deadline = null;
      text("status", message.status + (message.reason ? " (" + message.reason + ")" : ""));
      text("time", "ended");
    }
  };
})();
</script>"""


async def session_live(request: web.Request) -> web.StreamResponse:
    return await live(request, request.app[MANAGER].registry.get(request.match_info["session_id"]))


async def session_debug(request: web.Request) -> web.StreamResponse:
    """The viewer: a browser's own DevTools front-end would need its DevTools port, which no browser opens."""
    session = request.app[MANAGER].registry.get(request.match_info["session_id"])
    raise web.HTTPFound(f"/sessions/{session.id}")


def _page(title: str, body: str) -> web.Response:
    return web.Response(
        text=f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:0 1em 0 0;text-align:left}}</style>"
        f"<h1>{html.escape(title)}</h1>{body}",
        content_type="text/html",
    )


# -- assembly --------------------------------------------------------------------


def make_app(manager: SessionManager, api_key: str | None, public_url: str | None = None) -> web.Application:
    app = web.Application(middlewares=[errors_as_json, require_api_key])
    app[MANAGER] = manager
    app[API_KEY] = api_key
    app[VIEWER] = ViewerAccess()

    app[PUBLIC_URL] = public_url
    app.router.add_post("/v1/sessions", create_session)
    app.router.add_get("/v1/sessions", list_sessions)
    app.router.add_post("/v1/sessions/release", release_all_sessions)
    app.router.add_get("/v1/sessions/{session_id}", retrieve_session)
    app.router.add_get("/v1/sessions/{session_id}/context", session_context)
    app.router.add_post("/v1/sessions/{session_id}/release", release_session)
    app.router.add_get("/v1/sessions/{session_id}/recording", session_recording)
    app.router.add_delete("/v1/sessions/{session_id}/recording", delete_session_recording)
    app.router.add_get("/v1/sessions/{session_id}/files", list_files)
    app.router.add_post("/v1/sessions/{session_id}/files", upload_file)
    app.router.add_delete("/v1/sessions/{session_id}/files", delete_all_files)
    app.router.add_get("/v1/sessions/{session_id}/files.zip", files_archive)
    app.router.add_get("/v1/sessions/{session_id}/files/{path:.+}", download_file)
    app.router.add_delete("/v1/sessions/{session_id}/files/{path:.+}", delete_file)
    app.router.add_get("/v1/health", health)
    app.router.add_post("/v1/viewer-tokens", mint_viewer_token)
    app.router.add_get("/", root)
    app.router.add_get("/sessions/{session_id}", session_viewer)
    app.router.add_get("/sessions/{session_id}/debug", session_debug)
    app.router.add_get("/sessions/{session_id}/live", session_live)
    return app
