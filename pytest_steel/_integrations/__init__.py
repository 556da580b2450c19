"""Other plugins' fixtures on Steel sessions: pytest-playwright and pytest-playwright-asyncio (``--steel-playwright``).

Each module loads only when its plugin is active. The top layer under ``plugin.py``.
Imports ``_fixtures``, ``_sessions``, ``_config`` and ``_browser``.
"""
