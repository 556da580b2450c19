"""One test run's view of Steel: the client, the sessions it created, and the end-of-run safety net.

Every session the run creates, through a fixture or through ``steel_client``, is
tracked until it is released, so that none is left metering: teardown releases
fixture sessions, and ``finish`` releases whatever a test left live, then calls
release-all (on the controller only, once every worker has finished).
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ._backend import Broker, EmbeddedServer, SessionSlots, SlotUnavailable, ask_broker
from ._errors import (
    SteelAuthenticationError,
    SteelBackendUnavailable,
    SteelConnectionError,
    SteelError,
    SteelNotFoundError,
    SteelReleaseWarning,
)
from ._models import Session, wire_fields
from ._redaction import redact
from ._report import SessionRecord, created_line, ended_line
from ._settings import Backend, Settings
from ._stash import CURRENT_ITEM_KEY, ITEM_SESSIONS_KEY, WORKER_BROKER_KEY, WORKER_SLOTS_KEY
from ._wire import SessionStatus

if TYPE_CHECKING:
    from ._client import SteelClient


@dataclass
class TrackedSession:
    """A session this process created and has not seen end, with what the fixtures know about it."""

    session: Session
    node: pytest.Item | pytest.Collector | None
    record: SessionRecord
    started: float = field(default_factory=time.monotonic)
    created_by_fixture: bool = False
    tracing: bool = False  # its context records a Playwright trace (in chunks, one per test)
    disconnected: bool = False  # its browser connection dropped while the fixtures still held it
    closing: bool = False  # the fixtures are disconnecting on purpose
    ended: Session | None = None  # the final state, once known
    ended_on_its_own: bool = False  # crashed, timed out, or released by someone else
    reported: bool = False  # a test report already says so

    @property
    def id(self) -> str:
        return self.session.id


def note_session(item: pytest.Item, tracked: TrackedSession) -> None:
    used = item.stash.setdefault(ITEM_SESSIONS_KEY, [])
    if tracked not in used:
        used.append(tracked)


@dataclass
class _Concurrency:
    limit: int | None
    reason: str


@dataclass
class SteelRun:
    config: pytest.Config
    settings: Settings
    _client: SteelClient | None = None
    _embedded: EmbeddedServer | None = None
    _broker: Broker | None = None
    _slots: SessionSlots | None = None
    _slots_dir: str | None = None
    _own_slots_dir: bool = False
    _concurrency: _Concurrency | None = None
    _unavailable: SteelError | None = None
    _creating_for: list[Any] = field(default_factory=list)
    live: dict[str, TrackedSession] = field(default_factory=dict)
    workers_used_steel: bool = False  # reported by xdist workers as they finish
    _finished: bool = False
    _sweeping: bool = False  # releasing what tests left live, at the end of the run
    summary_lines: list[str] = field(default_factory=list)
    records: dict[str, SessionRecord] = field(default_factory=dict)  # every session this process created
    caught_by_release_all: int = 0
    events: list[str] = field(default_factory=list)  # progress lines not yet attached to a report

    @property
    def is_worker(self) -> bool:
        return hasattr(self.config, "workerinput")

    @property
    def used_steel(self) -> bool:
        return self._client is not None

    def redact(self, text: str) -> str:
        """``text`` without the API key, for anything shown that came from elsewhere."""
        return redact(text, self.settings.api_key.value)

    # -- the client -----------------------------------------------------------

    def client(self) -> SteelClient:
        """The run's client; the embedded server starts here, on first need."""
        if self._unavailable is not None:
            raise SteelBackendUnavailable(
                "the Steel backend is unavailable; see the first error of this run, and the pytest-steel summary"
            )
        if self._client is None:
            try:
                base_url = self._base_url()
            except SteelError as exc:
                self._mark_unavailable(exc)
                raise
            from ._client import SteelClient  # httpx loads only when a test needs Steel

            settings = self.settings
            self._client = SteelClient(
                base_url,
                settings.api_key.value if settings.backend.value is not Backend.EMBEDDED else None,
                api_key_source="--steel-api-key or STEEL_API_KEY",
            )
            self._client._on_created.append(self._track_created)
            self._client._on_released.append(self._track_released)
        return self._client

    def _base_url(self) -> str:
        settings = self.settings
        if settings.server_url is not None:
            return settings.server_url
        workerinput = getattr(self.config, "workerinput", {})
        if WORKER_BROKER_KEY in workerinput:
            return ask_broker(workerinput[WORKER_BROKER_KEY])
        return self.embedded_server().url()

    def warm_up(self) -> None:
        """Start the embedded server in the background while the first test sets up, when tests will need it.

        Under xdist a worker asks the controller, which starts it. A failure here is
        kept (or recurs) and reported by the first test that needs a session.
        """
        if self.settings.backend.value is not Backend.EMBEDDED:
            return
        workerinput = getattr(self.config, "workerinput", {})
        if WORKER_BROKER_KEY in workerinput:
            start: Callable[[], object] = functools.partial(ask_broker, workerinput[WORKER_BROKER_KEY])
        else:
            start = self.embedded_server().url

        def quietly() -> None:
            with contextlib.suppress(Exception):
                start()

        threading.Thread(target=quietly, name="pytest-steel warm-up", daemon=True).start()

    def embedded_server(self) -> EmbeddedServer:
        if self._embedded is None:
            self._embedded = EmbeddedServer(
                chromium=self.settings.chromium.value,
                max_sessions=self.settings.max_sessions.value,
                pool_size=self.settings.pool_size.value,
            )
        return self._embedded

    def broker_address(self) -> str:
        """For xdist: the controller shares one embedded server with every worker."""
        if self._broker is None:
            self._broker = Broker(self.embedded_server())
        return self._broker.address

    def slots_dir(self) -> str:
        if self._slots_dir is None:
            workerinput = getattr(self.config, "workerinput", {})
            if WORKER_SLOTS_KEY in workerinput:
                self._slots_dir = workerinput[WORKER_SLOTS_KEY]
            else:
                self._slots_dir = tempfile.mkdtemp(prefix="pytest-steel-slots-")
                self._own_slots_dir = True
        return self._slots_dir

    def _mark_unavailable(self, exc: SteelError) -> None:
        if self._unavailable is None:
            self._unavailable = exc
            self.summary_lines.append(f"the Steel backend was unavailable, so tests needing a session errored: {exc}")

    # -- concurrency ----------------------------------------------------------

    def _limit(self, client: SteelClient) -> _Concurrency:
        """How many sessions the server runs at once: configured, or detected for steel-browser."""
        if self._concurrency is None:
            configured = self.settings.max_sessions
            if configured.value is not None:
                self._concurrency = _Concurrency(configured.value, configured.source)
            elif self.settings.backend.value is Backend.SERVER and _runs_one_session(client):
                self._concurrency = _Concurrency(1, "detected: a steel-browser server runs one session at a time")
                self.summary_lines.append(
                    "the server runs one session at a time (detected), so sessions were serialised across "
                    "workers; set --steel-max-sessions to override"
                )
            else:
                self._concurrency = _Concurrency(None, "the server enforces its own limit")
            if self._concurrency.limit is not None:
                self._slots = SessionSlots(Path(self.slots_dir()), client.base_url, self._concurrency.limit)
        return self._concurrency

    # -- sessions -------------------------------------------------------------

    def create(self, params: dict[str, Any], node: pytest.Item | pytest.Collector) -> TrackedSession:
        """Create a session for a fixture, within the server's concurrency, and tell the hooks."""
        client = self.client()
        params = wire_fields(params)
        self.config.hook.pytest_steel_session_params(params=params, node=node, config=self.config)
        params = wire_fields(params)
        timeout = params.pop("timeout", None)
        session_id = str(params.setdefault("sessionId", _new_id()))
        limit = self._limit(client)
        if self._slots is not None:
            try:
                self._slots.acquire(session_id, wait=max(60.0, (timeout or 300_000) / 1000))
            except SlotUnavailable as exc:
                holders = ", ".join(self._slots.holders) or "other processes"
                raise SteelError(
                    f"{node.nodeid or node.name} needs a session, but the server runs at most {limit.limit} at once "
                    f"({limit.reason}) and {exc} (live: {holders}). Use one session per test, or raise "
                    "--steel-max-sessions if the server allows more."
                ) from None
        self._creating_for.append(node)
        try:
            session = client.create(timeout=timeout, **params)
        except SteelError as exc:
            if self._slots is not None:
                self._slots.release(session_id)
            if isinstance(exc, (SteelConnectionError, SteelAuthenticationError)):
                self._mark_unavailable(exc)
            raise
        finally:
            self._creating_for.pop()
        tracked = self.live[session.id]
        tracked.created_by_fixture = True
        return tracked

    def _track_created(self, session: Session, elapsed: float) -> None:
        node = self._creating_for[-1] if self._creating_for else self.config.stash.get(CURRENT_ITEM_KEY, None)
        owner = (node.nodeid or node.name) if node is not None else "the run"
        record = SessionRecord(session.id, owner, create_ms=elapsed * 1000)
        self.records[session.id] = record
        self.events.append(created_line(record))
        tracked = TrackedSession(session, node, record)
        self.live[session.id] = tracked
        if isinstance(node, pytest.Item):
            note_session(node, tracked)
        self.config.hook.pytest_steel_session_created(session=session, node=node, config=self.config)

    def _track_released(self, snapshot: Session) -> None:
        tracked = self.live.get(snapshot.id)
        if tracked is not None:
            self._forget(tracked, tracked.ended or snapshot)
        elif self._slots is not None:
            self._slots.release(snapshot.id)

    def _ended(self, tracked: TrackedSession, final: Session) -> None:
        tracked.ended = final
        record = tracked.record
        server_says = final.duration if isinstance(final.duration, int) and final.duration > 0 else None
        record.lifetime_ms = server_says or (time.monotonic() - tracked.started) * 1000
        record.state = final.describe_state()
        if final.status == SessionStatus.FAILED:
            record.end = "failed"
        elif final.release_reason in ("timeout", "inactivity_timeout"):
            record.end = "timeout"
        else:
            record.end = "safety-net" if self._sweeping else "released"
        self.events.append(ended_line(record))
        self.config.hook.pytest_steel_session_ended(session=final, node=tracked.node, config=self.config)

    def check(self, tracked: TrackedSession) -> Session | None:
        """The session's current state from the backend, or None if it cannot be had."""
        if tracked.ended is not None:
            return tracked.ended
        try:
            current = self.client().retrieve(tracked.id)
        except SteelError:
            return None
        if not current.is_live:
            tracked.ended = current
            tracked.ended_on_its_own = True
        return current

    def release(self, tracked: TrackedSession) -> None:
        """Release a fixture's session; raise only if it may still be live (and metering)."""
        if tracked.id not in self.live:
            return
        # One GET first: a session that ended on its own (crash, timeout) needs no release, and its test
        # must hear why. Cheaper than guessing from Playwright's events, which may not have arrived yet.
        final = self.check(tracked)
        if final is not None and not final.is_live:
            self._forget(tracked, final)  # it ended on its own (crash, timeout): nothing to release
            return
        try:
            self.client().release(tracked.id)
        except SteelNotFoundError:
            self._forget(tracked, Session(id=tracked.id, status=SessionStatus.RELEASED))
        except SteelError as exc:
            current = self.check(tracked)
            tracked.ended_on_its_own = False  # our release may well have ended it: not the test's concern
            if current is not None and not current.is_live:
                self._forget(tracked, current)
                warnings.warn(
                    SteelReleaseWarning(
                        f"releasing Steel session {tracked.id} failed, but it is {current.describe_state()}: {exc}"
                    ),
                    stacklevel=2,
                )
                return
            raise SteelError(
                f"could not release Steel session {tracked.id}; it may still be live, and metering, "
                f"until its timeout: {exc}"
            ) from None

    def _forget(self, tracked: TrackedSession, final: Session) -> None:
        self.live.pop(tracked.id, None)
        if self._slots is not None:
            self._slots.release(tracked.id)
        self._ended(tracked, final)

    # -- end of run -----------------------------------------------------------

    def finish(self) -> None:
        """Release what tests left live, then release-all on the controller, then stop the embedded server."""
        if self._finished:
            return
        self._finished = True
        try:
            self._release_leftovers()
            if self.settings.release_all.value and not self.is_worker:
                self._release_all()
        finally:
            if self._broker is not None:
                self._broker.close()
            if self._embedded is not None:
                self._embedded.stop()
            if self._client is not None:
                self._client.close()
            if self._own_slots_dir and self._slots_dir:
                shutil.rmtree(self._slots_dir, ignore_errors=True)

    def take_events(self) -> list[str]:
        events, self.events = self.events, []
        return events

    def _release_leftovers(self) -> None:
        self._sweeping = True
        for tracked in list(self.live.values()):
            owner = tracked.record.owner
            try:
                self.release(tracked)
            except SteelError as exc:
                tracked.record.end = "unreleased"
                self.summary_lines.append(f"session {tracked.id} created by {owner} could not be released: {exc}")
                continue
            if not tracked.created_by_fixture:
                self.summary_lines.append(f"released session {tracked.id}, which {owner} created and left live")

    def _release_all(self) -> None:
        if self._client is None and not self.workers_used_steel:
            return  # nothing in this run touched Steel: leave the backend alone
        if self._unavailable is not None:
            return  # said once already
        if self.settings.backend.value is Backend.EMBEDDED and not (self._embedded and self._embedded.started):
            return  # an embedded server that never started has nothing to release
        try:
            client = self.client()
            leaked = [s.id for s in client.list(status=SessionStatus.LIVE) if s.is_live]  # steel-browser: all
            if leaked:
                client.release_all()
                self.caught_by_release_all += len(leaked)
                noun = "session" if len(leaked) == 1 else "sessions"
                self.summary_lines.append(f"release-all released {len(leaked)} live {noun}: {', '.join(leaked)}")
        except SteelError as exc:
            self.summary_lines.append(f"release-all failed: {exc}")


def _runs_one_session(client: SteelClient) -> bool:
    """A self-hosted steel-browser: its health has no session counts and its list no ``totalCount``."""
    try:
        health = client.health()
        if "maxSessions" in health:
            return False
        body = client._request("GET", "/v1/sessions", params={"status": "live", "limit": 1}).json()
    except SteelError:
        return False
    return "totalCount" not in body and "nextCursor" not in body


def _new_id() -> str:
    return str(uuid.uuid4())
