"""The Steel sessions API client: one httpx code path for Steel Cloud, any Steel-compatible server and steel-local.

Why not the official SDK: it retries ``create`` with no way to find what an
ambiguous attempt left behind, its paginator never ends on a self-hosted
steel-browser, and its ``timeout`` keyword silently sets the session lifetime.
This client picks every session id itself, so a retried create can never leave
an orphan, and keeps the API key out of every repr, message and log line.
"""

from __future__ import annotations

import email.utils
import os
import random
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from ._errors import (
    SteelAPIError,
    SteelAuthenticationError,
    SteelConnectionError,
    SteelError,
    SteelTimeoutError,
    error_class_for_status,
)
from ._models import ReleaseResult, Session, wire_fields
from ._redaction import Redacted, display_url, redact
from ._wire import (
    API_KEY_HEADER,
    API_KEY_QUERY,
    MAX_LIST_LIMIT,
    SHOULD_RETRY_HEADER,
    STEEL_CLOUD_URL,
    SessionStatus,
    normalize_base_url,
)

RETRYABLE_STATUSES = frozenset({408, 409, 429}) | frozenset(range(500, 600))
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
MAX_RETRY_AFTER = 60.0


SessionListener = Callable[[Session], None]
CreatedListener = Callable[[Session, float], None]  # the session, and how long creating it took (s)


