"""The run's sessions: every one this process creates is tracked until it ends, and none is left metering.

Sessions made by fixtures are released at their teardown; sessions a test made
through ``steel_client`` are attributed to it (through the client's ``created``
hook) and released by ``sweep`` at the end of the run, which then calls release-all
on the controller as the safety net.
"""

from __future__ import annotations

import uuid
import warnings
from typing import TYPE_CHECKING, Any, Protocol

import pytest

from .._client.errors import (
    SteelError,
    SteelNotFoundError,
    SteelReleaseWarning,
    SteelTimeoutError,
)
from .._client.models import Session, wire_fields
from .._client.wire import INACTIVITY_FIELD, SessionStatus
from .._config.stash import CURRENT_ITEM_KEY
from .lifecycle import ITEM_SESSIONS_KEY, LOST_WITH_BACKEND, TrackedSession
from .slots import made_ahead

if TYPE_CHECKING:
    from .backend import BackendAccess

Node = pytest.Item | pytest.Collector


class SessionEvents(Protocol):
    """What the tracker tells as sessions change, and reads back: ``_reporting.report.RunReport`` listens.

    Named here, so that the layer below reporting never imports it.
    """

    records: dict[str, Any]  # session id -> its record, for every session this run made
    caught_by_release_all: int
    workers_used_steel: bool

    def note(self, line: str) -> None: ...

    def created(self, tracked: TrackedSession, elapsed_s: float) -> None: ...

    def backend_ignored(self, tracked: TrackedSession) -> None: ...

    def ended(self, tracked: TrackedSession, end: str) -> None: ...

    def unreleased(self, tracked: TrackedSession, why: str) -> None: ...

    def released_by_release_all(self, session_ids: list[str]) -> int: ...


def note_use(item: pytest.Item, tracked: TrackedSession) -> None:
    """The test used this session: its report will name it."""
    used = item.stash.setdefault(ITEM_SESSIONS_KEY, [])
    if tracked not in used:
        used.append(tracked)


