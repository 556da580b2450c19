"""pytest-steel's embedded Steel-compatible session server.

Run it with ``steel-local`` or ``python -m pytest_steel.local``; start it from
Python with ``LocalServerProcess``. Each session is one local Chromium process:
``_sessions`` has the lifecycle, ``_registry`` the sessions it knows, ``_files``
each session's files, ``_api/`` the routes, ``_browsers/`` the browsers. Only
stdlib modules are imported here, so that the watchdog starts quickly.
Imports ``_client`` and ``_browser`` (the wire's names, finding Chromium and ffmpeg).
"""

from ._launcher import LocalServerError, LocalServerProcess

__all__ = ["LocalServerError", "LocalServerProcess"]
