"""pytest-steel's embedded Steel-compatible session server.

Run it with ``steel-local`` or ``python -m pytest_steel.local``; start it from
Python with ``LocalServerProcess``. Each session is one local Chromium process.
The core: ``_session_manager`` has the lifecycle, ``_session_state`` one session's
state, ``_registry`` the sessions it knows, ``_session_files`` each session's files
(``_files_relay`` what a relay client's messages do to them), ``_session_params`` and
``_http_errors`` the types it takes and the errors it raises; ``_chromium_procs/`` the
browsers it runs. ``_api/`` is the HTTP face over the core: the core imports nothing
from it. Only stdlib modules are imported here, so that the watchdog starts quickly.
Imports ``_client`` and ``_browser`` (the wire's names, finding Chromium and ffmpeg).
"""

from ._launcher import LocalServerError, LocalServerProcess

__all__ = ["LocalServerError", "LocalServerProcess"]
