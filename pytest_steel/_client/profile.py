"""What each kind of backend does beside Steel's contract: the one home of every backend quirk.

Four kinds of server speak Steel's sessions API, and they differ:

- **Steel Cloud** records every session by itself (rrweb events), has the files API, and
  enforces its plan's limits on its own.
- **steel-local** (the embedded server, or one reached by base URL) records only when a
  create asks (``recordVideo``), has the files API, says in ``x-steel-ignored-fields``
  which create fields it took without acting on, and says "already released" when a
  release finds the session ended. Its health counts sessions (``maxSessions``).
- **steel-browser** (self-hosted) runs one session at a time, and a create silently
  replaces the live one; it strips ``timeout`` and ``inactivityTimeout`` (its sessions
  answer ``timeout: 0`` and live until released); it keys files by id at other paths,
  so it has no files API as Steel speaks it; it records nothing; its list has no
  paging fields and ignores the cursor; it may say ``idle``. Its health has no session
  counts: that, and a list without paging fields, is how it is recognised.
- **Any other Steel-compatible server**: nothing is assumed; what matters is asked once
  (the files API by one listing) or read from each answer (a ``timeout: 0``).

The run asks its ``BackendProfile`` (``BackendAccess.profile``); the client, which runs
without pytest and knows no profile, reads each answer with this module's rules
(``ignored_fields``, ``kept_timeout_ms``, ``release_says_already_ended``). A third
backend's quirk goes here: a field on the profile, its value for each kind, and the
module that acts on it asks the profile.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping
from typing import Any


class BackendKind(enum.Enum):
    STEEL_CLOUD = "Steel Cloud"
    STEEL_LOCAL = "steel-local"
    STEEL_BROWSER = "steel-browser"
    UNKNOWN = "Steel-compatible server"


@dataclasses.dataclass(frozen=True)
class BackendProfile:
    """What a backend ignores, lacks and says differently; ``None`` where only its answers can tell."""

    kind: BackendKind
    # Takes a session timeout, answers ``timeout: 0`` and keeps none; each create's answer also tells for
    # itself (``ignored_fields``, ``kept_timeout_ms``), which is what the run acts on, session by session.
    ignores_timeout: bool | None
    ignores_inactivity: bool | None  # drops ``inactivityTimeout``: a killed run's sessions meter on
    has_files_api: bool | None  # Steel's session files API (None: one listing of a session's files tells)
    # Records every session by itself (Steel Cloud's events): no ``recordVideo`` on create, and no video to
    # fetch. Otherwise the video is asked for and fetched, then Steel's events; a backend with neither
    # (steel-browser) answers 404 to both, and the test's report says it keeps none.
    records_unasked: bool
    one_session_at_a_time: bool  # a create replaces the live session: sessions must be serialised
    browsers_here: bool = False  # its browsers run on this machine and share its disk (the embedded server)
    detected: bool = True  # False: taken from the configuration alone, before any answer (a server by URL)

    @property
    def name(self) -> str:
        """The backend as messages name it: ``Steel Cloud``, ``steel-local``, ``steel-browser``."""
        return self.kind.value

    @property
    def max_sessions(self) -> int | None:
        """How many sessions it runs at once when the client must keep to it; None: it enforces its own limit."""
        return 1 if self.one_session_at_a_time else None

    def learned(self, **facts: Any) -> BackendProfile:
        """This profile with what an answer showed (``has_files_api=False``)."""
        return dataclasses.replace(self, **facts)


STEEL_CLOUD = BackendProfile(
    BackendKind.STEEL_CLOUD,
    ignores_timeout=False,
    ignores_inactivity=False,
    has_files_api=True,
    records_unasked=True,
    one_session_at_a_time=False,
)
STEEL_LOCAL = BackendProfile(
    BackendKind.STEEL_LOCAL,
    ignores_timeout=False,
    ignores_inactivity=False,
    has_files_api=None,  # one reached by URL may be of another release: a listing tells
    records_unasked=False,
    one_session_at_a_time=False,
)
EMBEDDED = dataclasses.replace(STEEL_LOCAL, has_files_api=True, browsers_here=True)  # this package's own
STEEL_BROWSER = BackendProfile(
    BackendKind.STEEL_BROWSER,
    ignores_timeout=True,
    ignores_inactivity=True,
    has_files_api=False,
    records_unasked=False,
    one_session_at_a_time=True,
)
UNKNOWN = BackendProfile(
    BackendKind.UNKNOWN,
    ignores_timeout=None,
    ignores_inactivity=None,
    has_files_api=None,
    records_unasked=False,
    one_session_at_a_time=False,
)
UNDETECTED = dataclasses.replace(UNKNOWN, detected=False)  # a server by base URL, before its first answers


def configured(kind: str) -> BackendProfile:
    """The profile the configuration alone gives: ``cloud``, ``embedded``, or a ``server`` not asked yet."""
    return {"cloud": STEEL_CLOUD, "embedded": EMBEDDED}.get(kind, UNDETECTED)


def detect(health: Mapping[str, Any], list_has_paging_fields: Callable[[], bool]) -> BackendProfile:
    """A server by base URL, from its health and, if that does not tell, one page of its live sessions.

    steel-local's health counts sessions; steel-browser's does not, and its list has none
    of Steel's paging fields. Any other server is taken as it comes.
    """
    if "maxSessions" in health:
        return STEEL_LOCAL
    if not list_has_paging_fields():
        return STEEL_BROWSER
    return UNKNOWN


# -- rules for reading any backend's answers (the client's, which knows no profile) --------------------------


def ignored_fields(body: Mapping[str, Any], answered_timeout: Any, said: str) -> tuple[str, ...]:
    """The create fields a backend took without acting on, as far as its answer shows.

    ``said``: steel-local's ``x-steel-ignored-fields`` header; a ``timeout`` asked for and
    answered as 0 is steel-browser's, which strips it.
    """
    ignored = [name.strip() for name in said.split(",") if name.strip()]
    if body.get("timeout") and not answered_timeout:
        ignored.insert(0, "timeout")
    return tuple(ignored)


def kept_timeout_ms(timeout: int | None) -> int | None:
    """A session's timeout as its backend keeps it; None when it keeps none (steel-browser answers 0)."""
    return timeout or None


def release_says_already_ended(message: str | None) -> bool:
    """Whether a release's answer says the session had ended before it (steel-local: "was already released")."""
    return message is not None and " already " in f" {message.lower()} "


# What it means that the backend ignored a create field; fields not named here are Steel Cloud features.
IGNORED_MEANS = {
    "timeout": "its sessions report timeout 0 and live until released, whatever --steel-timeout or a marker asks",
}


def ignored_meaning(field: str) -> str:
    return IGNORED_MEANS.get(field, f"a {STEEL_CLOUD.name} feature this backend does not have")


# Said wherever the files API is found missing: which backends have it, and why one does not.
FILES_API_SPEAKERS = f"{STEEL_CLOUD.name} and {STEEL_LOCAL.name}"
NO_FILES_API_WHY = f"a self-hosted {STEEL_BROWSER.name} keys files by id"
