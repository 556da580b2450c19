"""Where the plugin keeps its state on pytest's objects: one module, so that every part finds the same keys.

Light on purpose (types only under TYPE_CHECKING): the plugin imports it at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # the keys' value types, named in strings below
    from collections.abc import Callable  # noqa: F401

    from .._browser.connection import PlaywrightDriver  # noqa: F401
    from .._plugin.run import SteelRun
    from .._reporting.artifacts import TestRecorder  # noqa: F401
    from .._reporting.downloads import ExtraArtifacts  # noqa: F401
    from .._sessions.lifecycle import TrackedSession  # noqa: F401
    from .settings import Settings  # noqa: F401

# on the config
SETTINGS_KEY = pytest.StashKey["Settings"]()
RUN_KEY = pytest.StashKey["SteelRun"]()  # made when a test first needs Steel
CURRENT_ITEM_KEY = pytest.StashKey["pytest.Item | None"]()  # the test running now
CONTROLLER_PID_KEY = pytest.StashKey["int | None"]()  # on an xdist worker: the controller it started under
DRIVER_KEY = pytest.StashKey["PlaywrightDriver"]()  # the sync Playwright driver, once a fixture needed it


# xdist workerinput: where workers ask for the embedded server's URL, and the session slots they share
DEBUG_PLUGIN = "steel-debug"  # the --steel-debug plugin's name, known to plugin.py without importing it

WORKER_BROKER_KEY = "steel_broker"
WORKER_SLOTS_KEY = "steel_slots_dir"
WORKER_EMBEDDED_KEY = "steel_embedded_key"  # the embedded server's per-run API key

# on each test item (cleared before each run of it: pytest-rerunfailures runs items again)
ITEM_SESSIONS_KEY = pytest.StashKey["list[TrackedSession]"]()  # the sessions it used, for its report
RECORDER_KEY = pytest.StashKey["TestRecorder"]()  # its screenshots and trace
FAILED_SO_FAR_KEY = pytest.StashKey[bool]()  # its setup or call failed (from the reports)
LATER_FIXTURES_KEY = pytest.StashKey[bool]()  # a function fixture was set up after its recorder started
AFTER_TEST_KEY = pytest.StashKey["list[Callable[[], None]]"]()  # run once every fixture is torn down, last first
NEXT_ITEM_KEY = pytest.StashKey["pytest.Item | None"]()  # the test this process runs after it
RECORDING_KEY = pytest.StashKey[str]()  # the recording mode its own session was created with
EXTRA_ARTIFACTS_KEY = pytest.StashKey["ExtraArtifacts"]()  # its downloads, its further sessions' screenshots
PER_RUN_ITEM_KEYS = (
    ITEM_SESSIONS_KEY,
    RECORDER_KEY,
    FAILED_SO_FAR_KEY,
    LATER_FIXTURES_KEY,
    AFTER_TEST_KEY,
    RECORDING_KEY,
    EXTRA_ARTIFACTS_KEY,
)


def started_run(config: pytest.Config) -> SteelRun | None:
    """The run's Steel state if anything has needed Steel so far; never makes it (``_plugin.run.run_of`` does)."""
    return config.stash.get(RUN_KEY, None)
