"""pytest-steel: managed, isolated browser sessions for pytest, in the style of Steel."""

from typing import TYPE_CHECKING, Any

from ._client.errors import (
    SteelAPIError,
    SteelAuthenticationError,
    SteelBackendUnavailable,
    SteelBackendUnavailableError,
    SteelBadRequestError,
    SteelConflictError,
    SteelConnectionError,
    SteelError,
    SteelFilesUnsupportedError,
    SteelNotFoundError,
    SteelRateLimitError,
    SteelReleaseWarning,
    SteelServerError,
    SteelSessionError,
    SteelTimeoutError,
    SteelUnreachableError,
)

__all__ = [
    "AsyncSteelClient",
    "ReleaseReason",
    "ReleaseResult",
    "Session",
    "SessionContext",
    "SessionStatus",
    "SteelAPIError",
    "SteelAuthenticationError",
    "SteelBackendUnavailable",
    "SteelBackendUnavailableError",
    "SteelBadRequestError",
    "SteelClient",
    "SteelConflictError",
    "SteelConnectionError",
    "SteelError",
    "SteelFilesUnsupportedError",
    "SteelNotFoundError",
    "SteelRateLimitError",
    "SteelReleaseWarning",
    "SteelServerError",
    "SteelSessionError",
    "SteelTimeoutError",
    "SteelUnreachableError",
    "SessionFile",
    "__version__",
    "async_set_input_files",
    "context_from_storage_state",
    "set_input_files",
    "storage_state_from_context",
]

__version__ = "0.1.0"  # the one place the version is written: pyproject reads it

if TYPE_CHECKING:
    from ._browser.uploads import async_set_input_files, set_input_files
    from ._client.async_client import AsyncSteelClient
    from ._client.client import SteelClient
    from ._client.models import (
        ReleaseResult,
        Session,
        SessionContext,
        SessionFile,
        context_from_storage_state,
        storage_state_from_context,
    )
    from ._client.wire import ReleaseReason, SessionStatus


def __getattr__(name: str) -> Any:
    """Loaded on first use, so that pytest's start-up pays nothing for them (``SteelClient`` loads httpx)."""
    if name == "AsyncSteelClient":
        from ._client.async_client import AsyncSteelClient

        return AsyncSteelClient
    if name == "SteelClient":
        from ._client.client import SteelClient

        return SteelClient
    if name in ("set_input_files", "async_set_input_files"):
        from ._browser import uploads

        return getattr(uploads, name)
    if name in (
        "Session",
        "ReleaseResult",
        "SessionFile",
        "SessionContext",
        "context_from_storage_state",
        "storage_state_from_context",
    ):
        from ._client import models as _models

        return getattr(_models, name)
    if name in ("SessionStatus", "ReleaseReason"):
        from ._client import wire as _wire

        return getattr(_wire, name)
    raise AttributeError(f"module 'pytest_steel' has no attribute {name!r}")
