"""Where the plugin keeps its state on pytest's objects: one module, so that every part finds the same keys.

Light on purpose (types only under TYPE_CHECKING): the plugin imports it at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    pass

# on the config
SETTINGS_KEY = pytest.StashKey["Settings"]()
RUN_KEY = pytest.StashKey["SteelRun"]()  # made when a test first needs Steel
CURRENT_ITEM_KEY = pytest.StashKey["pytest.Item | None"]()  # the test running now

# xdist workerinput: where workers ask for the embedded server's URL, and the session slots they share
WORKER_BROKER_KEY = "steel_broker"
WORKER_SLOTS_KEY = "steel_slots_dir"

# on each test item (cleared before each run of it: pytest-rerunfailures runs items again)
ITEM_SESSIONS_KEY = pytest.StashKey["list[TrackedSession]"]()  # the sessions it used, for its report
RECORDER_KEY = pytest.StashKey["TestRecorder"]()  # its screenshots and trace
FAILED_SO_FAR_KEY = pytest.StashKey[bool]()  # its setup, call or a teardown before its page's failed
PER_RUN_ITEM_KEYS = (ITEM_SESSIONS_KEY, RECORDER_KEY, FAILED_SO_FAR_KEY)