class SessionTracker:
    """Creates, checks and releases the run's sessions; tells the hooks and the report as they change."""

    def __init__(self, config: pytest.Config, backend: BackendAccess, report: SessionEvents) -> None:
        self.config = config
        self.backend = backend
        self.report = report
        self.live: dict[str, TrackedSession] = {}
        self._creating_for: list[tuple[Node, str]] = []  # the node a create is under way for, and its name
        self._sweeping = False
        backend.event_hooks["created"].append(self._created)
        backend.event_hooks["released"].append(self._released)

    def create(
        self, params: dict[str, Any], node: Node, owner: str | None = None, *, resolved: bool = False
    ) -> TrackedSession:
        """Create a session for a fixture, within the server's concurrency, and tell the hooks.

        ``owner`` names it in reports when the node's id would not (a session-wide fixture's).
        """
        self.backend.health.probe()  # a condemned backend gets one quick chance to show it is back
        client = self.backend.client()
        params = dict(params) if resolved else self.resolve(params, node)
        timeout = params.pop("timeout", None)
        session_id = str(params.setdefault("sessionId", str(uuid.uuid4())))
        owner = owner or node.nodeid or node.name
        try:
            limit = self.backend.limit()
        except SteelError as exc:  # finding the limit asked a backend that did not answer
            self.backend.health.failed(exc)
            raise
        limit.reserve(session_id, owner, timeout)
        self._creating_for.append((node, owner))
        try:
            wait = self.backend.settings.plan_wait_ms.value / 1000
            session = client.create(timeout=timeout, rate_limit_wait=wait, **params)
        except SteelError as exc:
            self._free(session_id)
            self.backend.health.failed(exc)
            raise
        finally:
            self._creating_for.pop()
        self.backend.health.answered()
        tracked = self.live[session.id]
        tracked.by_fixture = True
        return tracked

    def resolve(self, params: dict[str, Any], node: Node) -> dict[str, Any]:
        """The create fields as they go on the wire: camelCase, after the ``pytest_steel_session_params`` hook."""
        params = wire_fields(params)
        inactivity = self.backend.settings.inactivity.value
        if inactivity is not None:  # a killed run's sessions stop metering (a backend that ignores it loses nothing)
            params.setdefault(INACTIVITY_FIELD, inactivity)
        self.config.hook.pytest_steel_session_params(params=params, node=node, config=self.config)
        return wire_fields(params)

    def adopt(
        self, session: Session, node: Node | None, owner: str, elapsed_s: float, started: float
    ) -> TrackedSession:
        """A session created elsewhere (ahead of need, by the prefetcher) becomes this node's, and is reported."""
        self._creating_for.append((node, owner))  # type: ignore[arg-type]
        try:
            self._created(session, elapsed_s)
        finally:
            self._creating_for.pop()
        tracked = self.live[session.id]
        tracked.started = started
        tracked.by_fixture = True
        return tracked

    def _free(self, session_id: str) -> None:
        limit = self.backend.known_limit  # never detect the limit just to free a slot nobody took
        if limit is not None:
            limit.free(session_id)

    def _created(self, session: Session, elapsed_s: float) -> None:
        node: pytest.Item | pytest.Collector | None
        if self._creating_for:
            node, owner = self._creating_for[-1]
        else:
            node = self.config.stash.get(CURRENT_ITEM_KEY, None)
            owner = (node.nodeid or node.name) if node is not None else "the run"
        tracked = TrackedSession(session, node, owner)
        self.live[session.id] = tracked
        self.report.created(tracked, elapsed_s)
        if session.ignored_fields:
            self.report.backend_ignored(tracked)
        if isinstance(node, pytest.Item):
            note_use(node, tracked)
        self.config.hook.pytest_steel_session_created(session=session, node=node, config=self.config)

    def _released(self, snapshot: Session) -> None:
        tracked = self.live.get(snapshot.id)
        if tracked is not None:
            self._ended(tracked, tracked.final or snapshot, on_its_own=False)
        else:
            self._free(snapshot.id)

    def _ended(self, tracked: TrackedSession, final: Session, *, on_its_own: bool) -> None:
        """Forget a session that is over: free its slot, record how it ended, tell the hooks."""
        tracked.end(final, on_its_own=on_its_own)
        self.live.pop(tracked.id, None)
        self._free(tracked.id)
        final = tracked.final or final
        if final.status == SessionStatus.FAILED:
            end = "failed"
        elif final.release_reason in ("timeout", "inactivity_timeout"):
            end = "timeout"
        else:
            end = "safety-net" if self._sweeping else "released"
        self.report.ended(tracked, end)
        self.config.hook.pytest_steel_session_ended(session=final, node=tracked.node, config=self.config)

    def check(self, tracked: TrackedSession) -> Session | None:
        """The session's current state from the backend, or None if it cannot be had."""
        if tracked.final is not None:
            return tracked.final
        try:
            current = self.backend.client().retrieve(tracked.id)
        except SteelError as exc:
            self.backend.health.failed(exc)
            return None
        self.backend.health.answered()
        if not current.is_live:
            tracked.end(current, on_its_own=True)
        return current

    def lost_with_backend(self, tracked: TrackedSession) -> bool:
        """If the backend has stopped answering, count the session as lost with it (failed); whether it was."""
        why = self.backend.health.why_unavailable()
        if why is None or tracked.id not in self.live:
            return False
        final = Session(id=tracked.id, status=SessionStatus.FAILED, release_reason=LOST_WITH_BACKEND)
        self._ended(tracked, final, on_its_own=True)
        self.report.note(f"session {tracked.id} of {tracked.owner} was lost with its backend: {why}")
        return True

    def release(self, tracked: TrackedSession) -> None:
        """Release a fixture's session; raise only if it may still be live (and metering)."""
        if tracked.id not in self.live:
            return
        if self.lost_with_backend(tracked):
            return  # asking a backend known gone would only cost time
        # A look-up first only when something says the session may have ended on its own (its connection
        # dropped, its timeout passed): then it needs no release, and its test must hear why. Otherwise the
        # release's own answer tells, so a fresh session costs two requests, create and release.
        if tracked.may_have_ended():
            final = self.check(tracked)
            if final is not None and not final.is_live:
                self._ended(tracked, final, on_its_own=True)
                return
            if final is None and self.lost_with_backend(tracked):
                return  # the check found the backend gone
        try:
            answer = self.backend.client().release(
                tracked.id, call_timeout=self.backend.health.release_timeout(), rate_limit_wait=tracked.seconds_left()
            )
        except SteelNotFoundError:
            self._ended(tracked, Session(id=tracked.id, status=SessionStatus.RELEASED), on_its_own=False)
        except SteelError as exc:
            self.backend.health.failed(exc)
            self.backend.health.release_answered(not isinstance(exc, SteelTimeoutError))
            if self.lost_with_backend(tracked):
                return
            current = self.check(tracked)
            tracked.released_anyway()  # our release may well have ended it: not the test's concern
            if current is not None and not current.is_live:
                self._ended(tracked, current, on_its_own=False)
                warnings.warn(
                    SteelReleaseWarning(
                        f"releasing Steel session {tracked.id} failed, but it is {current.describe_state()}: {exc}"
                    ),
                    stacklevel=2,
                )
                return
            # Reported as such, and its slot freed: the server's own limit still holds if it lives on.
            self.live.pop(tracked.id, None)
            self._free(tracked.id)
            tracked.could_not_release()
            self.report.unreleased(tracked, self.backend.redact(str(exc)))
            raise SteelError(
                f"could not release Steel session {tracked.id}; it may still be live, and metering, "
                f"until its timeout: {exc}"
            ) from None
        else:
            self.backend.health.answered()
            self.backend.health.release_answered(True)
            if answer.already_ended:  # it had ended on its own before our release: its test hears why
                final = self.check(tracked)
                if final is not None and not final.is_live and tracked.id in self.live:
                    self._ended(tracked, final, on_its_own=True)

    def for_node(self, *nodes: Node) -> list[TrackedSession]:
        """The live sessions made for any of these nodes (a test, its module)."""
        return [t for t in list(self.live.values()) if any(t.node is n for n in nodes)]

    def sweep(self, safety_net: str) -> None:
        """End of run: release what tests left live, then (on the controller) the safety net.

        ``safety_net``: ``all`` releases every live session the key reaches (Steel's release-all),
        ``own`` only the live ones this run created (another run's stay live), ``off`` nothing.
        """
        self._sweeping = True
        for tracked in list(self.live.values()):
            try:
                self.release(tracked)
            except SteelError:
                continue  # reported as unreleased by release()
            if not tracked.by_fixture:
                self.report.note(f"released session {tracked.id}, which {tracked.owner} created and left live")
        self._settle_abandoned()
        if safety_net != "off":
            self._release_all(everything=safety_net == "all")

    def _settle_abandoned(self) -> None:
        """Creates the client gave up on may have reached the server since: release what came to life."""
        if not self.backend.used or not self.backend.health.probe():
            return
        client = self.backend.client()
        if not client.abandoned:
            return
        try:
            released = client.settle_abandoned()
        except SteelError as exc:
            released = []
            self.backend.health.failed(exc)
        for session_id in released:
            self.report.note(f"released session {session_id}: its create had been given up on, and came to life later")
        for session_id in sorted(client.abandoned):
            self.report.note(
                f"could not confirm that session {session_id}, whose create was given up on, never started"
            )

    def _release_all(self, everything: bool) -> None:
        backend = self.backend
        if not backend.used and not self.report.workers_used_steel:
            return  # nothing in this run touched Steel: leave the backend alone
        if not backend.health.probe():
            return  # condemned, and still not answering: said once already
        if backend.settings.is_embedded and not backend.embedded_started:
            return  # an embedded server that never started has nothing to release
        try:
            client = backend.client()
            # is_live: a server may list every session whatever the status asked for
            leaked = [s.id for s in client.list(status=SessionStatus.LIVE) if s.is_live]
            if not everything:  # this run's own: another run's sessions on the same key stay live
                # (and those a killed worker made ahead of its tests, which no report named)
                ahead = made_ahead(backend.shared_folder())
                leaked = [sid for sid in leaked if sid in self.report.records or sid in ahead]
                for session_id in leaked:
                    client.release(session_id)
            elif leaked:
                client.release_all()
            if leaked:
                self.report.caught_by_release_all += self.report.released_by_release_all(leaked)
                noun = "session" if len(leaked) == 1 else "sessions"
                what = "release-all released" if everything else "the safety net released this run's"
                self.report.note(f"{what} {len(leaked)} live {noun}: {', '.join(leaked)}")
        except SteelError as exc:
            self.report.note(f"release-all failed: {exc}")