class SteelClient:
    """The Steel sessions API over httpx, usable with or without pytest.

    ``base_url`` defaults to ``$STEEL_BASE_URL`` or Steel Cloud, ``api_key`` to
    ``$STEEL_API_KEY``. Session timeouts are in milliseconds (Steel's unit); the
    HTTP timeouts are in seconds and live here, never on ``create``.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        api_key_source: str = "STEEL_API_KEY or the api_key argument",
        http_timeout: float = 30.0,
        connect_timeout: float = 5.0,
        max_retries: int = 3,
        retry_budget: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if base_url is None:
            base_url = os.environ.get("STEEL_BASE_URL") or STEEL_CLOUD_URL
        if api_key is None:
            api_key = os.environ.get("STEEL_API_KEY") or None
        self.base_url = normalize_base_url(base_url)
        self._api_key = Redacted(api_key) if api_key else None
        self._api_key_source = api_key_source
        self.max_retries = max_retries
        self.retry_budget = retry_budget
        headers = {"user-agent": "pytest-steel"}
        if self._api_key:
            headers[API_KEY_HEADER] = self._api_key
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(http_timeout, connect=connect_timeout),
            transport=transport,
        )
        self._on_created: list[CreatedListener] = []
        self._on_released: list[SessionListener] = []

    def __repr__(self) -> str:
        key = "***" if self._api_key else None
        return f"SteelClient(base_url={display_url(self.base_url)!r}, api_key={key})"

    @property
    def has_api_key(self) -> bool:
        return self._api_key is not None

    # -- sessions -------------------------------------------------------------

    def create(self, timeout: int | None = None, **fields: Any) -> Session:
        """Create a live session; ``timeout`` is its lifetime in ms, ``fields`` any Steel create field.

        The client chooses the ``sessionId`` (unless given), so that after an
        ambiguous failure it can ask the server whether the attempt took effect.
        """
        body = wire_fields(fields)
        if timeout is not None:
            body["timeout"] = timeout
        body.setdefault("sessionId", str(uuid.uuid4()))
        started = time.monotonic()
        session = self._create_with_retries(body)
        elapsed = time.monotonic() - started
        for listener in self._on_created:
            listener(session, elapsed)
        return session

    def retrieve(self, session_id: str) -> Session:
        return Session.from_wire(self._request("GET", f"/v1/sessions/{session_id}").json())

    def list(self, status: SessionStatus | str | None = None, *, limit: int = MAX_LIST_LIMIT) -> list[Session]:
        """Every session the server lists, page by page (by the last id, as Steel pages).

        Stops on an empty or short page, and on a page that repeats ids already
        seen: a self-hosted steel-browser ignores the cursor and would loop forever.
        """
        params: dict[str, Any] = {"limit": limit}
        if status is not None:
            params["status"] = str(status)
        sessions: list[Session] = []
        seen: set[str] = set()
        while True:
            page = [
                Session.from_wire(item)
                for item in self._request("GET", "/v1/sessions", params=params).json().get("sessions") or []
            ]
            fresh = [s for s in page if s.id not in seen]
            sessions.extend(fresh)
            seen.update(s.id for s in fresh)
            if len(page) < limit or len(fresh) < len(page):
                return sessions
            params["cursorId"] = page[-1].id

    def release(self, session_id: str) -> ReleaseResult:
        body = self._request("POST", f"/v1/sessions/{session_id}/release").json()
        result = ReleaseResult(bool(body.get("success", True)), body.get("message"))
        snapshot = Session(id=session_id, status=SessionStatus.RELEASED, release_reason="user_requested")
        for listener in self._on_released:
            listener(snapshot)
        return result

    def release_all(self) -> ReleaseResult:
        """Release every live session the key can reach: on Steel Cloud, the whole organisation's."""
        body = self._request("POST", "/v1/sessions/release").json()
        return ReleaseResult(bool(body.get("success", True)), body.get("message"))

    def health(self) -> dict[str, Any]:
        return self._request("GET", "/v1/health", retry=False).json()

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
        self._http.close()

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
        for attempt in self._attempts():
            if ambiguous:
                found = self._lookup(body["sessionId"])
                if found is not None and found.is_live:
                    return found
                if found is not None:  # it existed and already ended: never reuse a spent id
                    body["sessionId"] = str(uuid.uuid4())
                    ambiguous = False
            try:
                response = self._send("POST", "/v1/sessions", json=body)
            except SteelConnectionError as exc:
                ambiguous, error = True, exc
                if attempt.last or not attempt.wait():
                    break
                continue
            if response.status_code < 400:
                return Session.from_wire(response.json())
            error = self._status_error(response, "POST", "/v1/sessions")
            if response.status_code == 409:  # the id exists: an earlier attempt got through after all
                ambiguous = True
                if attempt.last:
                    break
                continue
            ambiguous = ambiguous or response.status_code >= 500 or response.status_code == 408
            if attempt.last or not self._should_retry(response) or not attempt.wait(self._retry_after(response)):
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
            response = self._send("GET", f"/v1/sessions/{session_id}")
        except SteelConnectionError:
            return None
        return Session.from_wire(response.json()) if response.status_code == 200 else None

    def _abandon(self, session_id: str) -> None:
        """Best effort: release an id a failed create may have brought to life, so it does not meter on."""
        try:
            self._send("POST", f"/v1/sessions/{session_id}/release")
        except SteelError:
            pass

    def _attempts(self) -> Iterator[_Attempt]:
        deadline = time.monotonic() + self.retry_budget
        for number in range(self.max_retries + 1):
            yield _Attempt(number, last=number == self.max_retries, deadline=deadline)

    def _request(self, method: str, path: str, *, retry: bool = True, **kwargs: Any) -> httpx.Response:
        for attempt in self._attempts():
            last = attempt.last or not retry
            try:
                response = self._send(method, path, **kwargs)
            except SteelConnectionError:
                if last or not attempt.wait():
                    raise
                continue
            if response.status_code < 400:
                return response
            if last or not self._should_retry(response):
                raise self._status_error(response, method, path)
            if not attempt.wait(self._retry_after(response)):
                raise self._status_error(response, method, path)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise SteelTimeoutError(
                f"the Steel API at {display_url(self.base_url)} did not answer {method} {path} in time "
                f"({type(exc).__name__}); is the server overloaded or stuck?"
            ) from None
        except httpx.TransportError as exc:
            reason = self.redact(str(exc)) or type(exc).__name__
            raise SteelConnectionError(
                f"could not reach the Steel API at {display_url(self.base_url)} ({reason}); is the server running, "
                "and is the base URL right?"
            ) from None

    @staticmethod
    def _should_retry(response: httpx.Response) -> bool:
        override = response.headers.get(SHOULD_RETRY_HEADER)
        if override in ("true", "false"):
            return override == "true"
        return response.status_code in RETRYABLE_STATUSES

    @staticmethod
    def _retry_after(response: httpx.Response) -> float | None:
        """Seconds the server asked us to wait (``retry-after-ms``, ``retry-after`` seconds or date), if sane."""
        delay: float | None = None
        if (value := response.headers.get("retry-after-ms")) is not None:
            try:
                delay = float(value) / 1000
            except ValueError:
                delay = None
        elif (value := response.headers.get("retry-after")) is not None:
            try:
                delay = float(value)
            except ValueError:
                when = email.utils.parsedate_to_datetime(value) if value else None
                delay = when.timestamp() - time.time() if when else None
        return delay if delay is not None and 0 < delay <= MAX_RETRY_AFTER else None

    def _status_error(self, response: httpx.Response, method: str, path: str) -> SteelAPIError:
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text[:500]
        said = body.get("message") if isinstance(body, dict) else body
        said = self.redact(str(said)) if said else ""
        where = f"{method} {path} on {display_url(self.base_url)}"
        status = response.status_code
        error_class = error_class_for_status(status)
        if error_class is SteelAuthenticationError:
            if self._api_key:
                advice = f"the API key from {self._api_key_source} was rejected; check that it is current"
            else:
                advice = f"no API key is configured; set one with {self._api_key_source}"
            message = f"{where} was refused ({status}): {advice}"
        else:
            message = f"{where} failed ({status})"
        if said:
            message += f". The server said: {said}"
        if isinstance(body, dict) and body.get("field"):
            message += f" (field {body['field']!r})"
        return error_class(message, status_code=status, method=method, path=path, body=body)


@dataclass
class _Attempt:
    number: int
    last: bool
    deadline: float

    def wait(self, server_delay: float | None = None) -> bool:
        """Back off before the next attempt; False when the retry budget cannot cover the wait."""
        delay = server_delay
        if delay is None:
            delay = min(INITIAL_RETRY_DELAY * 2**self.number, MAX_RETRY_DELAY) * random.uniform(0.75, 1.0)
        if time.monotonic() + delay > self.deadline:
            return False
        time.sleep(delay)
        return True
