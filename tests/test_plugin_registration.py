"""The plugin is installed under the entry-point name `steel`."""

from __future__ import annotations

import pytest


def test_plugin_is_registered_as_steel(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.steel(timeout=60000)
        def test_marked():
            pass
        """
    )
    result = pytester.runpytest_subprocess("--strict-markers", "-p", "steel")
    result.assert_outcomes(passed=1)
    markers = pytester.runpytest_subprocess("--markers")
    markers.stdout.fnmatch_lines(["@pytest.mark.steel(timeout=None, **create_fields): *"])


def test_plugin_can_be_disabled(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.steel
        def test_marked():
            pass
        """
    )
    result = pytester.runpytest_subprocess("--strict-markers", "-p", "no:steel")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*'steel' not found in `markers` configuration option*"])
