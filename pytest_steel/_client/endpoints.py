"""The Steel sessions endpoints as plans, and the client state both clients share.

``SteelClient`` and ``AsyncSteelClient`` are this base with a driver: every rule of
the wire (field names, the idempotent create, paging, event hooks, what an error
says) is written here once, and each client only runs the plans, blocking or awaited.

Why not the official SDK: it retries ``create`` with no way to find what an
ambiguous attempt left behind, its paginator never ends on a server that ignores
the cursor, and its ``timeout`` keyword silently sets the session lifetime.
These clients pick every session id themselves, so a retried create can never
leave an orphan, and keep the API key out of every repr, message and log line.
"""

from __future__ import annotations

import os
import time
import urllib.parse
import uuid
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from .create import IdempotentCreate
from .errors import SteelError
from .http import Plan, RequestGate, Rules
from .limits import API_KEY_ENV, BASE_URL_ENV
from .models import ReleaseResult, Session, SessionContext, SessionPage, as_session_context, wire_fields
from .redaction import Redacted, display_url, redact
from .wire import (
    API_KEY_HEADER,
    API_KEY_QUERY,
    NEXT_CURSOR_HEADER,
    STEEL_CLOUD_URL,
    SessionStatus,
    normalize_base_url,
)

EVENTS = ("created", "released")
EventHook = Callable[..., None]  # created(session, elapsed_s); released(snapshot)


def call_timeout_of(method: str, call_timeout: float | None, timeout: float | None) -> float | None:
    """``call_timeout``, or the deprecated ``timeout`` it replaced on ``release`` and ``health`` (with a warning).

    ``timeout`` meant seconds there but milliseconds of the session's life on ``create``:
    the old name stays for one release, as an alias that says which name to use.
    """
    if timeout is None:
        return call_timeout
    if call_timeout is not None:
        raise TypeError(f"{method}() takes call_timeout, or its deprecated name timeout, not both")
    warnings.warn(
        f"{method}(timeout=...) is deprecated: use call_timeout=... (seconds for the whole call); "
        "timeout will be removed in the next release",
        DeprecationWarning,
        stacklevel=3,
    )
    return timeout


