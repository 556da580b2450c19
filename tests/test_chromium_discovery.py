"""Which browser binary a session gets: explicit, then Playwright's, then the system's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pytest_steel._browser import chromium as _chromium
from pytest_steel._browser.chromium import ChromiumNotFoundError, ChromiumSet, find_chromium


def executable(path: Path, content: str = "\x7fELF") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    path.chmod(0o755)
    return path


@pytest.fixture
def no_system_browsers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Hide the machine's own browsers so that only what a test lays out is found."""
    monkeypatch.setattr(_chromium, "_SYSTEM_SHELLS", ())
    monkeypatch.setattr(_chromium, "_SYSTEM_FULL", ())
    empty_path = tmp_path / "bin"
    empty_path.mkdir()
    monkeypatch.setenv("PATH", str(empty_path))
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "ms-playwright"))
    return tmp_path


def test_explicit_path_wins_for_every_session(tmp_path: Path) -> None:
    binary = executable(tmp_path / "my-chrome")
    found = find_chromium(binary)
    assert found.for_session(headless=True).path == binary.resolve()
    assert found.for_session(headless=False).path == binary.resolve()
    assert found.explicit is not None and found.explicit.source == "--chromium"


def test_explicit_path_must_be_executable(tmp_path: Path) -> None:
    not_executable = tmp_path / "chrome"
    not_executable.write_text("")
    with pytest.raises(ChromiumNotFoundError, match=r"STEEL_CHROMIUM: '.*chrome' is not an executable file"):
        find_chromium(not_executable, explicit_source="STEEL_CHROMIUM")


def test_playwright_browsers_newest_revision_first(no_system_browsers: Path) -> None:
    root = no_system_browsers / "ms-playwright"
    executable(root / "chromium_headless_shell-1100/chrome-linux/headless_shell")
    newest_shell = executable(root / "chromium_headless_shell-1200/chrome-headless-shell-linux64/chrome-headless-shell")
    full = executable(root / "chromium-1200/chrome-linux64/chrome")
    found = find_chromium()
    assert found.headless_shell is not None and found.headless_shell.path == newest_shell.resolve()
    assert found.headless_shell.source == "playwright"
    assert found.for_session(headless=True).is_headless_shell
    assert found.for_session(headless=False).path == full.resolve()


def test_system_browsers_after_playwright(no_system_browsers: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = no_system_browsers / "bin"
    wrapper = executable(bin_dir / "chromium", '#!/bin/sh\nexec real-chromium "$@"\n')
    real = executable(bin_dir / "google-chrome")
    found = find_chromium()
    assert found.headless_shell is None
    # A real binary beats a launcher script, whose pid would not be the browser's.
    assert found.full is not None and found.full.path == real.resolve() and found.full.source == "system"
    real.unlink()
    assert find_chromium().full.path == wrapper.resolve()  # type: ignore[union-attr]


def test_headless_shell_alone_cannot_run_headed_sessions(no_system_browsers: Path) -> None:
    executable(no_system_browsers / "ms-playwright/chromium_headless_shell-1/chrome-linux/headless_shell")
    found = find_chromium()
    with pytest.raises(ChromiumNotFoundError, match="headed session"):
        found.for_session(headless=False)


def test_nothing_found_says_how_to_fix_it(no_system_browsers: Path) -> None:
    with pytest.raises(ChromiumNotFoundError) as excinfo:
        find_chromium()
    message = str(excinfo.value)
    assert "playwright install chromium" in message
    assert "STEEL_CHROMIUM" in message
    assert str(no_system_browsers / "ms-playwright") in message


def test_describe_lists_paths_and_sources(tmp_path: Path) -> None:
    binary = executable(tmp_path / "chrome")
    assert find_chromium(binary).describe() == f"{binary.resolve()} (--chromium)"
    assert ChromiumSet().describe() == ""


def test_this_machine_has_a_browser() -> None:
    """CI installs Debian's Chromium and its headless shell: both must be found."""
    found = find_chromium(os.environ.get("STEEL_CHROMIUM"))
    assert found.for_session(headless=True).path.exists()
