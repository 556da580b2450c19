"""The Steel sessions API client: one httpx code path for Steel Cloud, any Steel-compatible server and steel-local.

Why not the official SDK: it retries ``create`` with no way to find what an
ambiguous attempt left behind, its paginator never ends on a self-hosted
steel-browser, and its ``timeout`` keyword silently sets the session lifetime.
This client picks every session id itself, so a retried create can never leave
an orphan, and keeps the API key out of every repr, message and log line.
"""

from __future__ import annotations

import os
import time
import urllib.parse
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from ._context import SessionContext, as_session_context
from ._errors import SteelConnectionError, SteelError
from ._http import RetryingHTTP, retry_after, should_retry
from ._limits import API_KEY_ENV, BASE_URL_ENV
from ._models import ReleaseResult, Session, SessionPage, wire_fields
from ._redaction import Redacted, display_url, redact
from ._wire import (
    API_KEY_HEADER,
    API_KEY_QUERY,
    MAX_LIST_LIMIT,
    STEEL_CLOUD_URL,
    SessionStatus,
    normalize_base_url,
)

EVENTS = ("created", "released")
EventHook = Callable[..., None]  # created(session, elapsed_s); released(snapshot)


class SteelClient:
    """The Steel sessions API over httpx, usable with or without pytest.

    ``base_url`` defaults to ``$STEEL_BASE_URL`` or Steel Cloud, ``api_key`` to
    ``$STEEL_API_KEY``. Session timeouts are in milliseconds (Steel's unit); the
    HTTP timeouts are in seconds and live here, never on ``create``.

    ``event_hooks`` works as httpx's: ``{"created": [f], "released": [g]}`` calls
    ``f(session, elapsed_seconds)`` after every create this client makes and
    ``g(snapshot)`` after every release; the dict stays editable as ``client.event_hooks``.

    Its methods are the sessions endpoints plus the context-manager protocol; the
    retrying HTTP layer under it is ``_http.RetryingHTTP``.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        api_key_source: str = f"{API_KEY_ENV} or the api_key argument",
        http_timeout: float = 30.0,
        connect_timeout: float = 5.0,
        max_retries: int = 3,
        retry_budget: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        event_hooks: Mapping[str, Sequence[EventHook]] | None = None,
    ) -> None:
        if base_url is None:
            base_url = os.environ.get(BASE_URL_ENV) or STEEL_CLOUD_URL
        if api_key is None:
            api_key = os.environ.get(API_KEY_ENV) or None
        self.base_url = normalize_base_url(base_url)
        self._api_key = Redacted(api_key) if api_key else None
        self._api_key_source = api_key_source
        headers = {"user-agent": "pytest-steel"}
        if self._api_key:
            headers[API_KEY_HEADER] = self._api_key
        self._http = RetryingHTTP(
            httpx.Client(
                base_url=self.base_url,
                headers=headers,
                timeout=httpx.Timeout(http_timeout, connect=connect_timeout),
                transport=transport,
            ),
            self.base_url,
            max_retries=max_retries,
            retry_budget=retry_budget,
            redact=self.redact,
            auth_advice=self._auth_advice,
        )
        unknown = set(event_hooks or ()) - set(EVENTS)
        if unknown:
            raise ValueError(f"event_hooks: unknown event {sorted(unknown)[0]!r}; use {' or '.join(EVENTS)}")
        self.event_hooks: dict[str, list[EventHook]] = {e: list((event_hooks or {}).get(e, ())) for e in EVENTS}

    def __repr__(self) -> str:
        key = "***" if self._api_key else None
        return f"SteelClient(base_url={display_url(self.base_url)!r}, api_key={key})"

    @property
    def has_api_key(self) -> bool:
        return self._api_key is not None

    def _auth_advice(self) -> str:
        if self._api_key:
            return f"the API key from {self._api_key_source} was rejected; check that it is current"
        return f"no API key is configured; set one with {self._api_key_source}"

    # -- sessions -------------------------------------------------------------

    def create(self, timeout: int | None = None, **fields: Any) -> Session:
        """Create a live session; ``timeout`` is its lifetime in ms, ``fields`` any Steel create field.

        The client chooses the ``sessionId`` (unless given), so that after an
        ambiguous failure it can ask the server whether the attempt took effect.
        """
        body = wire_fields(fields)
        if body.get("sessionContext") is not None:  # a Steel context, or a Playwright storage state (dict or file)
            body["sessionContext"] = as_session_context(body["sessionContext"])
        if timeout is not None:
            body["timeout"] = timeout
        body.setdefault("sessionId", str(uuid.uuid4()))
        started = time.monotonic()
        session = self._create_with_retries(body)
        elapsed = time.monotonic() - started
        for hook in self.event_hooks["created"]:
            hook(session, elapsed)
        return session

    def retrieve(self, session_id: str) -> Session:
        return Session.from_wire(self._http.call("GET", f"/v1/sessions/{session_id}").json())

    def context(self, session_id: str) -> SessionContext:
        """The live session's context (cookies, localStorage, sessionStorage, indexedDB) in Steel's wire shape.

        Pass it back as ``session_context`` on create to start a session from it. It
        holds session cookies and tokens: its repr shows only counts.
        """
        return SessionContext(self._http.call("GET", f"/v1/sessions/{session_id}/context").json())

    def list(self, status: SessionStatus | str | None = None, *, limit: int = MAX_LIST_LIMIT) -> list[Session]:
        """Every session the server lists, page by page (by the last id, as Steel pages).

        Stops on an empty or short page, and on a page that repeats ids already
        seen: a self-hosted steel-browser ignores the cursor and would loop forever.
        """
        sessions: list[Session] = []
        seen: set[str] = set()
        cursor: str | None = None
        while True:
            page = self.list_page(status, limit=limit, cursor_id=cursor).sessions
            fresh = [s for s in page if s.id not in seen]
            sessions.extend(fresh)
            seen.update(s.id for s in fresh)
            if len(page) < limit or len(fresh) < len(page):
                return sessions
            cursor = page[-1].id

    def list_page(
        self, status: SessionStatus | str | None = None, *, limit: int = MAX_LIST_LIMIT, cursor_id: str | None = None
    ) -> SessionPage:
        """One page of the list, with the paging fields the server gave (steel-browser gives none)."""
        params: dict[str, Any] = {"limit": limit}
        if status is not None:
            params["status"] = str(status)
        if cursor_id is not None:
            params["cursorId"] = cursor_id
        return SessionPage.from_wire(self._http.call("GET", "/v1/sessions", params=params).json())

    def release(self, session_id: str) -> ReleaseResult:
        body = self._http.call("POST", f"/v1/sessions/{session_id}/release").json()
        result = ReleaseResult(bool(body.get("success", True)), body.get("message"))
        snapshot = Session(id=session_id, status=SessionStatus.RELEASED, release_reason="user_requested")
        for hook in self.event_hooks["released"]:
            hook(snapshot)
        return result

    def release_all(self) -> ReleaseResult:
        """Release every live session the key can reach: on Steel Cloud, the whole organisation's."""
        body = self._http.call("POST", "/v1/sessions/release").json()
        return ReleaseResult(bool(body.get("success", True)), body.get("message"))

    def health(self) -> dict[str, Any]:
        return self._http.call("GET", "/v1/health", retry=False).json()

    def cdp_url(self, session: Session) -> Redacted:
        """The session's CDP WebSocket URL, with the key as ``apiKey`` when one is configured (Steel Cloud needs it)."""
        if not session.websocket_url:
            raise SteelError(f"the Steel server gave session {session.id} no websocketUrl to connect to")
        if not self._api_key:
            return Redacted(session.websocket_url)
        parts = urllib.parse.urlsplit(session.websocket_url)
        query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        query = [(k, v) for k, v in query if k != API_KEY_QUERY] + [(API_KEY_QUERY, str(self._api_key))]
        return Redacted(urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query))))

    def redact(self, text: str) -> str:
        """``text`` with the API key (and its URL-encoded form) replaced, for messages from other libraries."""
        return redact(text, self._api_key)

    def close(self) -> None:
        self._http.http.close()

    def __enter__(self) -> SteelClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- retries --------------------------------------------------------------

    def _create_with_retries(self, body: dict[str, Any]) -> Session:
        """POST a create; after an ambiguous failure, look the chosen id up before trying again.

        An attempt is ambiguous when the server may have acted on it (no answer,
        a 5xx, a 408, a 409 for our own id). Before the next POST, and before
        giving up, the client asks for that id: a live session is returned, a
        spent id is replaced, and an id it cannot account for is released.
        """
        ambiguous = False
        error: SteelError | None = None
        for attempt in self._http.attempts():
            if ambiguous:
                found = self._lookup(body["sessionId"])
                if found is not None and found.is_live:
                    return found
                if found is not None:  # it existed and already ended: never reuse a spent id
                    body["sessionId"] = str(uuid.uuid4())
                    ambiguous = False
            try:
                response = self._http.send("POST", "/v1/sessions", json=body)
            except SteelConnectionError as exc:
                ambiguous, error = True, exc
                if attempt.last or not attempt.wait():
                    break
                continue
            if response.status_code < 400:
                return Session.from_wire(response.json())
            error = self._http.status_error(response, "POST", "/v1/sessions")
            if response.status_code == 409:  # the id exists: an earlier attempt got through after all
                ambiguous = True
                if attempt.last:
                    break
                continue
            ambiguous = ambiguous or response.status_code >= 500 or response.status_code == 408
            if attempt.last or not should_retry(response) or not attempt.wait(retry_after(response)):
                break
        if ambiguous:
            found = self._lookup(body["sessionId"])
            if found is not None and found.is_live:
                return found
            if found is None:
                self._abandon(body["sessionId"])
        assert error is not None
        raise error

    def _lookup(self, session_id: str) -> Session | None:
        """One GET for an id this client chose; None when it does not exist or the server cannot say."""
        try:
            response = self._http.send("GET", f"/v1/sessions/{session_id}")
        except SteelConnectionError:
            return None
        return Session.from_wire(response.json()) if response.status_code == 200 else None

    def _abandon(self, session_id: str) -> None:
        """Best effort: release an id a failed create may have brought to life, so it does not meter on."""
        try:
            self._http.send("POST", f"/v1/sessions/{session_id}/release")
        except SteelError:
            pass
