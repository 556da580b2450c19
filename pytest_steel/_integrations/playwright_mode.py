"""The ``--steel-playwright`` mode's switch: its usage errors, and which package's fixtures it puts on Steel sessions.

Apart from the two fixture modules (``pytest_playwright`` and ``pytest_playwright_asyncio``)
so that each of them loads only when its package is the active one, and neither imports the other's switch.
"""

from __future__ import annotations

import pytest

from .._config.settings import Settings

ASYNCIO_PLUGIN = "playwright-asyncio"  # pytest-playwright-asyncio's entry point


def register(config: pytest.Config) -> None:
    """Put this mode's ``browser`` in front of pytest-playwright's (or pytest-playwright-asyncio's)."""
    if not config.pluginmanager.has_plugin("playwright"):
        from . import pytest_playwright_asyncio as on_asyncio

        config.pluginmanager.register(on_asyncio, on_asyncio.PLUGIN_NAME)
        return
    from . import pytest_playwright as on_sync

    config.pluginmanager.register(on_sync, on_sync.PLUGIN_NAME)


def check(config: pytest.Config, settings: Settings) -> None:
    """Usage errors for what cannot work on Steel, before anything starts."""
    if not settings.playwright.value:
        return
    where = settings.playwright.source
    if not (config.pluginmanager.has_plugin("playwright") or config.pluginmanager.has_plugin(ASYNCIO_PLUGIN)):
        raise pytest.UsageError(
            f"{where} puts pytest-playwright's fixtures on Steel sessions, but neither pytest-playwright nor "
            "pytest-playwright-asyncio is active (pip install one of them, and do not pass -p no:playwright)"
        )
    browsers = [b for b in config.getoption("browser", None) or () if b != "chromium"]
    if browsers:
        raise pytest.UsageError(
            f"--browser {browsers[0]}: Steel sessions run Chromium; with {where} use --browser chromium (or none)"
        )
    if config.getoption("browser_channel", None):
        raise pytest.UsageError(
            f"--browser-channel: a Steel session's browser is chosen by its backend, not by a channel; "
            f"drop it, or drop {where}"
        )
    if config.getoption("headed", False) and not settings.is_embedded:
        raise pytest.UsageError(
            f"--headed shows the browser of the embedded server only, and the backend is chosen by "
            f"{settings.backend.source}; watch a remote session in its viewer instead"
        )
