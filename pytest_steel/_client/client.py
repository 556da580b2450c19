"""``SteelClient``: the Steel sessions API over a blocking httpx client, usable with or without pytest.

The endpoints, the idempotent create and the retry rules are ``endpoints``'
plans, shared with ``AsyncSteelClient``; this class runs them with ``http.drive``.
"""

from __future__ import annotations

import builtins
from typing import Any

import httpx

from . import endpoints
from .endpoints import ClientBase, EventHook
from .files import Files
from .http import Plan, T, drive, transport_options
from .models import ReleaseResult, Session, SessionContext, SessionPage
from .wire import MAX_LIST_LIMIT, SessionStatus

__all__ = ["EventHook", "SteelClient"]


class SteelClient(ClientBase):
    """The Steel sessions API, blocking. Arguments as ``ClientBase``, plus an httpx ``transport`` (for tests).

    Over 16 methods: one per endpoint plus ``close`` and the context-manager pair, its size is the API's.
    """

    def __init__(self, *args: Any, transport: httpx.BaseTransport | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        transport = transport or httpx.HTTPTransport(**transport_options(self.base_url))
        self._http = httpx.Client(transport=transport, **self._http_options)
        self.files = Files(self._run, self._rules)  # the session files API

    def _run(self, plan: Plan[T]) -> T:
        return drive(plan, self._http, self._rules)

    def create(self, timeout: int | None = None, *, rate_limit_wait: float | None = None, **fields: Any) -> Session:
        """Create a live session; ``timeout`` is its lifetime in ms, ``fields`` any Steel create field.

        The client chooses the ``sessionId`` (unless given), so that after an
        ambiguous failure it can ask the server whether the attempt took effect.
        """
        return self._run(self._plan_create(timeout, fields, rate_limit_wait))

    def retrieve(self, session_id: str) -> Session:
        return self._run(endpoints.retrieve(self._rules, session_id))

    def context(self, session_id: str) -> SessionContext:
        """The live session's context (cookies, localStorage, sessionStorage, indexedDB) in Steel's wire shape.

        Pass it back as ``session_context`` on create to start a session from it. It
        holds session cookies and tokens: its repr shows only counts.
        """
        return self._run(endpoints.context(self._rules, session_id))

    def list(self, status: SessionStatus | str | None = None, *, limit: int = MAX_LIST_LIMIT) -> builtins.list[Session]:
        """Every session the server lists, page by page (by the last id, as Steel pages).

        Stops on an empty or short page, and on a page that repeats ids already
        seen: a server that ignores the cursor would otherwise be asked forever.
        """
        return self._run(endpoints.list_all(self._rules, status, limit))

    def list_page(
        self, status: SessionStatus | str | None = None, *, limit: int = MAX_LIST_LIMIT, cursor_id: str | None = None
    ) -> SessionPage:
        """One page of the list, with the paging fields the server gave (some servers give none)."""
        return self._run(endpoints.list_page(self._rules, status, limit, cursor_id))

    def release(
        self,
        session_id: str,
        *,
        call_timeout: float | None = None,
        rate_limit_wait: float | None = None,
        timeout: float | None = None,
    ) -> ReleaseResult:
        """Release a session; ``call_timeout`` (seconds) bounds the call, retries included (default: one answer's).

        ``timeout`` is ``call_timeout``'s deprecated name (it warns): on ``create`` it is the session's life in ms.
        """
        budget = endpoints.call_timeout_of("release", call_timeout, timeout)
        return self._run(self._plan_release(session_id, budget, rate_limit_wait))

    def release_all(self) -> ReleaseResult:
        """Release every live session the key can reach: on Steel Cloud, the whole organisation's."""
        return self._run(endpoints.release_all(self._rules))

    def events(self, session_id: str) -> builtins.list[Any]:
        """Steel Cloud's recording of a session: its rrweb events, every page of them (``Next-Cursor``)."""
        return self._run(endpoints.events(self._rules, session_id))

    def recording(self, session_id: str) -> bytes:
        """steel-local's recording of an ended session created with ``recordVideo=True``: a WebM video.

        Raises ``SteelNotFoundError`` when there is none (not asked for, or a backend that does not record).
        """
        return self._run(endpoints.recording(self._rules, session_id))

    def discard_recording(self, session_id: str) -> None:
        """Delete steel-local's recording of a session (it keeps it until then, or until it stops)."""
        self._run(endpoints.discard_recording(self._rules, session_id))

    def health(self, *, call_timeout: float | None = None, timeout: float | None = None) -> dict[str, Any]:
        """The server's health; ``call_timeout`` (seconds) bounds the one attempt, else the client's timeouts apply.

        ``timeout`` is ``call_timeout``'s deprecated name (it warns).
        """
        return self._run(endpoints.health(self._rules, endpoints.call_timeout_of("health", call_timeout, timeout)))

    def settle_abandoned(self) -> builtins.list[str]:
        """Release any session whose create this client gave up on but that came to life since; their ids.

        Call it before dropping the client (pytest-steel does at the end of the run):
        a create can reach a server after the client stopped waiting for it.
        """
        return self._run(self._plan_settle_abandoned())

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SteelClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
