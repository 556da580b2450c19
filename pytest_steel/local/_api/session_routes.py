"""Steel's REST routes for sessions: create, retrieve, list, context, recording, release; and health."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..._client.wire import IGNORED_FIELDS_HEADER
from .._http_errors import SessionNotFound
from .._session_state import LocalSession
from .params import ignored_fields, parse_create, parse_json_object, parse_list_query
from .state import MANAGER, bases, session_of


def _session_json(request: web.Request, session: LocalSession) -> web.Response:
    return web.json_response(session.to_wire(*bases(request)))


async def create_session(request: web.Request) -> web.Response:
    body = parse_json_object(await request.read())
    params = parse_create(body)
    session = await request.app[MANAGER].create(params)
    response = _session_json(request, session)
    if ignored := ignored_fields(body):
        response.headers[IGNORED_FIELDS_HEADER] = ", ".join(ignored)
    return response


async def retrieve_session(request: web.Request) -> web.Response:
    return _session_json(request, session_of(request))


async def list_sessions(request: web.Request) -> web.Response:
    page, next_cursor, total = request.app[MANAGER].registry.list_page(parse_list_query(dict(request.query)))
    http_base, ws_base = bases(request)
    body: dict[str, Any] = {"sessions": [s.to_wire(http_base, ws_base) for s in page], "nextCursor": next_cursor}
    if total is not None:
        body["totalCount"] = total
    return web.json_response(body)


async def session_context(request: web.Request) -> web.Response:
    return web.json_response(await request.app[MANAGER].context(session_of(request)))


async def session_recording(request: web.Request) -> web.StreamResponse:
    """The video of an ended session created with recordVideo (WebM), waiting for it to be complete."""
    path = await request.app[MANAGER].recording(session_of(request))
    return web.FileResponse(path, headers={"Content-Type": "video/webm"})


async def delete_session_recording(request: web.Request) -> web.Response:
    await request.app[MANAGER].discard_recording(session_of(request))
    return web.json_response({"success": True})


async def release_session(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    try:
        session = session_of(request)
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
