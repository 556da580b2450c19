"""The pytest plugin (entry point ``steel``; disable with ``-p no:steel``).

Thin for now: it declares the ``steel`` marker. The fixtures that create sessions
on the embedded server or a Steel backend build on ``pytest_steel.local``.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "steel(timeout=None, **create_fields): parameters for the Steel session of this test",
    )
