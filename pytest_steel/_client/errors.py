"""One exception hierarchy for everything pytest-steel raises, rooted at ``SteelError``.

Messages say what happened and what to do about it. None of them ever carries the
API key: the client builds them from the method, the path and the server's own
``message``, never from request headers or the CDP URL.
"""

from __future__ import annotations


class SteelError(Exception):
    """Base class of every pytest-steel error."""


class SteelConnectionError(SteelError):
    """The backend could not be reached (refused, reset, DNS, TLS), even after retries."""


class SteelTimeoutError(SteelConnectionError):
    """The backend accepted the connection but did not answer in time."""


class SteelHungError(SteelTimeoutError):
    """No answer in time, and none to a quick health check after it either: the backend is taken as hung.

    Like an unreachable one, this condemns the backend at once; a slow answer from a backend
    whose health still answers does not.
    """


class SteelUnreachableError(SteelConnectionError):
    """No connection could be made at all (refused, DNS, connect timeout): the backend is down or the URL wrong.

    Unlike a slow answer or a dropped connection, this condemns the backend: a run stops asking it.
    """


class SteelAPIError(SteelError):
    """The backend answered with an error status."""

    def __init__(self, message: str, *, status_code: int, method: str, path: str, body: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.method = method
        self.path = path
        self.body = body


class SteelBadRequestError(SteelAPIError):
    """400 or 422: a create field or query parameter was rejected."""


class SteelAuthenticationError(SteelAPIError):
    """401 or 403: the API key is missing, wrong, or not allowed to do this."""


class SteelNotFoundError(SteelAPIError):
    """404: no such session."""


class SteelConflictError(SteelAPIError):
    """409: for example, a session with the chosen id already exists."""


class SteelRateLimitError(SteelAPIError):
    """429: too many requests or too many concurrent sessions, even after retries."""


class SteelServerError(SteelAPIError):
    """5xx: the backend failed, even after retries."""


class SteelSessionError(SteelError):
    """A session stopped being usable while a test relied on it (crashed, timed out, connection lost)."""

    def __init__(self, message: str, *, session_id: str, status: str, release_reason: str | None = None) -> None:
        super().__init__(message)
        self.session_id = session_id
        self.status = status
        self.release_reason = release_reason


class SteelFilesUnsupportedError(SteelError):
    """The backend has no session files API as Steel Cloud speaks it (``profile``: which backends lack it)."""


class SteelBackendUnavailableError(SteelError):
    """An earlier request showed the backend unreachable or the key rejected; later tests fail fast."""


SteelBackendUnavailable = SteelBackendUnavailableError  # the name before 0.1: kept so imports keep working


class SteelReleaseWarning(UserWarning):
    """A session's release failed, but the session has ended anyway (so nothing is left metering)."""


for _class in list(globals().values()):
    if isinstance(_class, type) and issubclass(_class, (SteelError, SteelReleaseWarning)):
        _class.__module__ = "pytest_steel"  # tracebacks say pytest_steel.SteelSessionError, the public name


def error_class_for_status(status_code: int) -> type[SteelAPIError]:
    if status_code in (400, 422):
        return SteelBadRequestError
    if status_code in (401, 403):
        return SteelAuthenticationError
    if status_code == 404:
        return SteelNotFoundError
    if status_code == 409:
        return SteelConflictError
    if status_code == 429:
        return SteelRateLimitError
    if status_code >= 500:
        return SteelServerError
    return SteelAPIError


def first_line(exc: BaseException) -> str:
    """An exception's first line of text, or its type when it has none: for one-line messages."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
