"""Steel's create, made idempotent: the client picks the session id, so a retry never leaves an orphan.

An attempt is ambiguous when the server may have acted on it (no answer, a 5xx, a
408, a 409 for our own id). Before the next POST, and before giving up, the client
asks for that id: a live session is returned, a spent id is replaced, and an id it
cannot account for is released, or remembered until ``settle_abandoned`` can.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from typing import Any

import httpx

from .errors import SteelConnectionError, SteelError, SteelHungError, SteelTimeoutError
from .http import Plan, PlanWait, Rules, Send, Sleep, retry_after, should_retry
from .models import Session
from .profile import ignored_fields
from .wire import IGNORED_FIELDS_HEADER

LOOKUP_TIMEOUT = 10.0  # seconds for one look-up or clean-up request after a failed create


class IdempotentCreate:
    """Creates with the client's rules, and the ids of those given up on that may yet come to life."""

    def __init__(self, rules: Rules) -> None:
        self._rules = rules
        self.abandoned: set[str] = set()

    def create(self, body: dict[str, Any], rate_limit_wait: float | None = None) -> Plan[Session]:
        """POST a create; after an ambiguous failure, look the chosen id up before trying again.

        An attempt is ambiguous when the server may have acted on it (no answer,
        a 5xx, a 408, a 409 for our own id). Before the next POST, and before
        giving up, the client asks for that id: a live session is returned, a
        spent id is replaced, and an id it cannot account for is released. A 429
        (the plan's rate, or its concurrent sessions all taken) is waited out for up
        to ``rate_limit_wait`` seconds without spending a retry.
        """
        ambiguous = False
        error: SteelError | None = None
        plan = PlanWait(rate_limit_wait)
        attempts = self._rules.attempts()
        attempt = next(attempts, None)
        while attempt is not None:
            if ambiguous:
                found = yield from self._lookup(body["sessionId"])
                if found is not None and found.is_live:
                    return found
                if found is not None:  # it existed and already ended: never reuse a spent id
                    body["sessionId"] = str(uuid.uuid4())
                    ambiguous = False
            try:
                response = yield attempt.send("POST", "/v1/sessions", json=body)
            except SteelConnectionError as exc:
                ambiguous, error = True, exc
                if isinstance(exc, SteelTimeoutError):
                    try:
                        yield from self._rules.probe(exc)
                    except SteelHungError:
                        self.abandoned.add(body["sessionId"])  # no look-up of a hung server: settled at the end
                        raise
                delay = None if attempt.last else attempt.delay()
                if delay is None:
                    break
                yield Sleep(delay)
                attempt = next(attempts, None)
                continue
            if response.status_code < 400:
                return _with_ignored_fields(Session.from_wire(response.json()), body, response)
            error = self._rules.status_error(response, "POST", "/v1/sessions")
            if (plan_delay := plan.delay(response)) is not None:
                yield Sleep(plan_delay)  # refused before it acted: ask again, without spending a retry
                attempt = attempt.renewed()
                continue
            if response.status_code == 409:  # the id exists: an earlier attempt got through after all
                ambiguous = True
                if attempt.last:
                    break
                attempt = next(attempts, None)
                continue
            ambiguous = ambiguous or response.status_code >= 500 or response.status_code == 408
            delay = None if attempt.last or not should_retry(response) else attempt.delay(retry_after(response))
            if delay is None:
                break
            yield Sleep(delay)
            attempt = next(attempts, None)
        if ambiguous:
            found = yield from self._lookup(body["sessionId"])
            if found is not None and found.is_live:
                return found
            if found is None:
                yield from self._abandon(body["sessionId"])
        assert error is not None
        raise error

    def _quick(self, method: str, path: str) -> Send:
        """A look-up or clean-up request after a failure: bounded by one short wait, not the whole call's."""
        read = min(self._rules.read_timeout, LOOKUP_TIMEOUT)
        return Send(method, path, {"timeout": httpx.Timeout(read, connect=min(self._rules.connect_timeout, read))})

    def _lookup(self, session_id: str) -> Plan[Session | None]:
        """One GET for an id this client chose; None when it does not exist or the server cannot say."""
        try:
            response = yield self._quick("GET", f"/v1/sessions/{session_id}")
        except SteelConnectionError:
            return None
        return Session.from_wire(response.json()) if response.status_code == 200 else None

    def _abandon(self, session_id: str) -> Plan[None]:
        """Release an id a failed create may have brought to life; if that cannot be confirmed, remember it.

        A create can reach the server after the client gave up on it (a slow proxy, a
        queue): ``settle_abandoned`` looks again before the client is done with.
        """
        self.abandoned.add(session_id)
        try:
            response = yield self._quick("POST", f"/v1/sessions/{session_id}/release")
        except SteelConnectionError:
            return
        if response.status_code == 200:
            self.abandoned.discard(session_id)

    def settle_abandoned(self) -> Plan[list[str]]:
        """Release what came to life of the creates given up on; the ids released."""
        released = []
        for session_id in sorted(self.abandoned):
            found = yield from self._lookup(session_id)
            if found is not None and found.is_live:
                try:
                    response = yield self._quick("POST", f"/v1/sessions/{session_id}/release")
                except SteelConnectionError:
                    continue
                if response.status_code != 200:
                    continue
                released.append(session_id)
            self.abandoned.discard(session_id)
        return released


def _with_ignored_fields(session: Session, body: Mapping[str, Any], response: httpx.Response) -> Session:
    """The session, told which fields of its create the backend did not act on, as far as the answer shows."""
    ignored = ignored_fields(body, session.timeout, response.headers.get(IGNORED_FIELDS_HEADER, ""))
    return dataclasses.replace(session, ignored_fields=ignored) if ignored else session
