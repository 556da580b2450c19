"""The Steel sessions wire contract: names and limits shared by the client and the local server.

Kept in one place so that the server's validation and the plugin's option checks
can never disagree about, say, the longest timeout Steel accepts.
"""

from __future__ import annotations

import enum

API_KEY_HEADER = "steel-api-key"
API_KEY_QUERY = "apiKey"
SHOULD_RETRY_HEADER = "x-should-retry"

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
