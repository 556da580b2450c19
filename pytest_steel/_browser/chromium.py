"""Finding a Chromium to run sessions on, and the command line each session gets.

Order of preference: an explicit path (option or ``STEEL_CHROMIUM``), then
Playwright's own installed browsers, then a system Chromium or Chrome. Headless
sessions prefer a *headless shell* build, which starts several times faster and
costs far less per launch than full Chromium; headed sessions need full Chromium.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from .._client.limits import CHROMIUM_ENV

__all__ = ["CHROMIUM_ENV", "Chromium", "ChromiumNotFoundError", "ChromiumSet", "chromium_command", "find_chromium"]


class ChromiumNotFoundError(RuntimeError):
    """No usable Chromium binary: the message says where we looked and how to fix it."""


@dataclasses.dataclass(frozen=True)
class Chromium:
    """One browser binary and where it was found (shown in headers and health output)."""

    path: Path
    source: str

    @property
    def is_headless_shell(self) -> bool:
        return "headless" in self.path.name.lower()


@dataclasses.dataclass(frozen=True)
class ChromiumSet:
    """The binaries a server launches: an explicit one, or the best shell and full build found."""

    explicit: Chromium | None = None
    headless_shell: Chromium | None = None
    full: Chromium | None = None

    def for_session(self, *, headless: bool) -> Chromium:
        """The binary for one session; raises when a headed session has no full Chromium."""
        if self.explicit is not None:
            return self.explicit
        if headless:
            chosen = self.headless_shell or self.full
        else:
            chosen = self.full
        if chosen is None:
            raise ChromiumNotFoundError(
                "a headed session (headless: false) needs a full Chromium or Chrome, "
                "and only a headless shell was found; install Chromium or pass --chromium"
            )
        return chosen

    def describe(self) -> str:
        found = [c for c in (self.explicit, self.headless_shell, self.full) if c]
        return "; ".join(f"{c.path} ({c.source})" for c in found)


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _is_shell_wrapper(path: Path) -> bool:
    """A launcher script (like Debian's /usr/bin/chromium) does not exec, so its pid is not the browser's."""
    try:
        with path.open("rb") as handle:
            return handle.read(2) == b"#!"
    except OSError:
        return False


def playwright_browsers_dirs() -> list[Path]:
    """Where Playwright installs browsers, honouring PLAYWRIGHT_BROWSERS_PATH."""
    configured = os.environ.get("PLAYWRIGHT_BROWSERS_PATH")
    if configured and configured != "0":
        return [Path(configured).expanduser()]
    dirs: list[Path] = []
    if configured == "0":
        try:
            import playwright  # noqa: PLC0415 - only to locate its package directory

            dirs.append(Path(playwright.__file__).parent / "driver" / "package" / ".local-browsers")
        except ImportError:
            pass
    if sys.platform == "darwin":
        dirs.append(Path.home() / "Library" / "Caches" / "ms-playwright")
    elif sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA")
        if local:
            dirs.append(Path(local) / "ms-playwright")
    else:
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        dirs.append(Path(cache) / "ms-playwright")
    return dirs


# Layouts of Playwright's browser folders across its releases and platforms.
_PLAYWRIGHT_SHELL_PATTERNS = (
    "chromium_headless_shell-*/chrome-headless-shell-linux64/chrome-headless-shell",
    "chromium_headless_shell-*/chrome-linux/headless_shell",
    "chromium_headless_shell-*/chrome-headless-shell-mac-*/chrome-headless-shell",
    "chromium_headless_shell-*/chrome-headless-shell-win64/chrome-headless-shell.exe",
)
_PLAYWRIGHT_FULL_PATTERNS = (
    "chromium-*/chrome-linux64/chrome",
    "chromium-*/chrome-linux/chrome",
    "chromium-*/chrome-mac*/Chromium.app/Contents/MacOS/Chromium",
    "chromium-*/chrome-mac*/Google Chrome for Testing.app/Contents/MacOS/Google Chrome for Testing",
    "chromium-*/chrome-win64/chrome.exe",
    "chromium-*/chrome-win/chrome.exe",
)

_SYSTEM_SHELLS = (
    "/usr/lib/chromium/chromium-headless-shell",
    "/usr/lib/chromium/headless_shell",
)
_SYSTEM_SHELL_COMMANDS = ("chrome-headless-shell", "chromium-headless-shell")
_SYSTEM_FULL = (
    "/usr/lib/chromium/chromium",
    "/usr/lib/chromium-browser/chromium-browser",
    "/opt/google/chrome/chrome",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
)
_SYSTEM_FULL_COMMANDS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def _revision(path: Path) -> int:
    match = re.search(r"-(\d+)", path.as_posix())
    return int(match.group(1)) if match else -1


def _playwright_candidates(patterns: Sequence[str]) -> Iterator[Path]:
    for root in playwright_browsers_dirs():
        if not root.is_dir():
            continue
        found = [p for pattern in patterns for p in root.glob(pattern)]
        yield from sorted(found, key=_revision, reverse=True)


def _system_candidates(paths: Iterable[str], commands: Iterable[str]) -> Iterator[Path]:
    yield from (Path(p) for p in paths)
    # Real binaries on PATH first: a wrapper script is a last resort.
    on_path = [Path(found) for found in (shutil.which(c) for c in commands) if found]
    yield from sorted(on_path, key=_is_shell_wrapper)


def _first(candidates: Iterable[Path], source: str) -> Chromium | None:
    for candidate in candidates:
        if _is_executable(candidate):
            return Chromium(candidate.resolve(), source)
    return None


def find_chromium(
    explicit: str | os.PathLike[str] | None = None, *, explicit_source: str = "--chromium"
) -> ChromiumSet:
    """Resolve the binaries to use; raises ChromiumNotFoundError with a remedy when there are none."""
    if explicit:
        path = Path(explicit).expanduser()
        if not _is_executable(path):
            raise ChromiumNotFoundError(
                f"{explicit_source}: {str(path)!r} is not an executable file; "
                "give the path of a Chromium or Chrome binary"
            )
        return ChromiumSet(explicit=Chromium(path.resolve(), explicit_source))

    shell = _first(_playwright_candidates(_PLAYWRIGHT_SHELL_PATTERNS), "playwright") or _first(
        _system_candidates(_SYSTEM_SHELLS, _SYSTEM_SHELL_COMMANDS), "system"
    )
    full = _first(_playwright_candidates(_PLAYWRIGHT_FULL_PATTERNS), "playwright") or _first(
        _system_candidates(_SYSTEM_FULL, _SYSTEM_FULL_COMMANDS), "system"
    )
    if shell is None and full is None:
        raise ChromiumNotFoundError(
            "no Chromium found: looked for Playwright's browsers in "
            + ", ".join(str(d) for d in playwright_browsers_dirs())
            + " and for a system Chromium or Chrome. Install one (`playwright install chromium`, "
            "or `apt-get install chromium chromium-headless-shell`), or name a binary with "
            f"--chromium / {CHROMIUM_ENV}"
        )
    return ChromiumSet(headless_shell=shell, full=full)


# Flags for a quiet, deterministic, network-silent browser that leaves no state behind.
_COMMON_FLAGS = (
    "--remote-debugging-pipe",  # no DevTools port: only the server's pipe reaches the browser
    "--no-first-run",
    "--no-default-browser-check",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-sync",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-breakpad",
    "--disable-dev-shm-usage",
    "--disable-hang-monitor",
    "--disable-popup-blocking",
    "--disable-prompt-on-repost",
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-renderer-backgrounding",
    "--disable-search-engine-choice-screen",
    "--disable-features=Translate,MediaRouter,OptimizationHints,DialMediaRouteProvider",
    "--metrics-recording-only",
    "--password-store=basic",
    "--use-mock-keychain",
    "--force-color-profile=srgb",
    "--mute-audio",
    "--log-level=3",
)


def chromium_command(
    chromium: Chromium,
    *,
    profile_dir: Path,
    headless: bool,
    width: int,
    height: int,
    user_agent: str | None = None,
) -> list[str]:
    """The argv for one session's browser: one default context with one blank page."""
    argv = [str(chromium.path), *_COMMON_FLAGS, f"--user-data-dir={profile_dir}", f"--window-size={width},{height}"]
    if headless:
        argv += ["--headless", "--hide-scrollbars"]
    if user_agent:
        argv.append(f"--user-agent={user_agent}")
    argv.append("about:blank")
    return argv