class ClientBase:
    """Configuration, secrets and event hooks of a client, and a plan for each endpoint.

    ``base_url`` defaults to ``$STEEL_BASE_URL`` or Steel Cloud, ``api_key`` to
    ``$STEEL_API_KEY``. Session timeouts are in milliseconds (Steel's unit); the
    HTTP timeouts are in seconds and live here, never on ``create``: ``http_timeout``
    for one answer, ``connect_timeout`` for one connection, ``call_timeout`` (three
    answers' worth by default) for a whole call with its retries. ``event_hooks``
    works as httpx's: ``{"created": [f], "released": [g]}`` calls ``f(session,
    elapsed_seconds)`` after every create and ``g(snapshot)`` after every release.

    It holds the secrets and the plans that need the client's own state (create and
    release call the event hooks); the stateless endpoints are this module's plan
    functions over the client's ``Rules``. A subclass runs every plan with its own driver.
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
        call_timeout: float | None = None,
        event_hooks: Mapping[str, Sequence[EventHook]] | None = None,
        request_gate: RequestGate | None = None,
    ) -> None:
        self.base_url = normalize_base_url(base_url or os.environ.get(BASE_URL_ENV) or STEEL_CLOUD_URL)
        api_key = api_key if api_key is not None else os.environ.get(API_KEY_ENV) or None
        self._api_key = Redacted(api_key) if api_key else None
        self._api_key_source = api_key_source
        unknown = set(event_hooks or ()) - set(EVENTS)
        if unknown:
            raise ValueError(f"event_hooks: unknown event {sorted(unknown)[0]!r}; use {' or '.join(EVENTS)}")
        self.event_hooks: dict[str, list[EventHook]] = {e: list((event_hooks or {}).get(e, ())) for e in EVENTS}
        call_timeout = call_timeout if call_timeout is not None else 3 * http_timeout
        self._rules = Rules(
            self.base_url, max_retries, call_timeout, self.redact, self._auth_advice, http_timeout, connect_timeout
        )
        self._rules.gate = request_gate
        self._creates = IdempotentCreate(self._rules)
        headers = {"user-agent": "pytest-steel"}
        if self._api_key:
            headers[API_KEY_HEADER] = self._api_key
        self._http_options: dict[str, Any] = {
            "base_url": self.base_url,
            "headers": headers,
            "timeout": httpx.Timeout(http_timeout, connect=connect_timeout),
            "trust_env": False,  # the transport follows the network policy (``network``), not httpx's own reading
        }

    def __repr__(self) -> str:
        key = "***" if self._api_key else None
        return f"{type(self).__name__}(base_url={display_url(self.base_url)!r}, api_key={key})"

    @property
    def has_api_key(self) -> bool:
        return self._api_key is not None

    def _auth_advice(self) -> str:
        if self._api_key:
            return f"the API key from {self._api_key_source} was rejected; check that it is current"
        return f"no API key is configured; set one with {self._api_key_source}"

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

    # -- plans that use the client's own state ----------------------------------------

    def _plan_create(
        self, timeout: int | None, fields: dict[str, Any], rate_limit_wait: float | None = None
    ) -> Plan[Session]:
        body = wire_fields(fields)
        if body.get("sessionContext") is not None:  # a Steel context, or a Playwright storage state (dict or file)
            body["sessionContext"] = as_session_context(body["sessionContext"])
        if timeout is not None:
            body["timeout"] = timeout
        body.setdefault("sessionId", str(uuid.uuid4()))
        started = time.monotonic()
        session = yield from self._creates.create(body, rate_limit_wait)
        elapsed = time.monotonic() - started
        for hook in self.event_hooks["created"]:
            hook(session, elapsed)
        return session

    def _plan_release(
        self, session_id: str, call_timeout: float | None = None, rate_limit_wait: float | None = None
    ) -> Plan[ReleaseResult]:
        # One answer's worth of time, retries included: a release that hangs must not hold a test for minutes,
        # and what it leaves is reported and swept at the end of the run.
        path = f"/v1/sessions/{session_id}/release"
        budget = call_timeout if call_timeout is not None else self._rules.read_timeout
        answer = yield from self._rules.call("POST", path, call_timeout=budget, rate_limit_wait=rate_limit_wait)
        body = answer.json()
        snapshot = Session(id=session_id, status=SessionStatus.RELEASED, release_reason="user_requested")
        for hook in self.event_hooks["released"]:
            hook(snapshot)
        return ReleaseResult(bool(body.get("success", True)), body.get("message"))

    @property
    def abandoned(self) -> set[str]:
        """Ids of creates given up on that may yet come to life (``settle_abandoned`` looks again)."""
        return self._creates.abandoned

    def _plan_settle_abandoned(self) -> Plan[list[str]]:
        return self._creates.settle_abandoned()


# -- the stateless endpoints: plans over the client's rules --------------------------


def retrieve(rules: Rules, session_id: str) -> Plan[Session]:
    response = yield from rules.call("GET", f"/v1/sessions/{session_id}")
    return Session.from_wire(response.json())


def context(rules: Rules, session_id: str) -> Plan[SessionContext]:
    response = yield from rules.call("GET", f"/v1/sessions/{session_id}/context")
    return SessionContext(response.json())


def list_all(rules: Rules, status: SessionStatus | str | None, limit: int) -> Plan[list[Session]]:
    sessions: list[Session] = []
    seen: set[str] = set()
    cursor: str | None = None
    while True:
        page = (yield from list_page(rules, status, limit, cursor)).sessions
        fresh = [s for s in page if s.id not in seen]
        sessions.extend(fresh)
        seen.update(s.id for s in fresh)
        if len(page) < limit or len(fresh) < len(page):
            return sessions
        cursor = page[-1].id


def list_page(rules: Rules, status: SessionStatus | str | None, limit: int, cursor_id: str | None) -> Plan[SessionPage]:
    params: dict[str, Any] = {"limit": limit}
    if status is not None:
        params["status"] = str(status)
    if cursor_id is not None:
        params["cursorId"] = cursor_id
    response = yield from rules.call("GET", "/v1/sessions", params=params)
    return SessionPage.from_wire(response.json())


def release_all(rules: Rules) -> Plan[ReleaseResult]:
    body = (yield from rules.call("POST", "/v1/sessions/release")).json()
    return ReleaseResult(bool(body.get("success", True)), body.get("message"))


def events(rules: Rules, session_id: str) -> Plan[list[Any]]:
    events: list[Any] = []
    params: dict[str, Any] = {}
    seen: set[str] = set()
    while True:
        response = yield from rules.call("GET", f"/v1/sessions/{session_id}/events", params=params)
        page = response.json()
        events.extend(page if isinstance(page, list) else page.get("events", []))
        cursor = response.headers.get(NEXT_CURSOR_HEADER)
        if not cursor or cursor in seen or not page:  # a repeated cursor would page forever
            return events
        seen.add(cursor)
        params = {"pointer": cursor}


def recording(rules: Rules, session_id: str) -> Plan[bytes]:
    response = yield from rules.call("GET", f"/v1/sessions/{session_id}/recording")
    return response.content


def discard_recording(rules: Rules, session_id: str) -> Plan[None]:
    yield from rules.call("DELETE", f"/v1/sessions/{session_id}/recording")


def health(rules: Rules, call_timeout: float | None) -> Plan[dict[str, Any]]:
    return (yield from rules.call("GET", "/v1/health", retry=False, call_timeout=call_timeout)).json()
