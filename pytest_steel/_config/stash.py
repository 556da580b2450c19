"""The stash keys of plain values, which several layers share (and of ``_browser``'s driver, a layer below).

A key of any other type of the package lives beside that type, in the module that owns it
(``SETTINGS_KEY`` in ``settings``, ``RUN_KEY`` in ``_fixtures.run``, ``RECORDER_KEY`` in
``_reporting.artifacts``...), as pytest keeps ``xml_key`` beside ``LogXML``.

Light on purpose: the plugin imports it at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # the keys' value types, named in strings below
    from collections.abc import Callable  # noqa: F401

    from .._browser.connection import PlaywrightDriver  # noqa: F401

# on the config
CURRENT_ITEM_KEY = pytest.StashKey["pytest.Item | None"]()  # the test running now
CONTROLLER_PID_KEY = pytest.StashKey["int | None"]()  # on an xdist worker: the controller it started under
DRIVER_KEY = pytest.StashKey["PlaywrightDriver"]()  # the sync Playwright driver, once a fixture needed it


DEBUG_PLUGIN = "steel-debug"  # the --steel-debug plugin's name, known to plugin.py without importing it

# xdist workerinput: where workers ask for the embedded server's URL, and the session slots they share

WORKER_BROKER_KEY = "steel_broker"
WORKER_SLOTS_KEY = "steel_slots_dir"
WORKER_EMBEDDED_KEY = "steel_embedded_key"  # the embedded server's per-run API key

# on each test item (cleared before each run of it: pytest-rerunfailures runs items again)
# (and ITEM_SESSIONS_KEY in _sessions.lifecycle, RECORDER_KEY in _reporting.artifacts, EXTRA_ARTIFACTS_KEY
# in _reporting.downloads; _reporting.test_reports.PER_RUN_ITEM_KEYS names them all)
FAILED_SO_FAR_KEY = pytest.StashKey[bool]()  # its setup or call failed (from the reports)
LATER_FIXTURES_KEY = pytest.StashKey[bool]()  # a function fixture was set up after its recorder started
AFTER_TEST_KEY = pytest.StashKey["list[Callable[[], None]]"]()  # run once every fixture is torn down, last first
NEXT_ITEM_KEY = pytest.StashKey["pytest.Item | None"]()  # the test this process runs after it
RECORDING_KEY = pytest.StashKey[str]()  # the recording mode its own session was created with
