"""pytest-steel: managed, isolated browser sessions for pytest, in the style of Steel."""

from ._client import ReleaseResult, Session, SteelClient
from ._errors import (
    SteelAPIError,
    SteelAuthenticationError,
    SteelBackendUnavailable,
    SteelBadRequestError,
    SteelConflictError,
    SteelConnectionError,
    SteelError,
    SteelNotFoundError,
    SteelRateLimitError,
    SteelServerError,
    SteelSessionError,
    SteelTimeoutError,
)
from ._wire import SessionStatus

__all__ = [
    "ReleaseResult",
    "Session",
    "SessionStatus",
    "SteelAPIError",
    "SteelAuthenticationError",
    "SteelBackendUnavailable",
    "SteelBadRequestError",
    "SteelClient",
    "SteelConflictError",
    "SteelConnectionError",
    "SteelError",
    "SteelNotFoundError",
    "SteelRateLimitError",
    "SteelServerError",
    "SteelSessionError",
    "SteelTimeoutError",
    "__version__",
]

__version__ = "0.1.0.dev0"
