"""Sync and async Playwright in one thread: the sync driver gives the thread's event loop back to async tests.

Playwright's sync API marks the thread's loop running while its driver runs, which
stops any async test; so before a test that runs in an event loop, the driver stops
(``PlaywrightDriver.make_room_for_async``), and the next sync connection starts it again.
"""

from __future__ import annotations

import inspect

import pytest

from .._client.errors import SteelError
from .._config.stash import DRIVER_KEY

ASYNC_PLUGIN = "steel-asyncio"  # the async fixtures' plugin, registered when pytest-asyncio is active


def runs_in_event_loop(item: pytest.Item) -> bool:
    """Whether ``item`` runs in an event loop: a coroutine, marked ``asyncio``, or using an async Steel fixture."""
    if inspect.iscoroutinefunction(getattr(item, "obj", None)) or item.get_closest_marker("asyncio"):
        return True
    async_fixtures = item.config.pluginmanager.get_plugin(ASYNC_PLUGIN)  # none without pytest-asyncio
    names = getattr(item, "fixturenames", ())  # a test function's; other items have none
    return async_fixtures is not None and any(n in async_fixtures.ASYNC_FIXTURES for n in names)


def free_event_loop_for(item: pytest.Item) -> None:
    """Before a test that runs in an event loop: stop the sync Playwright driver, which would hold the loop."""
    driver = item.config.stash.get(DRIVER_KEY, None)
    if driver is None or not runs_in_event_loop(item):
        return
    try:
        driver.make_room_for_async(item.nodeid)
    except SteelError as exc:
        pytest.fail(str(exc), pytrace=False)
