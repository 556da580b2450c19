"""Which sessions the local server knows, newest first, and how long the ended ones are remembered."""

from __future__ import annotations

import collections
import itertools
from collections.abc import Iterable
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from ._http_errors import InvalidRequest, SessionConflict, SessionNotFound
from ._session_params import ListQuery, canonical_uuid

if TYPE_CHECKING:
    from .._client.wire import SessionStatus

RELEASED_EARLY_KEPT = 10_000  # ids remembered as released before their create


class _Known(Protocol):
    id: str
    seq: int
    status: SessionStatus

    @property
    def is_live(self) -> bool: ...


S = TypeVar("S", bound=_Known)


class SessionRegistry(Generic[S]):
    """The sessions by id, in creation order; the ended ones kept up to ``history``, then dropped."""

    def __init__(self, history: int) -> None:
        self._history = history
        self._sessions: collections.OrderedDict[str, S] = collections.OrderedDict()
        self._seq = itertools.count(1)
        # Ids released before any create for them arrived: a client that gave up on a create released its id,
        # and the create, delayed on the way, must not bring it to life afterwards.
        self._released_early: collections.OrderedDict[str, None] = collections.OrderedDict()

    @property
    def live_count(self) -> int:
        return sum(1 for s in self._sessions.values() if s.is_live)

    def next_seq(self) -> int:
        return next(self._seq)

    def check_new(self, session_id: str) -> None:
        """A create may use this id: it is neither known nor released before its create arrived."""
        if session_id in self._sessions:
            raise SessionConflict(f"a session with id {session_id} already exists")
        if session_id in self._released_early:
            raise SessionConflict(f"session id {session_id} was released before this create arrived")

    def add(self, session: S) -> None:
        self._sessions[session.id] = session

    def get(self, session_id: str) -> S:
        key = canonical_uuid(session_id)
        session = self._sessions.get(key) if key else None
        if session is None:
            raise SessionNotFound(f"no session with id {session_id!r}")
        return session

    def release_unknown(self, session_id: str) -> None:
        """A release for an id no create has brought yet: a create for it that arrives later is refused (409)."""
        key = canonical_uuid(session_id)
        if key is not None:
            self._released_early[key] = None
            while len(self._released_early) > RELEASED_EARLY_KEPT:
                self._released_early.popitem(last=False)

    def newest_first(self) -> list[S]:
        return list(reversed(self._sessions.values()))

    def live(self) -> list[S]:
        return [s for s in self._sessions.values() if s.is_live]

    def list_page(self, query: ListQuery) -> tuple[list[S], str | None, int | None]:
        """Newest first; ``cursorId`` is the last id of the previous page, as the SDKs send it."""
        newest_first: Iterable[S] = reversed(self._sessions.values())
        matching = [s for s in newest_first if query.status is None or s.status is query.status]
        after = matching
        if query.cursor_id:
            key = canonical_uuid(query.cursor_id)
            cursor = self._sessions.get(key) if key else None
            if cursor is None:
                raise InvalidRequest(f"cursorId {query.cursor_id!r} names no known session", "cursorId")
            after = [s for s in matching if s.seq < cursor.seq]
        page = after[: query.limit]
        next_cursor = page[-1].id if len(after) > len(page) else None
        total = len(matching) if query.status is not None else None
        return page, next_cursor, total

    def trim(self) -> list[S]:
        """Forget the oldest ended sessions beyond ``history``; the ones forgotten."""
        ended = [sid for sid, s in self._sessions.items() if not s.is_live]
        return [self._sessions.pop(sid) for sid in ended[: max(0, len(ended) - self._history)]]
