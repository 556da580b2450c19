"""Failure artifacts: screenshots and a Playwright trace of each test's pages, in one folder per test.

The vocabulary is pytest-playwright's (``only-on-failure``, ``retain-on-failure``,
``test-failed-1.png``, ``trace.zip``, ``-retryN``). Unlike pytest-playwright, the
output folder is never wiped as a whole: a test that runs again replaces its own
folder only, so artifacts of tests that did not run survive (``--lf``, ``-k``, xdist).

A screenshot is taken at the page's teardown when the test has failed so far (its
setup, its call, or the teardown of a fixture that used the page); a trace is always
written when tracing is on and dropped after the test's last teardown if it passed, so
a failure anywhere keeps it.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ._errors import SteelError, first_line
from ._settings import ARTIFACT_FIELDS, SCREENSHOT_MODES, TRACING_MODES, Settings

__all__ = ["ARTIFACT_FIELDS", "ArtifactModes", "TestRecorder", "artifact_modes", "folder_for"]

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

    from ._run import TrackedSession

SCREENSHOT_TIMEOUT_MS = 5_000
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class ArtifactModes:
    screenshot: str
    tracing: str

    @property
    def records_anything(self) -> bool:
        return self.screenshot != "off" or self.tracing != "off"


def artifact_modes(item: pytest.Item, settings: Settings) -> ArtifactModes:
    """The options, overridden field by field by the closest ``steel`` marker."""
    chosen: dict[str, str] = {}
    for owner, mark in item.iter_markers_with_node("steel"):  # closest first
        for name, choices in (("screenshot", SCREENSHOT_MODES), ("tracing", TRACING_MODES)):
            if name in mark.kwargs and name not in chosen:
                value = mark.kwargs[name]
                if value not in choices:
                    raise SteelError(
                        f"@pytest.mark.steel({name}={value!r}) on {owner.nodeid or owner.name}: "
                        f"use {', '.join(map(repr, choices))}"
                    )
                chosen[name] = value
    return ArtifactModes(
        chosen.get("screenshot", settings.screenshot.value), chosen.get("tracing", settings.tracing.value)
    )


def folder_for(output: Path, item: pytest.Item) -> Path:
    """``output/<node id as a file name>``, with ``-retryN`` when pytest-rerunfailures runs it again."""
    name = _UNSAFE.sub("-", item.nodeid).strip("-") or "test"
    retry = getattr(item, "execution_count", 1) - 1
    if retry > 0:
        name += f"-retry{retry}"
    if len(name) > 200:  # file names stop at 255 bytes; keep both ends readable and the name unique
        name = f"{name[:90]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}-{name[-90:]}"
    return output / name


@dataclass
class TestRecorder:
    """One test's artifacts, from its page's setup to its last teardown."""

    folder: Path
    modes: ArtifactModes
    context: BrowserContext
    tracked: TrackedSession
    title: str
    kept: list[tuple[str, Path]] = field(default_factory=list)  # (kind, path): "screenshot", "trace"
    problems: list[str] = field(default_factory=list)
    _trace: Path | None = None

    __test__ = False  # not a test class, whatever its name says

    def start(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)  # the test runs again: its old artifacts go, no others
        if self.modes.tracing == "off":
            return
        if not self.tracked.tracing:  # a per-module session's context traces once, in one chunk per test
            self.context.tracing.start(title=self.title, screenshots=True, snapshots=True, sources=True)
            self.tracked.tracing = True
        else:
            self.context.tracing.start_chunk(title=self.title)

    def stop(self, failed: bool, pages: list[Page]) -> None:
        """Screenshots (when the mode and the outcome so far ask for them) and the trace, while the pages live."""
        from playwright.sync_api import Error as PlaywrightError

        if self.modes.screenshot == "on" or (failed and self.modes.screenshot == "only-on-failure"):
            status = "failed" if failed else "finished"
            for index, page in enumerate(p for p in pages if not p.is_closed()):
                path = self.folder / f"test-{status}-{index + 1}.png"
                try:
                    page.screenshot(path=path, timeout=SCREENSHOT_TIMEOUT_MS)
                except PlaywrightError as exc:
                    self.problems.append(f"no screenshot of {page.url}: {first_line(exc)}")
                    continue
                self.kept.append(("screenshot", path))
        if self.modes.tracing != "off":
            path = self.folder / "trace.zip"
            try:
                self.context.tracing.stop_chunk(path=path)
            except PlaywrightError as exc:
                self.problems.append(f"no trace: {first_line(exc)}")
                return
            self._trace = path
            self.kept.append(("trace", path))

    def settle(self, failed: bool) -> list[tuple[str, Path]]:
        """After the last teardown: drop a passing test's trace under retain-on-failure, and an empty folder."""
        if self._trace is not None and self.modes.tracing == "retain-on-failure" and not failed:
            self._trace.unlink(missing_ok=True)
            self.kept = [(kind, path) for kind, path in self.kept if path != self._trace]
        for folder in (self.folder, self.folder.parent):  # leave no empty folder behind, ours or the output's
            try:
                folder.rmdir()  # only if empty
            except OSError:
                break
        return self.kept
