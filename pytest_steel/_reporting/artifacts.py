"""Failure artifacts: screenshots and a Playwright trace of each test's pages, in one folder per test.

The vocabulary is pytest-playwright's (``only-on-failure``, ``retain-on-failure``,
``test-failed-1.png``, ``trace.zip``, ``-retryN``). Unlike pytest-playwright, the
output folder is never wiped as a whole: a test that runs again replaces its own
folder only, so artifacts of tests that did not run survive (``--lf``, ``-k``, xdist).

A screenshot is taken at the page's teardown when the test has failed so far (its
setup or its call, from the reports). A fixture set up after the page is torn down
before it, and only the test's teardown report says whether that teardown failed: so
when there is one, the screenshot is taken anyway, held in memory, and written only if
the test's teardown failed. A trace is always written when tracing is on and dropped
after the test's last teardown if it passed, so a failure anywhere keeps it.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .._client.errors import first_line
from .._config.markers import SteelMarks
from .._config.settings import ARTIFACT_MODES, Settings
from .._config.stash import FAILED_SO_FAR_KEY, LATER_FIXTURES_KEY

__all__ = ["ArtifactModes", "AsyncTestRecorder", "TestRecorder", "artifact_modes", "folder_for"]

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from .._browser.connection import AsyncConnection, Connection

SCREENSHOT_TIMEOUT_MS = 5_000
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class ArtifactModes:
    """A test's artifact modes, one field per artifact mode of the settings table (a test checks they match)."""

    screenshot: str
    tracing: str
    recording: str = "off"  # saved by recordings.save once the session has ended; here it only clears the folder
    downloads: str = "off"  # saved by downloads before the session's release

    @property
    def records_anything(self) -> bool:
        return self.screenshot != "off" or self.tracing != "off" or self.recording != "off"


