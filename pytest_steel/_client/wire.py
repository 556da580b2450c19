"""The Steel sessions wire contract: names and limits shared by the client and the local server.

Kept in one place so that the server's validation and the plugin's option checks
can never disagree about, say, the longest timeout Steel accepts.
"""

from __future__ import annotations

import enum
import urllib.parse

STEEL_CLOUD_URL = "https://api.steel.dev"
API_KEY_HEADER = "steel-api-key"
API_KEY_QUERY = "apiKey"
SHOULD_RETRY_HEADER = "x-should-retry"
# steel-local's own: the create fields of the request that the server accepted but does not act on.
IGNORED_FIELDS_HEADER = "x-steel-ignored-fields"
RECORD_VIDEO_FIELD = "recordVideo"  # steel-local's create field; Steel Cloud records every session unasked
INACTIVITY_FIELD = "inactivityTimeout"  # Steel's: ms without a CDP command or input before the session is released
NEXT_CURSOR_HEADER = "Next-Cursor"  # the events endpoint's paging: the next page's ``pointer``

DEFAULT_TIMEOUT_MS = 300_000
MIN_TIMEOUT_MS = 1
MAX_TIMEOUT_MS = 86_400_000

DEFAULT_DIMENSIONS = {"width": 1280, "height": 800}
MAX_DIMENSION = 16_384

DEFAULT_LIST_LIMIT = 50
MAX_LIST_LIMIT = 100


class SessionStatus(str, enum.Enum):
    """The three states of a Steel session."""

    LIVE = "live"
    RELEASED = "released"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


class ReleaseReason(str, enum.Enum):
    """Why a session stopped being live (`releaseReason` on the wire)."""

    USER_REQUESTED = "user_requested"
    TIMEOUT = "timeout"
    INACTIVITY_TIMEOUT = "inactivity_timeout"
    CREATION_TIMEOUT = "creation_timeout"
    STARTUP_FAILED = "startup_failed"
    BROWSER_CLOSED = "browser_closed"
    BROWSER_CRASHED = "browser_crashed"

    def __str__(self) -> str:
        return self.value


def normalize_base_url(url: str) -> str:
    """``http://host:3000/``, ``http://host:3000/v1`` and ``http://host:3000`` all mean the same server.

    Paths carry ``/v1``, so a base URL that ends in it would produce ``/v1/v1``.
    """
    url = url.strip()
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"{url!r} is not an http:// or https:// URL (for example http://localhost:3000)")
    path = parsed.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[: -len("/v1")]
    return urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, path, "", ""))
