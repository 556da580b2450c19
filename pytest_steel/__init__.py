"""pytest-steel: managed, isolated browser sessions for pytest, in the style of Steel."""

from typing import TYPE_CHECKING, Any

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
    SteelReleaseWarning,
    SteelServerError,
    SteelSessionError,
    SteelTimeoutError,
)
from ._models import ReleaseResult, Session
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
    "SteelReleaseWarning",
    "SteelServerError",
    "SteelSessionError",
    "SteelTimeoutError",
    "__version__",
]

__version__ = "0.1.0.dev0"

if TYPE_CHECKING:
    from ._client import SteelClient


def __getattr__(name: str) -> Any:
    """``SteelClient`` loads httpx, so it is imported on first use: pytest start-up stays cheap."""
    if name == "SteelClient":
        from ._client import SteelClient

        return SteelClient
    raise AttributeError(f"module 'pytest_steel' has no attribute {name!r}")
