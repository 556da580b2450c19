"""How many sessions the collected tests will create, when collection can tell.

The embedded server keeps browsers launched ahead of need, and replaces each one a
session takes. Told how many sessions a run will create, it launches none that would
be left unused at the run's end (see ``local/_chromium_procs/pool.py``). The count is what the
session fixtures will make: one per test with a session of its own, one per module
with a shared one. It cannot know sessions a test makes by hand, through
``steel_client`` or ``steel_login``, nor those of a fixture a test's marker names with
``context=`` (which logs in, as often as its scope says, or not at all): a run with
such tests gives no count. Under pytest-xdist every worker collects the whole suite,
so its count is the run's; but a module's tests may run on several workers, each
making the module's session for its share, so a run with per-module sessions under
xdist gives no count either.

It need not be exact: a count too high wastes what an unknown one would, and past a
count too low the server refills as if it had none.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from .._config.markers import MARKER

RUN = "_steel_run"  # every fixture that needs the backend depends on it
OWN_SESSION = "_steel_tracked"  # every fixture of a test's own session (or its module's) depends on it
MODULE_SESSION = "steel_module_session"
BY_HAND = frozenset(("steel_client", "steel_login"))


def needs_steel(item: pytest.Item) -> bool:
    """Whether ``item`` uses a fixture that needs the backend: the backend warms up after collection for it."""
    return RUN in getattr(item, "fixturenames", ())


def wants_own_session(item: pytest.Item) -> bool:
    """Whether ``item`` uses a session of its own (its module's, with --steel-session-scope module)."""
    return OWN_SESSION in getattr(item, "fixturenames", ())


def sessions_needed(items: Iterable[pytest.Item], scope: str, xdist: bool) -> int | None:
    """The sessions the session fixtures will create for ``items``; None when that cannot be known."""
    if scope == "session":  # one for the run, in each process
        return None if xdist else int(any(wants_own_session(item) for item in items))
    own = 0
    modules: set[str] = set()
    for item in items:
        names = getattr(item, "fixturenames", ())
        if BY_HAND.intersection(names) or any("context" in m.kwargs for m in item.iter_markers(MARKER)):
            return None
        module = item.getparent(pytest.Module)
        module_id = module.nodeid if module is not None else item.nodeid
        if wants_own_session(item):
            if scope == "module":
                modules.add(module_id)
            else:
                own += 1
        if MODULE_SESSION in names:
            modules.add(module_id)
    if modules and xdist:
        return None
    return own + len(modules)
