"""What every request passes through: the API key check, and errors answered as JSON.

Errors are always JSON ``{"message": ..., "field"?: ...}`` with the right status,
so that clients never have to parse an HTML error page.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any

from aiohttp import web

from ..._client.wire import API_KEY_HEADER, API_KEY_QUERY, SHOULD_RETRY_HEADER
from .._http_errors import InvalidRequest, SessionError
from .state import API_KEY, Handler
from .viewer_access import VIEWER, VIEWER_PATHS

log = logging.getLogger("pytest_steel.local")


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
