"""Every bounded value's range and parser, named once for the plugin's options, ``steel-local`` and the client.

Stdlib only: the local server and the plugin's start-up both import it. Each parser
raises ``ValueError`` with the valid range in words, so that a usage error can name
the option, the bad value and what would have been accepted, the same way everywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .wire import MAX_TIMEOUT_MS, MIN_TIMEOUT_MS

API_KEY_ENV = "STEEL_API_KEY"
SECRET_ENV = frozenset({API_KEY_ENV})  # never passed on to a browser or a helper process
BASE_URL_ENV = "STEEL_BASE_URL"
CHROMIUM_ENV = "STEEL_CHROMIUM"  # the browser binary for the embedded server
FFMPEG_ENV = "STEEL_FFMPEG"  # the encoder of the embedded server's recordings
PLAYWRIGHT_ENV = "STEEL_PLAYWRIGHT"  # pytest-playwright's fixtures on Steel sessions

TIMEOUT_RANGE = "a positive duration of at most 24 h: milliseconds (300000) or 30s, 10m, 1h (1 to 86400000 ms)"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$", re.IGNORECASE)
_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000}


def parse_timeout_ms(value: object) -> int:
    """``300000``, ``"300000"``, ``"30s"``, ``"10m"``, ``"1h"`` to milliseconds; ValueError outside 1 ms..24 h."""
    if isinstance(value, bool):
        raise ValueError(TIMEOUT_RANGE)
    if isinstance(value, int):
        ms = value
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(TIMEOUT_RANGE)
        amount = float(match.group(1)) * _UNIT_MS[(match.group(2) or "ms").lower()]
        if amount != int(amount):
            raise ValueError(TIMEOUT_RANGE)
        ms = int(amount)
    if not MIN_TIMEOUT_MS <= ms <= MAX_TIMEOUT_MS:
        raise ValueError(TIMEOUT_RANGE)
    return ms


def timeout_error(where: str, value: object) -> str:
    """The one wording of a bad timeout, wherever it was given (option, marker, fixture)."""
    return f"{where}: {value!r} is not a valid session timeout; give {TIMEOUT_RANGE}"


HTTP_TIMEOUT_RANGE = "a number of seconds from 0.1 to 600"
DEFAULT_HTTP_TIMEOUT = 30.0


def parse_seconds(text: str) -> float:
    """An HTTP timeout in seconds; ValueError names the range."""
    try:
        seconds = float(text)
    except ValueError:
        raise ValueError(HTTP_TIMEOUT_RANGE) from None
    if not 0.1 <= seconds <= 600:  # also refuses nan and inf
        raise ValueError(HTTP_TIMEOUT_RANGE)
    return seconds


@dataclass(frozen=True)
class Count:
    """A whole number in ``low..high``: how many sessions, how many pooled browsers."""

    what: str  # "session count"
    low: int
    high: int

    @property
    def range(self) -> str:
        return f"a whole number from {self.low} to {self.high}"

    def parse(self, text: str) -> int:
        text = text.strip()
        if not text.isdigit() or not self.low <= int(text) <= self.high:
            raise ValueError(self.range)
        return int(text)


MAX_SESSIONS = Count("session count", 1, 10_000)
DEFAULT_LOCAL_MAX_SESSIONS = 16  # steel-local's own limit when none is given
SLOWMO = Count("slow-motion delay in milliseconds", 0, 60_000)
REQUESTS_PER_MINUTE = Count("number of requests a minute", 0, 1_000_000)
PREFETCH = Count("number of sessions to create ahead", 0, 16)
POOL_SIZE = Count("pool size", 0, 64)  # the embedded server's warm browsers (not part of Steel's contract)
EXPECTED_SESSIONS = Count("number of sessions", 0, 10_000_000)  # what a client will create, for the pool
MAX_FILES_MB = Count("size in MiB", 1, 1_048_576)  # steel-local: one session's files area, at most 1 TiB