def artifact_modes(item: pytest.Item, settings: Settings) -> ArtifactModes:
    """The options, overridden field by field by the closest ``steel`` marker."""
    marks = SteelMarks.of(item)
    chosen = {
        name: marks.mode(name, choices, getattr(settings, name).value) for name, choices in ARTIFACT_MODES.items()
    }
    return ArtifactModes(**chosen)


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
    connection: Connection
    item: pytest.Item
    kept: list[tuple[str, Path]] = field(default_factory=list)  # (kind, path): "screenshot", "trace"
    problems: list[str] = field(default_factory=list)
    _trace: Path | None = None
    _held: list[bytes] = field(default_factory=list)  # screenshots a teardown failure may still ask for

    __test__ = False  # not a test class, whatever its name says

    @classmethod
    def for_test(cls, item: pytest.Item, settings: Settings, connection: Any) -> TestRecorder | None:
        """A recorder when the options and the marker ask for any artifact, else None."""
        modes = artifact_modes(item, settings)
        if not modes.records_anything:
            return None
        return cls(folder_for(settings.output.value, item), modes, connection, item)

    def start(self) -> None:
        tracing = self._begin()
        if tracing is not None:
            getattr(self.connection.context.tracing, tracing[0])(**tracing[1])

    def stop(self, pages: list[Page]) -> None:
        """Screenshots (when the mode and the outcome so far ask for them) and the trace, while the pages live."""
        from playwright.sync_api import Error as PlaywrightError

        for page, path in self._screenshot_targets(pages):
            try:
                self._took(path, page.screenshot(path=path, timeout=SCREENSHOT_TIMEOUT_MS))
            except PlaywrightError as exc:
                self._missed(page.url, path, exc)
        if self.modes.tracing != "off":
            try:
                self.connection.context.tracing.stop_chunk(path=self.folder / "trace.zip")
            except PlaywrightError as exc:
                self.problems.append(f"no trace: {first_line(exc)}")
            else:
                self._traced()

    # -- what to do, and what came of it (the I/O is start's and stop's, blocking or awaited) --

    def _begin(self) -> tuple[str, dict[str, Any]] | None:
        """Clear the test's old folder; the tracing call to make, if any, as (method, arguments)."""
        shutil.rmtree(self.folder, ignore_errors=True)  # the test runs again: its old artifacts go, no others
        if self.modes.tracing == "off":
            return None
        if not self.connection.tracing:  # a per-module session's context traces once, in one chunk per test
            self.connection.tracing = True
            return "start", {"title": self.item.nodeid, "screenshots": True, "snapshots": True, "sources": True}
        return "start_chunk", {"title": self.item.nodeid}

    def _screenshot_targets(self, pages: list[Any]) -> list[tuple[Any, Path | None]]:
        """The pages to screenshot now, each with its file; None for one held in memory for a late failure."""
        failed = self.item.stash.get(FAILED_SO_FAR_KEY, False)
        live = [p for p in pages if not p.is_closed()]
        if self.modes.screenshot == "on" or (failed and self.modes.screenshot == "only-on-failure"):
            status = "failed" if failed else "finished"
            return [(page, self.folder / f"test-{status}-{index + 1}.png") for index, page in enumerate(live)]
        if self.modes.screenshot == "only-on-failure" and self.item.stash.get(LATER_FIXTURES_KEY, False):
            return [(page, None) for page in live]
        return []

    def _took(self, path: Path | None, data: bytes) -> None:
        if path is None:
            self._held.append(data)
        else:
            self.kept.append(("screenshot", path))

    def _missed(self, url: str, path: Path | None, exc: Exception) -> None:
        if path is not None:  # a held one only a failure would have wanted; a failure then gets the trace
            self.problems.append(f"no screenshot of {url}: {first_line(exc)}")

    def _traced(self) -> None:
        self._trace = self.folder / "trace.zip"
        self.kept.append(("trace", self._trace))

    def settle(self, failed: bool) -> list[tuple[str, Path]]:
        """After the last teardown: keep held screenshots of a failed test, drop a passing test's trace
        under retain-on-failure, and leave no empty folder."""
        if failed and self._held:
            self.folder.mkdir(parents=True, exist_ok=True)
            held: list[tuple[str, Path]] = []
            for index, data in enumerate(self._held):
                path = self.folder / f"test-failed-{index + 1}.png"
                path.write_bytes(data)
                held.append(("screenshot", path))
            self.kept = held + self.kept
        self._held = []
        if self._trace is not None and self.modes.tracing == "retain-on-failure" and not failed:
            self._trace.unlink(missing_ok=True)
            self.kept = [(kind, path) for kind, path in self.kept if path != self._trace]
        for folder in (self.folder, self.folder.parent):  # leave no empty folder behind, ours or the output's
            try:
                folder.rmdir()  # only if empty
            except OSError:
                break
        return self.kept


class AsyncTestRecorder(TestRecorder):
    """The same artifacts for an async test: the recorder's steps, awaited on Playwright's async API."""

    connection: AsyncConnection  # type: ignore[assignment]

    async def start(self) -> None:  # type: ignore[override]
        tracing = self._begin()
        if tracing is not None:
            await getattr(self.connection.context.tracing, tracing[0])(**tracing[1])

    async def stop(self, pages: list[Any]) -> None:  # type: ignore[override]
        from playwright.async_api import Error as PlaywrightError

        for page, path in self._screenshot_targets(pages):
            try:
                self._took(path, await page.screenshot(path=path, timeout=SCREENSHOT_TIMEOUT_MS))
            except PlaywrightError as exc:
                self._missed(page.url, path, exc)
        if self.modes.tracing != "off":
            try:
                await self.connection.context.tracing.stop_chunk(path=self.folder / "trace.zip")
            except PlaywrightError as exc:
                self.problems.append(f"no trace: {first_line(exc)}")
            else:
                self._traced()


RECORDER_KEY = pytest.StashKey[TestRecorder]()  # on a test: its screenshots and trace
