"""The local server's errors, each with the HTTP status the API answers it with (``InvalidRequest``: 400, naming
the field). The core raises them; ``_api`` turns them into JSON answers.
"""

from __future__ import annotations


class SessionError(Exception):
    """An API error with its HTTP status; the message is safe to show to the client."""

    status = 500
    retry: bool | None = None

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.headers = headers or {}


class InvalidRequest(ValueError):
    """A 400: the message is shown to the client as is."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class SessionNotFound(SessionError):
    status = 404


class SessionConflict(SessionError):
    status = 409
    retry = False  # a duplicate id stays a duplicate: tell SDKs not to retry


class AtCapacity(SessionError):
    status = 429


class SessionGone(SessionError):
    status = 410


class ServerClosing(SessionError):
    status = 503


class LaunchFailed(SessionError):
    status = 500
