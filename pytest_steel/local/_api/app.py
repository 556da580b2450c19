"""The HTTP face of the local server, assembled: every route and what each request passes through.

The routes live by concept: ``session_routes`` (Steel's REST routes for sessions),
``file_routes`` (a session's files), ``cdp_relay`` (the CDP endpoint), ``viewer`` (the pages
a person opens) with ``live`` and ``viewer_access``; ``middleware`` checks the key and answers
every error as JSON; ``state`` holds what the routes read from the application.
"""

from __future__ import annotations

from aiohttp import web

from .._session_manager import SessionManager
from .cdp_relay import cdp_relay
from .file_routes import delete_all_files, delete_file, download_file, files_archive, list_files, upload_file
from .middleware import errors_as_json, require_api_key
from .session_routes import (
    create_session,
    delete_session_recording,
    health,
    list_sessions,
    release_all_sessions,
    release_session,
    retrieve_session,
    session_context,
    session_recording,
)
from .state import API_KEY, MANAGER, PUBLIC_URL
from .viewer import session_debug, session_list, session_live, session_viewer
from .viewer_access import VIEWER, ViewerAccess, mint_viewer_token


async def root(request: web.Request) -> web.StreamResponse:
    """``/?sessionId=...`` is the CDP endpoint (as on Steel Cloud); a plain GET lists sessions."""
    session_id = request.query.get("sessionId")
    if session_id and request.headers.get("Upgrade", "").lower() == "websocket":
        return await cdp_relay(request, session_id)
    if session_id:
        raise web.HTTPFound(f"/sessions/{session_id}")
    return session_list(request)


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
